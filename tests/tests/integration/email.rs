//! Email (SPEC §16) through a real SMTP server process (aiosmtpd): an invite with its
//! accept link, a reminder of a key about to expire, a leaked key's notice, and a message
//! owed while the SMTP server is away sent once it is back.

use std::time::Duration;

use backend::config::{Secret, SmtpConfig};
use serde_json::json;
use tests::{Db, TestApp, smtp::SmtpServer};

use super::leaks::{KEY_ID, Scanner, found_at, report};

db_tests!(
    invites_reminders_and_leak_notices_are_emailed,
    an_email_owed_while_the_server_is_away_is_sent_when_it_is_back,
);

fn smtp_to(url: String) -> impl FnOnce(&mut backend::config::Config) {
    move |c| {
        c.smtp = Some(SmtpConfig {
            url: Secret::new(url),
            from: "Keyward <keyward@example.com>".into(),
        });
    }
}

async fn invite(app: &TestApp, pat: &str, org: &str, email: &str) -> serde_json::Value {
    let role = app.role_id(pat, org, "developer").await;
    app.gql(
        pat,
        "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id acceptUrl } }",
        json!({ "i": { "organizationId": org, "email": email, "roleId": role } }),
    )
    .await
    .data()["inviteMember"]
        .clone()
}

async fn invites_reminders_and_leak_notices_are_emailed(db: Db) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let scanner = Scanner::start().await;
    let keys_url = scanner.keys_url.clone();
    let smtp_url = smtp.url();
    let app = TestApp::spawn_with(db, move |c| {
        smtp_to(smtp_url)(c);
        c.secret_scanning_keys_url = keys_url;
    })
    .await;
    let owner = app.user("owner@example.com").await;

    // An invite: to the invitee, with the link the answer carries.
    let made = invite(&app, &owner.pat, &owner.org_id, "invitee@example.com").await;
    let link = made["acceptUrl"].as_str().unwrap().to_owned();
    assert!(
        link.ends_with(&format!("/members?invite={}", made["id"].as_str().unwrap())),
        "{link}"
    );
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.header("To").as_deref(), Some("invitee@example.com"));
    assert!(
        mail.header("From").unwrap().contains("keyward@example.com"),
        "{:?}",
        mail.header("From")
    );
    assert!(
        mail.header("Subject")
            .unwrap()
            .contains("You are invited to join"),
        "{:?}",
        mail.header("Subject")
    );
    assert!(mail.body().contains(&link), "{}", mail.body());
    // The link's invite is the one the invitee accepts.
    let invitee = app.user("invitee@example.com").await;
    app.gql(
        &invitee.pat,
        "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
        json!({ "i": { "id": made["id"] } }),
    )
    .await
    .data();

    // A key expiring in three days: its owner is reminded, once.
    let expires = (chrono::Utc::now() + chrono::TimeDelta::days(3)).to_rfc3339();
    let (key, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "short-lived", "expiresAt": expires }),
        )
        .await;
    assert_eq!(app.services().announce_expiring_keys().await.unwrap(), 1);
    assert_eq!(app.services().announce_expiring_keys().await.unwrap(), 0);
    let reminder = smtp.wait_for(2).await.remove(1);
    assert_eq!(reminder.header("To").as_deref(), Some("owner@example.com"));
    assert!(
        reminder
            .header("Subject")
            .unwrap()
            .contains("Your API key short-lived expires on"),
        "{:?}",
        reminder.header("Subject")
    );
    assert!(
        reminder.body().contains(&format!("/keys/{key}")),
        "{}",
        reminder.body()
    );

    // A leaked key: its owner is told it was revoked, and where it was found; the
    // message holds no secret.
    let (_, secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "pasted" }),
        )
        .await;
    let body = json!([found_at(&secret)]).to_string();
    let (status, _) = report(&app, &body, KEY_ID, &scanner.sign(body.as_bytes())).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let notice = smtp.wait_for(3).await.remove(2);
    assert_eq!(notice.header("To").as_deref(), Some("owner@example.com"));
    let text = notice.body();
    assert!(text.contains("It has been revoked"), "{text}");
    assert!(
        text.contains("https://github.com/acme/app/blob/abc123/.env"),
        "{text}"
    );
    for mail in smtp.received() {
        assert!(!mail.raw.contains(&secret), "no secret in an email");
    }
    app.finish().await;
}

async fn an_email_owed_while_the_server_is_away_is_sent_when_it_is_back(db: Db) {
    // Nothing listens on the port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(db, smtp_to(format!("smtp://127.0.0.1:{port}"))).await;
    let owner = app.user("owner@example.com").await;
    invite(&app, &owner.pat, &owner.org_id, "later@example.com").await;
    // Its first attempt fails, here or in the sender's own pass (which then holds it):
    // nothing listens. It is owed still, due again within 10 s.
    app.services().send_due_emails().await.unwrap();
    let Some(smtp) = SmtpServer::start_on(port).await else {
        return;
    };
    app.services().clock.advance(Duration::from_secs(11));
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.header("To").as_deref(), Some("later@example.com"));
    app.finish().await;
}

/// Each invite may be an email from this server: an organization sends at most 200 a
/// day, and the 201st is refused until the day has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_sends_a_bounded_number_of_invites_a_day() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.user("owner@example.com").await;
    let role = app.role_id(&owner.pat, &owner.org_id, "viewer").await;
    let send = |n: usize| {
        let (app, owner, role) = (&app, &owner, &role);
        async move {
            app.gql(
                &owner.pat,
                "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                json!({ "i": { "organizationId": owner.org_id, "email": format!("p{n}@example.com"), "roleId": role } }),
            )
            .await
        }
    };
    for n in 0..200 {
        send(n).await.data();
    }
    let refused = send(200).await;
    assert_eq!(refused.error_code(), "RATE_LIMITED", "{}", refused.body);
    app.services().clock.advance(Duration::from_secs(25 * 3600));
    send(201).await.data();
    app.finish().await;
}
