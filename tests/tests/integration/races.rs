//! Invariants under concurrency (SPEC §3.3): each rule that reads and then writes is raced
//! against itself or a conflicting operation, both requests released together by a
//! barrier, over many trials. On PostgreSQL the two requests go to two replicas; on
//! SQLite, whose one process is the only node, to the one server.

use std::future::Future;

use entity::{credential, membership, prelude::*, role};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{Admin, Db, Gql, Header, TestApp};
use uuid::Uuid;

db_tests!(
    an_organization_always_keeps_an_owner,
    a_revoked_key_never_gains_a_live_successor,
    an_invite_is_answered_once,
    a_device_login_is_collected_once,
    no_key_outlives_its_owners_removal,
);

/// Trials of each race.
const TRIALS: usize = 20;

/// Runs `a` and `b` at the same moment: both wait at a barrier, then start.
async fn race<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let barrier = tokio::sync::Barrier::new(2);
    tokio::join!(
        async {
            barrier.wait().await;
            a.await
        },
        async {
            barrier.wait().await;
            b.await
        }
    )
}

/// Where the second of two racing requests goes: another replica on PostgreSQL; the one
/// server on SQLite. The replica is kept alive by the returned value.
async fn second_node(app: &TestApp) -> (Option<backend::server::Running>, String) {
    match app.db {
        Db::Postgres => {
            let node = app.another_node().await;
            let base = format!("http://{}", node.addr);
            (Some(node), base)
        }
        Db::Sqlite => (None, app.base.clone()),
    }
}

fn ok(answer: &Gql) -> bool {
    answer.body["errors"].is_null()
}

/// Asserts an answer either succeeded or was refused as a conflict (or, for a grant the
/// other request just took away, as forbidden): never an internal error.
fn settled(answer: &Gql, what: &str) {
    if !ok(answer) {
        let code = answer.error_code();
        assert!(
            ["CONFLICT", "FORBIDDEN", "NOT_FOUND", "NOT_A_MEMBER"].contains(&code.as_str()),
            "{what}: {:?}",
            answer.body
        );
    }
}

async fn create_org(app: &TestApp, owner: &Admin, name: &str) -> String {
    let created = app
        .gql(
            &owner.pat,
            "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } } }",
            json!({ "i": { "name": name } }),
        )
        .await
        .data();
    created["createOrganization"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

const INVITE: &str = "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }";
const ACCEPT: &str = "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }";
const REVOKE_INVITE: &str = "mutation($i: InviteInput!) { revokeInvite(input: $i) { status } }";

async fn invite(app: &TestApp, owner: &Admin, org: &str, email: &str, role: &str) -> Value {
    let role = app.role_id(&owner.pat, org, role).await;
    app.gql(
        &owner.pat,
        INVITE,
        json!({ "i": { "organizationId": org, "email": email, "roleId": role } }),
    )
    .await
    .data()["inviteMember"]["id"]
        .clone()
}

/// Owners of `org`, counted in the database.
async fn owners(app: &TestApp, org: &str) -> u64 {
    let db = app.services().test_db();
    let org: Uuid = org.parse().unwrap();
    let owner = Role::find()
        .filter(role::Column::OrganizationId.eq(org))
        .filter(role::Column::Key.eq("owner"))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    Membership::find()
        .filter(membership::Column::OrganizationId.eq(org))
        .filter(membership::Column::RoleId.eq(owner.id))
        .count(db)
        .await
        .unwrap()
}

/// Two owners demote each other, remove each other, both leave, or one demotes the
/// other as that one leaves: whichever wins, the organization keeps an owner.
async fn an_organization_always_keeps_an_owner(db: Db) {
    let app = TestApp::spawn(db).await;
    let (_node, other) = second_node(&app).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    const UPDATE: &str =
        "mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { id } }";
    const REMOVE: &str = "mutation($i: RemoveMemberInput!) { removeMember(input: $i) }";
    const LEAVE: &str = "mutation($i: LeaveOrganizationInput!) { leaveOrganization(input: $i) }";
    for trial in 0..TRIALS {
        let org = create_org(&app, &ada, &format!("Race {trial}")).await;
        let id = invite(&app, &ada, &org, &bob.email, "owner").await;
        app.gql(&bob.pat, ACCEPT, json!({ "i": { "id": id } }))
            .await
            .data();
        let ada_m = app.member_id(&ada.pat, &org, &ada.email).await;
        let bob_m = app.member_id(&ada.pat, &org, &bob.email).await;
        let viewer = app.role_id(&ada.pat, &org, "viewer").await;
        let demote = |member: &str| json!({ "i": { "memberId": member, "roleId": viewer } });
        let remove = |member: &str| json!({ "i": { "memberId": member } });
        let leave = json!({ "i": { "organizationId": org } });
        let (a, b) = match trial % 4 {
            0 => {
                race(
                    app.gql(&ada.pat, UPDATE, demote(&bob_m)),
                    app.gql_at(&other, &bob.pat, UPDATE, demote(&ada_m)),
                )
                .await
            }
            1 => {
                race(
                    app.gql(&ada.pat, REMOVE, remove(&bob_m)),
                    app.gql_at(&other, &bob.pat, REMOVE, remove(&ada_m)),
                )
                .await
            }
            2 => {
                race(
                    app.gql(&ada.pat, LEAVE, leave.clone()),
                    app.gql_at(&other, &bob.pat, LEAVE, leave.clone()),
                )
                .await
            }
            _ => {
                race(
                    app.gql(&ada.pat, UPDATE, demote(&bob_m)),
                    app.gql_at(&other, &bob.pat, LEAVE, leave.clone()),
                )
                .await
            }
        };
        settled(&a, "ada");
        settled(&b, "bob");
        assert!(ok(&a) || ok(&b), "trial {trial}: one of them goes through");
        assert_eq!(
            owners(&app, &org).await,
            1,
            "trial {trial}: exactly one owner left ({:?} / {:?})",
            a.body,
            b.body
        );
    }
    app.finish().await;
}

/// A key is rotated on one node while it is revoked on another: either the rotation
/// finished first and the revoke takes its successor too, or the revoke did and the
/// rotation issues nothing. Revoking a key during its grace period revokes its
/// successor.
async fn a_revoked_key_never_gains_a_live_successor(db: Db) {
    let app = TestApp::spawn(db).await;
    let (_node, other) = second_node(&app).await;
    let ada = app.bootstrap("ada@example.com").await;
    const ROTATE: &str =
        "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret apiKey { id } } }";
    const REVOKE: &str = "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }";
    let key = || json!({ "organizationId": ada.org_id, "name": "raced" });

    // Without a race: the successor of a key revoked in its grace period goes with it.
    let (id, old) = app.create_key(&ada.pat, key()).await;
    let rotated = app
        .gql(
            &ada.pat,
            ROTATE,
            json!({ "i": { "id": id, "gracePeriodSeconds": 3600 } }),
        )
        .await
        .data();
    let successor = rotated["rotateApiKey"]["secret"].as_str().unwrap();
    let successor_id = rotated["rotateApiKey"]["apiKey"]["id"].clone();
    assert_eq!(app.verify(Header::Bearer, successor).await.0, 200);
    app.gql(&ada.pat, REVOKE, json!({ "i": { "id": id } }))
        .await
        .data();
    for secret in [&old, successor] {
        let (status, _, body) = app.verify(Header::Bearer, secret).await;
        assert_eq!(
            (status.as_u16(), body["code"].as_str()),
            (401, Some("REVOKED"))
        );
    }
    let events = app
        .gql(
            &ada.pat,
            "query($o: ID!) { auditEvents(organizationId: $o, filter: { action: \"api_key.revoke\" }) { nodes { targetId } } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    assert!(
        events["auditEvents"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["targetId"] == successor_id),
        "the successor's revocation is audited: {events}"
    );

    for trial in 0..TRIALS {
        let (id, _) = app.create_key(&ada.pat, key()).await;
        let grace = if trial % 2 == 0 { 0 } else { 3600 };
        let rotate = json!({ "i": { "id": id, "gracePeriodSeconds": grace } });
        let revoke = json!({ "i": { "id": id } });
        let (rotated, revoked) = if trial % 4 < 2 {
            race(
                app.gql(&ada.pat, ROTATE, rotate),
                app.gql_at(&other, &ada.pat, REVOKE, revoke),
            )
            .await
        } else {
            let (b, a) = race(
                app.gql_at(&other, &ada.pat, REVOKE, revoke),
                app.gql(&ada.pat, ROTATE, rotate),
            )
            .await;
            (a, b)
        };
        settled(&rotated, "rotate");
        assert!(ok(&revoked), "trial {trial}: {:?}", revoked.body);
        let live_successors = Credential::find()
            .filter(credential::Column::RotatedFromId.eq(id.parse::<Uuid>().unwrap()))
            .filter(credential::Column::RevokedAt.is_null())
            .count(app.services().test_db())
            .await
            .unwrap();
        if ok(&rotated) {
            let secret = rotated.body["data"]["rotateApiKey"]["secret"]
                .as_str()
                .unwrap();
            // Rotated first, then revoked: with a grace period the successor went with
            // the key; without one the key had already retired, and its successor is
            // the key now.
            if grace > 0 {
                assert_eq!(live_successors, 0, "trial {trial}");
                for base in [&app.base, &other] {
                    let answer = app
                        .client
                        .get(format!("{base}/api/v1/api-keys/verify"))
                        .bearer_auth(secret)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(
                        answer.status(),
                        401,
                        "trial {trial}: the successor is revoked"
                    );
                }
            }
        } else {
            assert_eq!(live_successors, 0, "trial {trial}: nothing was issued");
            let total = Credential::find()
                .filter(credential::Column::RotatedFromId.eq(id.parse::<Uuid>().unwrap()))
                .count(app.services().test_db())
                .await
                .unwrap();
            assert_eq!(total, 0, "trial {trial}: a refused rotation leaves no row");
        }
    }
    app.finish().await;
}

/// An invite is accepted while it is withdrawn, or accepted twice at once: one answer
/// wins, and the membership matches it.
async fn an_invite_is_answered_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let (_node, other) = second_node(&app).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    for trial in 0..TRIALS {
        let org = create_org(&app, &ada, &format!("Invites {trial}")).await;
        let id = invite(&app, &ada, &org, &bob.email, "developer").await;
        let answer = json!({ "i": { "id": id } });
        let (a, b) = if trial % 2 == 0 {
            race(
                app.gql(&bob.pat, ACCEPT, answer.clone()),
                app.gql_at(&other, &ada.pat, REVOKE_INVITE, answer.clone()),
            )
            .await
        } else {
            race(
                app.gql(&bob.pat, ACCEPT, answer.clone()),
                app.gql_at(&other, &bob.pat, ACCEPT, answer.clone()),
            )
            .await
        };
        settled(&a, "first");
        settled(&b, "second");
        assert!(
            ok(&a) != ok(&b),
            "trial {trial}: exactly one answer wins: {:?} / {:?}",
            a.body,
            b.body
        );
        let db = app.services().test_db();
        let stored = Invite::find_by_id(id.as_str().unwrap().parse::<Uuid>().unwrap())
            .one(db)
            .await
            .unwrap()
            .unwrap();
        let members = Membership::find()
            .filter(membership::Column::OrganizationId.eq(org.parse::<Uuid>().unwrap()))
            .count(db)
            .await
            .unwrap();
        let expected = if stored.status == entity::invite::Status::Accepted {
            2
        } else {
            1
        };
        assert_eq!(
            members, expected,
            "trial {trial}: the invite is {:?} and there are {members} members",
            stored.status
        );
        let accepted = stored.status == entity::invite::Status::Accepted;
        if trial % 2 == 0 {
            assert_eq!(
                accepted,
                ok(&a),
                "trial {trial}: the stored answer is the one that won"
            );
        } else {
            assert!(accepted, "trial {trial}: {:?}", stored.status);
        }
    }
    app.finish().await;
}

/// Two polls of an approved device login at once: one collects a token, never two.
async fn a_device_login_is_collected_once(db: Db) {
    let app = TestApp::spawn_with(db, |c| c.dev_signin = backend::config::DevSignin::On).await;
    let (_node, other) = second_node(&app).await;
    let cookie = app.dev_session().await;
    let form = |app: &TestApp, base: &str, device_code: &str| {
        app.client
            .post(format!("{base}/api/v1/device/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
            ])
            .send()
    };
    for trial in 0..TRIALS {
        let start: Value = app
            .client
            .post(format!("{}/api/v1/device/code", app.base))
            .form(&[("name", "runner")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let device_code = start["device_code"].as_str().unwrap().to_owned();
        let user_code = start["user_code"].as_str().unwrap();
        app.gql_session(
            &cookie,
            "mutation($i: DeviceInput!) { approveDevice(input: $i) { status } }",
            json!({ "i": { "userCode": user_code } }),
        )
        .await
        .data();
        let (a, b) = race(
            form(&app, &app.base, &device_code),
            form(&app, &other, &device_code),
        )
        .await;
        let issued = [a.unwrap(), b.unwrap()]
            .into_iter()
            .filter(|r| r.status() == 200)
            .count();
        assert_eq!(issued, 1, "trial {trial}: one token, once");
        // Past the allowances of device logins an address may start, and of codes a
        // user may look up, in a minute.
        if trial % 5 == 4 {
            app.services()
                .clock
                .advance(std::time::Duration::from_secs(61));
        }
    }
    // One token for each login, none more.
    let pats = Credential::find()
        .filter(credential::Column::Kind.eq("pat"))
        .filter(credential::Column::Name.eq("runner"))
        .count(app.services().test_db())
        .await
        .unwrap();
    assert_eq!(pats, TRIALS as u64);
    app.finish().await;
}

/// Replicas starting together on an empty or an older PostgreSQL database migrate it
/// once: none of them fails, and the schema ends complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    use migration::MigratorTrait;
    if tests::postgres_url().is_none() {
        return;
    }
    const REPLICAS: usize = 3;
    for trial in 0..TRIALS {
        let fresh = tests::PostgresDatabase::create().await;
        if trial % 2 == 1 {
            // An older database: only its first migrations applied.
            let db = backend::db::connect(&fresh.url).await.unwrap();
            migration::Migrator::up(&db, Some(2)).await.unwrap();
            db.close().await.unwrap();
        }
        let barrier = tokio::sync::Barrier::new(REPLICAS);
        let started = futures::future::join_all((0..REPLICAS).map(|_| async {
            barrier.wait().await;
            backend::db::connect_and_migrate(&fresh.url).await
        }))
        .await;
        for (replica, result) in started.into_iter().enumerate() {
            let db = result.unwrap_or_else(|e| panic!("trial {trial}, replica {replica}: {e}"));
            assert!(backend::db::migrations_applied(&db).await.unwrap());
            db.close().await.unwrap();
        }
        fresh.drop().await;
    }
}

/// A member creates a key, or rotates one, while being removed: whichever goes first,
/// none of their keys in the organization is alive afterwards.
async fn no_key_outlives_its_owners_removal(db: Db) {
    let app = TestApp::spawn(db).await;
    let (_node, other) = second_node(&app).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    const REMOVE: &str = "mutation($i: RemoveMemberInput!) { removeMember(input: $i) }";
    const CREATE: &str =
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }";
    const ROTATE: &str = "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret } }";
    for trial in 0..TRIALS {
        let org = create_org(&app, &ada, &format!("Removal {trial}")).await;
        let id = invite(&app, &ada, &org, &bob.email, "developer").await;
        app.gql(&bob.pat, ACCEPT, json!({ "i": { "id": id } }))
            .await
            .data();
        let bob_m = app.member_id(&ada.pat, &org, &bob.email).await;
        let (key, _) = app
            .create_key(&bob.pat, json!({ "organizationId": org, "name": "before" }))
            .await;
        let remove = app.gql(&ada.pat, REMOVE, json!({ "i": { "memberId": bob_m } }));
        let (removed, made) = if trial % 2 == 0 {
            race(
                remove,
                app.gql_at(
                    &other,
                    &bob.pat,
                    CREATE,
                    json!({ "i": { "organizationId": org, "name": "during" } }),
                ),
            )
            .await
        } else {
            race(
                remove,
                app.gql_at(
                    &other,
                    &bob.pat,
                    ROTATE,
                    json!({ "i": { "id": key, "gracePeriodSeconds": 0 } }),
                ),
            )
            .await
        };
        assert!(ok(&removed), "trial {trial}: {:?}", removed.body);
        settled(&made, "bob");
        let live = Credential::find()
            .filter(credential::Column::OrganizationId.eq(org.parse::<Uuid>().unwrap()))
            .filter(credential::Column::Kind.eq("api_key"))
            .filter(credential::Column::RevokedAt.is_null())
            .count(app.services().test_db())
            .await
            .unwrap();
        assert_eq!(live, 0, "trial {trial}: {:?}", made.body);
    }
    app.finish().await;
}
