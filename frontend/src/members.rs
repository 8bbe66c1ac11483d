//! Members and invites: who is in the organization and with which role, inviting by
//! email, withdrawing invites, and answering the invites addressed to you.

use leptos::{html, prelude::*};

use crate::{
    api::{
        self, AcceptInvite, DeclineInvite, InviteMember, Invites, Members, MyInvites, RemoveMember,
        RevokeInvite, UpdateMemberRole, accept_invite, decline_invite, invite_member, invites,
        members, my_invites, remove_member, revoke_invite, update_member_role,
    },
    app::{Session, error_banner, error_text},
    format::Time,
    ui::{self, Badge, Empty, PageHeader, Pager, Skeleton, Toasts, form_error},
};

/// The roles of the current organization as `(id, name)`, for pickers.
pub fn role_choices(session: Session) -> LocalResource<Vec<(String, String)>> {
    LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        async move {
            crate::roles::every_role(org)
                .await
                .map(|d| d.roles.nodes.into_iter().map(|r| (r.id, r.name)).collect())
                .unwrap_or_default()
        }
    })
}

/// The current organization's members as `(user id, email)`, page after page to the
/// last, for pickers; empty when the viewer may not list members.
pub fn member_choices(session: Session) -> LocalResource<Vec<(String, String)>> {
    LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        async move {
            let mut people = Vec::new();
            let mut after = None;
            loop {
                let Ok(page) = api::run::<Members>(members::Variables {
                    organization_id: org.clone(),
                    first: Some(100),
                    after,
                })
                .await
                else {
                    return Vec::new();
                };
                let page = page.members;
                people.extend(page.nodes.into_iter().map(|m| (m.user.id, m.user.email)));
                match page.page_info.end_cursor {
                    Some(next) if page.page_info.has_next_page => after = Some(next),
                    _ => return people,
                }
            }
        }
    })
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let (tab_q, set_tab) = ui::query_param("tab");
    let invites_tab = move || tab_q.get().as_deref() == Some("invites");
    let changed = RwSignal::new(0_u32);
    // Both lists page to their end.
    let member_pages = Pager::new(50);
    let invite_pages = Pager::new(50);
    let data = LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        let after = member_pages.after();
        changed.track();
        async move {
            api::run::<Members>(members::Variables {
                organization_id: org,
                first: Some(member_pages.size),
                after,
            })
            .await
        }
    });
    let invites = LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        let after = invite_pages.after();
        changed.track();
        async move {
            api::run::<Invites>(invites::Variables {
                organization_id: org,
                first: Some(invite_pages.size),
                after,
            })
            .await
        }
    });
    let roles = role_choices(session);
    let dialog = NodeRef::<html::Dialog>::new();
    let done = move |result: Result<&'static str, api::ApiError>| match result {
        Ok(text) => {
            toasts.ok(text);
            changed.update(|n| *n += 1);
        }
        Err(e) => toasts.error(&e),
    };
    let change_role = Action::new_local(move |(member, role): &(String, String)| {
        let input = update_member_role::UpdateMemberRoleInput {
            member_id: member.clone(),
            role_id: role.clone(),
        };
        async move {
            api::run::<UpdateMemberRole>(update_member_role::Variables { input })
                .await
                .map(|_| "Role changed")
        }
    });
    let remove = Action::new_local(move |member: &String| {
        let input = remove_member::RemoveMemberInput {
            member_id: member.clone(),
        };
        async move {
            api::run::<RemoveMember>(remove_member::Variables { input })
                .await
                .map(|_| "Member removed")
        }
    });
    let revoke = Action::new_local(move |invite: &String| {
        let input = revoke_invite::InviteInput { id: invite.clone() };
        async move {
            api::run::<RevokeInvite>(revoke_invite::Variables { input })
                .await
                .map(|_| "Invite withdrawn")
        }
    });
    for action in [change_role.value(), remove.value(), revoke.value()] {
        Effect::new(move |_| {
            if let Some(result) = action.get() {
                done(result);
            }
        });
    }
    view! {
        <PageHeader title="Members" description="People in this organization, their roles, and open invites.">
            <button class="primary" disabled=move || !session.can("members:write") title=move || session.lacks("members:write") on:click=move |_| ui::open(dialog)>"Invite member"</button>
        </PageHeader>
        <MyInvitesPanel/>
        <div class="tabs" role="tablist">
            <button role="tab" id="tab-members" aria-selected=move || (!invites_tab()).to_string() on:click=move |_| set_tab.set(None)>"Members"</button>
            <button role="tab" id="tab-invites" aria-selected=move || invites_tab().to_string() on:click=move |_| set_tab.set(Some("invites".into()))>"Invites"</button>
        </div>
        {move || if invites_tab() { match invites.get() {
            None => view! { <Skeleton label="Loading invites"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || invites.refetch()),
            Some(Ok(d)) if d.invites.nodes.is_empty() && invite_pages.later() => invite_pages.emptied(),
            Some(Ok(d)) => {
                if d.invites.nodes.is_empty() {
                    return view! {
                        <Empty text="No invites yet.".into()>
                            <button class="primary" disabled=move || !session.can("members:write") title=move || session.lacks("members:write") on:click=move |_| ui::open(dialog)>"Invite member"</button>
                        </Empty>
                    }.into_any();
                }
                let footer = invite_pages.footer(
                    d.invites.nodes.len(),
                    d.invites.total_count,
                    d.invites.page_info.has_next_page.then_some(d.invites.page_info.end_cursor).flatten(),
                );
                view! {
                    <div class="table-wrap" role="tabpanel" tabindex="0" aria-labelledby="tab-invites">
                        <table>
                            {ui::table_head(&["Email", "~Role", "Status", "~Sent", "~Expires", ""])}
                            <tbody>
                                {d.invites.nodes.into_iter().map(|i| {
                                    use invites::InviteStatus as S;
                                    let pending = i.status == S::PENDING;
                                    let (label, tone) = match i.status {
                                        S::PENDING => ("pending", "warn"),
                                        S::ACCEPTED => ("accepted", "ok"),
                                        S::DECLINED => ("declined", "muted"),
                                        S::REVOKED => ("revoked", "muted"),
                                        S::EXPIRED => ("expired", "muted"),
                                        S::Other(_) => ("unknown", "muted"),
                                    };
                                    let id = i.id.clone();
                                    view! {
                                        <tr data-invite=i.email.clone()>
                                            <td>{i.email.clone()}</td>
                                            <td class="fold">{i.role.name.clone()}</td>
                                            <td><Badge text=label.to_owned() tone=tone/></td>
                                            <td class="fold"><Time at=i.created_at.clone()/></td>
                                            <td class="fold"><Time at=i.expires_at.clone()/></td>
                                            <td class="actions-cell">{pending.then(|| {
                                                let link = i.accept_url.clone();
                                                let copied = RwSignal::new(false);
                                                view! {
                                                    <button class="small" title="The link the invitee accepts at, signed in as this address" on:click=move |_| {
                                                        let _ = window().navigator().clipboard().write_text(&link);
                                                        copied.set(true);
                                                    }>{move || if copied.get() { "Copied ✓" } else { "Copy link" }}</button>
                                                    <button class="small" hidden=move || !session.can("members:write") on:click=move |_| {
                                                        if ui::confirm("Withdraw this invite?") { revoke.dispatch(id.clone()); }
                                                    }>"Revoke"</button>
                                                }
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {footer}
                }.into_any()
            }
        } } else { match data.get() {
            None => view! { <Skeleton label="Loading members"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || data.refetch()),
            Some(Ok(d)) if d.members.nodes.is_empty() && member_pages.later() => member_pages.emptied(),
            Some(Ok(d)) => {
                let footer = member_pages.footer(
                    d.members.nodes.len(),
                    d.members.total_count,
                    d.members.page_info.has_next_page.then_some(d.members.page_info.end_cursor).flatten(),
                );
                view! {
                <div class="table-wrap" role="tabpanel" tabindex="0" aria-labelledby="tab-members">
                    <table>
                        {ui::table_head(&["Member", "Role", "~Joined", ""])}
                        <tbody>
                            {d.members.nodes.into_iter().map(|m| {
                                let (id, id2) = (m.id.clone(), m.id.clone());
                                let current = m.role.id.clone();
                                let email = m.user.email.clone();
                                view! {
                                    <tr data-member=m.user.email.clone()>
                                        <td><div class="name">{m.user.name.clone()}</div><div class="muted">{m.user.email.clone()}</div></td>
                                        <td>
                                            <select aria-label=format!("Role of {email}") disabled=move || !session.can("members:write") title=move || session.lacks("members:write") on:change=move |ev| { change_role.dispatch((id.clone(), event_target_value(&ev))); }>
                                                {move || roles.get().unwrap_or_default().into_iter().map(|(rid, name)| {
                                                    let selected = rid == current;
                                                    view! { <option value=rid selected=selected>{name}</option> }
                                                }).collect_view()}
                                            </select>
                                        </td>
                                        <td class="fold"><Time at=m.joined_at.clone()/></td>
                                        <td><button class="small" hidden=move || !session.can("members:delete") on:click=move |_| {
                                            if ui::confirm("Remove this member? Their keys in this organization stop working at once.") {
                                                remove.dispatch(id2.clone());
                                            }
                                        }>"Remove"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                {footer}
                }.into_any()
            }
        } }}
        <InviteDialog dialog=dialog roles=roles on_sent=move || { changed.update(|n| *n += 1); set_tab.set(Some("invites".into())); }/>
    }
}

#[component]
fn InviteDialog(
    dialog: NodeRef<html::Dialog>,
    roles: LocalResource<Vec<(String, String)>>,
    on_sent: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<String>);
    let copied = RwSignal::new(false);
    let link = move || {
        format!(
            "{}/members",
            window().location().origin().unwrap_or_default()
        )
    };
    let done = move || {
        ui::close(dialog);
        created.set(None);
    };
    let send = Action::new_local(move |_: &()| {
        let role_id = ui::chosen_role(role.get_untracked(), roles.get_untracked());
        let input = invite_member::InviteMemberInput {
            organization_id: session.org.get_untracked().unwrap_or_default(),
            email: email.get_untracked(),
            role_id,
        };
        async move { api::run::<InviteMember>(invite_member::Variables { input }).await }
    });
    Effect::new(move |_| match send.value().get() {
        Some(Ok(sent)) => {
            error.set(None);
            email.set(String::new());
            // No mail goes out: the dialog turns into the link to pass on.
            created.set(Some(sent.invite_member.email.clone()));
            on_sent();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="invite-title" on:close=move |_| created.set(None)>
            {move || created.get().map(|to| view! {
                <div id="invite-created">
                    <h2 id="invite-title">"Invite created"</h2>
                    <p role="status">{format!("No email was sent: this server sends none. Pass this link on to {to}; they sign in with that address and accept the invite there, within 7 days.")}</p>
                    <div class="secret">
                        <input id="invite-link" readonly class="mono" prop:value=link aria-label="Invite link"/>
                        <button type="button" on:click=move |_| {
                            let _ = window().navigator().clipboard().write_text(&link());
                            copied.set(true);
                            set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
                        }>{move || if copied.get() { "Copied ✓" } else { "Copy link" }}</button>
                    </div>
                    <div class="actions">
                        <button class="primary" id="invite-done" on:click=move |_| done()>"Done"</button>
                    </div>
                </div>
            })}
            <form hidden=move || created.get().is_some() on:submit=move |ev| { ev.prevent_default(); send.dispatch(()); }>
                <h2 id="invite-title">"Invite a member"</h2>
                <p class="muted">"They accept after signing in with this email. The invite is open for 7 days."</p>
                <label>"Email"
                    <input id="invite-email" type="email" required prop:value=email on:input=move |ev| email.set(event_target_value(&ev))/>
                </label>
                <label>"Role"
                    <select id="invite-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        {move || ui::role_options(roles.get().unwrap_or_default(), &role.get())}
                    </select>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || send.pending().get()>"Create invite"</button>
                </div>
            </form>
        </dialog>
    }
}

/// Invites addressed to the signed-in user, with Accept and Decline.
#[component]
pub fn MyInvitesPanel() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let changed = RwSignal::new(0_u32);
    let mine = LocalResource::new(move || {
        changed.track();
        async move {
            api::run::<MyInvites>(my_invites::Variables {})
                .await
                .map(|d| d.my_invites.nodes)
        }
    });
    let answer = Action::new_local(move |(id, accept): &(String, bool)| {
        let (id, accept) = (id.clone(), *accept);
        async move {
            if accept {
                api::run::<AcceptInvite>(accept_invite::Variables {
                    input: accept_invite::InviteInput { id },
                })
                .await
                .map(|d| Some(d.accept_invite.organization.id))
            } else {
                api::run::<DeclineInvite>(decline_invite::Variables {
                    input: decline_invite::InviteInput { id },
                })
                .await
                .map(|_| None)
            }
        }
    });
    Effect::new(move |_| match answer.value().get() {
        Some(Ok(joined)) => {
            changed.update(|n| *n += 1);
            if joined.is_some() {
                toasts.ok("You joined the organization; switch to it from the top bar.");
                session.refresh();
            } else {
                toasts.ok("Invite declined");
            }
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    move || {
        let list = mine.get().and_then(Result::ok).unwrap_or_default();
        (!list.is_empty()).then(|| view! {
            <section class="panel" id="invites-for-you" aria-labelledby="for-you-title">
                <h2 id="for-you-title">"Invites for you"</h2>
                <ul class="plain">
                    {list.into_iter().map(|i| {
                        let (a, d) = (i.id.clone(), i.id.clone());
                        view! {
                            <li data-my-invite=i.organization.name.clone()>
                                <span>{format!("{} invited {} to join as {}.", i.organization.name, i.email, i.role.name)}</span>
                                <button class="primary small" on:click=move |_| { answer.dispatch((a.clone(), true)); }>"Accept"</button>
                                <button class="small" on:click=move |_| { answer.dispatch((d.clone(), false)); }>"Decline"</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </section>
        })
    }
}
