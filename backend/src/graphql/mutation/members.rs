//! Mutations: Members and invites.

use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::ids::parse_id;
use crate::graphql::types::{Invite, Member, actor, services};

/// Members and invites.
#[derive(Default)]
pub struct MemberMutation;

#[derive(InputObject)]
pub struct InviteMemberInput {
    pub organization_id: ID,
    pub email: String,
    pub role_id: ID,
}

#[derive(InputObject)]
pub struct InviteInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct UpdateMemberRoleInput {
    /// The membership id (`Member.id`).
    pub member_id: ID,
    pub role_id: ID,
}

#[derive(InputObject)]
pub struct RemoveMemberInput {
    pub member_id: ID,
}

#[derive(InputObject)]
pub struct LeaveOrganizationInput {
    pub organization_id: ID,
}

#[Object]
impl MemberMutation {
    /// Invites someone by email; the invite is open for 7 days.
    /// **Permissions**: `members:write` and every permission of the role.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> async_graphql::Result<Invite> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let role = parse_id("input.roleId", &input.role_id)?;
        let invite = services(ctx)?
            .invite_member(actor(ctx)?, org, &input.email, role)
            .await?;
        Ok(Invite(invite))
    }

    /// Accepts an invite addressed to your verified email.
    async fn accept_invite(
        &self,
        ctx: &Context<'_>,
        input: InviteInput,
    ) -> async_graphql::Result<Invite> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Invite(services(ctx)?.accept_invite(actor(ctx)?, id).await?))
    }

    /// Declines an invite addressed to you.
    async fn decline_invite(
        &self,
        ctx: &Context<'_>,
        input: InviteInput,
    ) -> async_graphql::Result<Invite> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Invite(
            services(ctx)?.decline_invite(actor(ctx)?, id).await?,
        ))
    }

    /// Withdraws an open invite. **Permissions**: `members:write`.
    async fn revoke_invite(
        &self,
        ctx: &Context<'_>,
        input: InviteInput,
    ) -> async_graphql::Result<Invite> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Invite(services(ctx)?.revoke_invite(actor(ctx)?, id).await?))
    }

    /// Changes a member's role. **Permissions**: `members:write`, every permission of the
    /// role, and ownership to make or unmake an owner.
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        input: UpdateMemberRoleInput,
    ) -> async_graphql::Result<Member> {
        let member = parse_id("input.memberId", &input.member_id)?;
        let role = parse_id("input.roleId", &input.role_id)?;
        Ok(Member(
            services(ctx)?
                .update_member_role(actor(ctx)?, member, role)
                .await?,
        ))
    }

    /// Removes a member; their keys stop at once. Returns the membership id.
    /// **Permissions**: `members:delete`, and ownership to remove an owner.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveMemberInput,
    ) -> async_graphql::Result<ID> {
        let member = parse_id("input.memberId", &input.member_id)?;
        let id = services(ctx)?.remove_member(actor(ctx)?, member).await?;
        Ok(ID(id.to_string()))
    }

    /// Leaves an organization (not as its last owner). Returns the membership id.
    async fn leave_organization(
        &self,
        ctx: &Context<'_>,
        input: LeaveOrganizationInput,
    ) -> async_graphql::Result<ID> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let id = services(ctx)?.leave_organization(actor(ctx)?, org).await?;
        Ok(ID(id.to_string()))
    }
}
