//! Email (SPEC §16): invites with their accept link, reminders of keys about to expire,
//! and notices of leaked keys, sent over SMTP (`KEYWARD_SMTP_URL`, `KEYWARD_SMTP_FROM`).
//!
//! Like webhooks, a message is written to an outbox by the transaction of the change it
//! tells of ([`Services::queue_email`]), so none is sent for a change that rolled back and
//! none is lost to a restart; the sender claims due messages with a conditional write
//! (one node each), and tries a failed one again after [`BACKOFF`]. Without SMTP nothing
//! is queued: the invite answer carries the accept link to pass on by hand. A message
//! holds no secret.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    email::{self, Status},
    prelude::*,
};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use super::{Services, ids::new_id};
use crate::{config::SmtpConfig, error::AppResult};

/// Waits before each retry after a failed attempt; after the last, the message is failed.
pub const BACKOFF: [TimeDelta; 6] = [
    TimeDelta::seconds(10),
    TimeDelta::minutes(1),
    TimeDelta::minutes(5),
    TimeDelta::minutes(30),
    TimeDelta::hours(2),
    TimeDelta::hours(6),
];
/// How long a claimed message is the claiming node's.
const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Messages claimed per pass.
const CLAIM: u64 = 16;
/// How long sent and failed messages are kept.
pub const RETENTION: TimeDelta = TimeDelta::days(30);

/// The SMTP server and the sender, when the server sends email.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer of `config`; an error names the setting that does not read (never
    /// the URL, which may hold a password).
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("smtp_from: not an address ({e})"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.url.expose())
            .map_err(|_| {
                "smtp_url: must be smtp://host:port or smtps://host:port, with user:password@ \
                 if the server asks"
                    .to_owned()
            })?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Self { transport, from })
    }

    async fn send(&self, message: &email::Model) -> Result<(), String> {
        let to: Mailbox = message
            .recipient
            .parse()
            .map_err(|_| "the recipient is not an address".to_owned())?;
        let built = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&message.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|e| format!("the message does not build: {e}"))?;
        self.transport.send(built).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                "the SMTP server refused it".to_owned()
            } else if e.is_transient() {
                "the SMTP server deferred it".to_owned()
            } else {
                "the SMTP server could not be reached".to_owned()
            }
        })
    }
}

impl Services {
    /// Owes `to` a message, inside the caller's transaction; nothing when the server
    /// sends no email.
    pub(in crate::domain) async fn queue_email<C: ConnectionTrait>(
        &self,
        txn: &C,
        to: &str,
        subject: &str,
        body: String,
    ) -> AppResult<()> {
        if self.mailer.is_none() {
            return Ok(());
        }
        let now = self.clock.now();
        Email::insert(email::ActiveModel {
            id: Set(new_id()),
            recipient: Set(to.to_owned()),
            subject: Set(subject.chars().take(200).collect()),
            body: Set(body),
            status: Set(Status::Pending),
            attempts: Set(0),
            next_attempt_at: Set(now),
            locked_until: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
        })
        .exec_without_returning(txn)
        .await?;
        Ok(())
    }

    /// Sends what is due, once; returns how many were tried.
    pub async fn send_due_emails(&self) -> AppResult<usize> {
        let Some(mailer) = &self.mailer else {
            return Ok(0);
        };
        let now = self.clock.now();
        let free = Condition::any()
            .add(email::Column::LockedUntil.is_null())
            .add(email::Column::LockedUntil.lt(now));
        let due = Email::find()
            .filter(email::Column::Status.eq(Status::Pending))
            .filter(email::Column::NextAttemptAt.lte(now))
            .filter(free.clone())
            .order_by_asc(email::Column::NextAttemptAt)
            .limit(CLAIM)
            .all(&self.db)
            .await?;
        let mut tried = 0;
        for message in due {
            // Each claimed when its turn comes: the ones before it may have taken a while.
            let at = self.clock.now();
            let won = Email::update_many()
                .col_expr(email::Column::LockedUntil, Expr::value(at + LEASE))
                .filter(email::Column::Id.eq(message.id))
                .filter(email::Column::Status.eq(Status::Pending))
                .filter(
                    Condition::any()
                        .add(email::Column::LockedUntil.is_null())
                        .add(email::Column::LockedUntil.lt(at)),
                )
                .exec(&self.db)
                .await?;
            if won.rows_affected != 1 {
                continue;
            }
            tried += 1;
            let outcome = mailer.send(&message).await;
            let at = self.clock.now();
            let attempts = message.attempts.saturating_add(1);
            let retry = usize::try_from(attempts - 1)
                .ok()
                .and_then(|i| BACKOFF.get(i));
            let mut row: email::ActiveModel = message.clone().into();
            row.attempts = Set(attempts);
            row.locked_until = Set(None);
            match (&outcome, retry) {
                (Ok(()), _) => {
                    row.status = Set(Status::Sent);
                    row.sent_at = Set(Some(at));
                    row.last_error = Set(None);
                }
                (Err(e), Some(wait)) => {
                    row.next_attempt_at = Set(at + *wait);
                    row.last_error = Set(Some(e.clone()));
                }
                (Err(e), None) => {
                    row.status = Set(Status::Failed);
                    row.last_error = Set(Some(e.clone()));
                }
            }
            if let Err(e) = &outcome {
                tracing::warn!(email = %message.id, error = %e, attempts, "an email was not sent");
            }
            row.update(&self.db).await?;
        }
        Ok(tried)
    }

    /// Deletes messages older than [`RETENTION`].
    pub async fn prune_emails(&self) -> AppResult<u64> {
        let before: DateTime<Utc> = self.clock.now() - RETENTION;
        let old = Email::find()
            .filter(email::Column::CreatedAt.lt(before))
            .filter(email::Column::Status.ne(Status::Pending))
            .limit(1)
            .count(&self.db)
            .await?;
        // Nothing to delete takes no write lock (SQLite's is the whole database's).
        if old == 0 {
            return Ok(0);
        }
        Ok(Email::delete_many()
            .filter(email::Column::CreatedAt.lt(before))
            .filter(email::Column::Status.ne(Status::Pending))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn settings_that_do_not_read_are_named_without_the_password() {
        let bad = SmtpConfig {
            url: Secret::new("ftp://user:hunter2@mail.example.com"),
            from: "Keyward <keyward@example.com>".into(),
        };
        let e = Mailer::new(&bad).unwrap_err();
        assert!(e.starts_with("smtp_url:") && !e.contains("hunter2"), "{e}");
        let bad_from = SmtpConfig {
            url: Secret::new("smtp://127.0.0.1:2525"),
            from: "not an address".into(),
        };
        assert!(
            Mailer::new(&bad_from)
                .unwrap_err()
                .starts_with("smtp_from:")
        );
    }

    #[tokio::test]
    async fn a_good_configuration_builds() {
        let good = SmtpConfig {
            url: Secret::new("smtp://127.0.0.1:2525"),
            from: "Keyward <keyward@example.com>".into(),
        };
        let mailer = Mailer::new(&good).unwrap();
        assert!(format!("{mailer:?}").contains("keyward@example.com"));
    }
}
