//! The key event stream (SPEC §16): what a product's SDK follows to drop a changed key
//! from its local cache. Every change that makes a cached key stale is an
//! [`Invalidation`]; the same transaction that commits it writes the organization's key
//! events here, numbered in commit order, and every node wakes its followers when it hears
//! of the invalidation (its own at once, the others' through the notify that drives the
//! replicas). A follower resumes after its last event id; one that fell further behind
//! than the events kept is told to drop everything.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    credential, event_sequence,
    key_event::{self, Kind},
    prelude::*,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use tokio::sync::watch;
use uuid::Uuid;

use super::{
    Actor, Principal, RequestMeta, Services, access::Need, invalidation::Invalidation,
    permissions::Perm,
};
use crate::{
    error::{AppError, AppResult},
    token::TokenHash,
};

/// How long events are kept for a follower to resume from.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);
/// Events sent at most per read; a follower far behind reads again at once.
pub const BATCH: u64 = 100;
/// The sequence key events are numbered from.
const SEQUENCE: &str = "key_events";

/// One event as a follower receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEventView {
    /// The event id: resume after it with `Last-Event-ID`.
    pub id: i64,
    pub kind: Kind,
    pub key_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

impl From<key_event::Model> for KeyEventView {
    fn from(m: key_event::Model) -> Self {
        Self {
            id: m.seq,
            kind: m.kind,
            key_id: m.credential_id,
            organization_id: m.organization_id,
            occurred_at: m.occurred_at,
        }
    }
}

/// Where a follower stands: its organization and the last event it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEventCursor {
    pub organization_id: Uuid,
    /// The project a project-bound key follows: only its keys' events are read.
    pub project_id: Option<Uuid>,
    pub after: i64,
}

/// Streams one credential may hold open on a node at once: an SDK needs one per process.
pub const STREAMS_PER_CREDENTIAL: usize = 16;
/// Streams one organization's credentials may hold open on a node at once, so that one
/// organization's keys cannot take every place.
pub const STREAMS_PER_ORGANIZATION: usize = 256;
/// Streams a node holds open at once; each costs a read at every change of a key.
pub const STREAMS_PER_NODE: usize = 2_000;

/// Open streams by credential and by organization.
#[derive(Debug, Default)]
struct OpenStreams {
    by_credential: std::collections::HashMap<Uuid, usize>,
    by_organization: std::collections::HashMap<Uuid, usize>,
    total: usize,
}

fn release(counts: &mut std::collections::HashMap<Uuid, usize>, id: Uuid) {
    if let Some(n) = counts.get_mut(&id) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(&id);
        }
    }
}

/// Wakes a node's followers whenever it drops something from its cache, ends them when
/// the node shuts down (a graceful shutdown waits for every open request), and counts
/// them against [`STREAMS_PER_CREDENTIAL`], [`STREAMS_PER_ORGANIZATION`] and
/// [`STREAMS_PER_NODE`].
#[derive(Debug)]
pub struct KeyEventWake {
    wakes: watch::Sender<u64>,
    closed: std::sync::atomic::AtomicBool,
    open: Arc<std::sync::Mutex<OpenStreams>>,
}

impl Default for KeyEventWake {
    fn default() -> Self {
        Self {
            wakes: watch::channel(0).0,
            closed: std::sync::atomic::AtomicBool::new(false),
            open: Arc::default(),
        }
    }
}

/// One open stream, counted until it is dropped.
#[derive(Debug)]
pub struct StreamPermit {
    credential: Uuid,
    organization: Uuid,
    open: Arc<std::sync::Mutex<OpenStreams>>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        release(&mut open.by_credential, self.credential);
        release(&mut open.by_organization, self.organization);
        open.total = open.total.saturating_sub(1);
    }
}

impl KeyEventWake {
    /// Counts one more open stream of `credential` following `organization`, or refuses
    /// past any bound (429, naming the bound reached).
    pub fn admit(&self, credential: Uuid, organization: Uuid) -> AppResult<StreamPermit> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count =
            |map: &std::collections::HashMap<Uuid, usize>, id| map.get(&id).copied().unwrap_or(0);
        let reached = if count(&open.by_credential, credential) >= STREAMS_PER_CREDENTIAL {
            Some(STREAMS_PER_CREDENTIAL)
        } else if count(&open.by_organization, organization) >= STREAMS_PER_ORGANIZATION {
            Some(STREAMS_PER_ORGANIZATION)
        } else if open.total >= STREAMS_PER_NODE {
            Some(STREAMS_PER_NODE)
        } else {
            None
        };
        if let Some(limit) = reached {
            return Err(AppError::RateLimited {
                retry_after_secs: 60,
                limit: u32::try_from(limit).unwrap_or(u32::MAX),
            });
        }
        *open.by_credential.entry(credential).or_insert(0) += 1;
        *open.by_organization.entry(organization).or_insert(0) += 1;
        open.total += 1;
        Ok(StreamPermit {
            credential,
            organization,
            open: self.open.clone(),
        })
    }

    /// Streams open on this node.
    pub fn open_streams(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// Wakes every follower of this node.
    pub fn wake(&self) {
        self.wakes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Ends every follower of this node: it is shutting down.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake();
    }

    /// Whether the node is shutting down.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A follower's end: changed whenever a wake was sent since it last looked.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wakes.subscribe()
    }
}

/// Writes the key events of `what` inside `txn`, before it commits.
pub(in crate::domain) async fn record<C: ConnectionTrait>(
    txn: &C,
    what: &Invalidation,
    now: DateTime<Utc>,
) -> AppResult<()> {
    match what {
        Invalidation::Credential(hash) => record_key(txn, hash, now).await,
        Invalidation::Everything => insert(txn, None, None, None, Kind::Reset, now).await,
        Invalidation::Organization(org) => {
            insert(txn, Some(*org), None, None, Kind::Reset, now).await
        }
        Invalidation::Several(list) => {
            for one in list {
                Box::pin(record(txn, one, now)).await?;
            }
            Ok(())
        }
        // Neither changes what a key is: an SDK never caches credits.
        Invalidation::ImportPrefixes | Invalidation::Credits(_) => Ok(()),
    }
}

async fn record_key<C: ConnectionTrait>(
    txn: &C,
    hash: &TokenHash,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(key) = Credential::find()
        .filter(credential::Column::TokenHash.eq(hash.as_str()))
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    // A personal access token belongs to no organization's stream.
    let Some(org) = key.organization_id else {
        return Ok(());
    };
    let kind = if key.revoked_at.is_some() {
        Kind::Revoked
    } else if key.disabled_at.is_some() {
        Kind::Disabled
    } else {
        Kind::Updated
    };
    insert(txn, Some(org), key.project_id, Some(key.id), kind, now).await
}

async fn insert<C: ConnectionTrait>(
    txn: &C,
    organization_id: Option<Uuid>,
    project_id: Option<Uuid>,
    credential_id: Option<Uuid>,
    kind: Kind,
    now: DateTime<Utc>,
) -> AppResult<()> {
    // Taking the sequence with a write holds its row until the commit: events of two
    // transactions become visible in the order of their numbers.
    EventSequence::insert(event_sequence::ActiveModel {
        name: Set(SEQUENCE.into()),
        seq: Set(1),
    })
    .on_conflict(
        OnConflict::column(event_sequence::Column::Name)
            .value(
                event_sequence::Column::Seq,
                Expr::col((EventSequence, event_sequence::Column::Seq)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let seq = head(txn).await?;
    KeyEvent::insert(key_event::ActiveModel {
        seq: Set(seq),
        organization_id: Set(organization_id),
        project_id: Set(project_id),
        credential_id: Set(credential_id),
        kind: Set(kind),
        occurred_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// The last event number given out; 0 before the first.
async fn head<C: ConnectionTrait>(db: &C) -> AppResult<i64> {
    Ok(EventSequence::find_by_id(SEQUENCE.to_owned())
        .one(db)
        .await?
        .map_or(0, |s| s.seq))
}

impl Services {
    /// The credential of a stream, checked again as it is now (revoked, disabled, expired,
    /// its owner suspended or removed: refused), without counting a use.
    async fn stream_actor(&self, raw: &str, meta: &RequestMeta) -> AppResult<Actor> {
        let record = self.resolve(raw, meta.ip.as_deref(), None).await?;
        Ok(Actor::new(
            Principal::Credential(Arc::new(record.to_authed())),
            meta.clone(),
        ))
    }

    /// Opens a key event stream for the credential `raw` (an API key, service-account key
    /// or PAT) over `organization` (the key's own when not named; a PAT must name one),
    /// after `last_event_id` when resuming. **Permissions**: `api_keys:read`.
    ///
    /// Answers where the follower starts and, when it asked to resume from further back
    /// than the events kept (or from an id this server never gave), a reset to send first.
    pub async fn open_key_events(
        &self,
        actor: &Actor,
        organization: Option<Uuid>,
        last_event_id: Option<i64>,
    ) -> AppResult<(KeyEventCursor, Option<KeyEventView>, StreamPermit)> {
        let Principal::Credential(credential) = &actor.principal else {
            return Err(AppError::Forbidden(
                "the key event stream is for API keys, service-account keys and personal access tokens"
                    .into(),
            ));
        };
        let organization_id = organization.or(credential.organization_id).ok_or_else(|| {
            AppError::invalid(
                "organization_id",
                "a personal access token names the organization to follow",
            )
        })?;
        let grant = self
            .authorize(actor, Need::Org(organization_id, Perm::API_KEYS_READ))
            .await?;
        let project_id = grant.bound_project();
        let permit = self.key_events.admit(credential.id, organization_id)?;
        let head = head(&self.db).await?;
        let Some(last) = last_event_id else {
            return Ok((
                KeyEventCursor {
                    organization_id,
                    project_id,
                    after: head,
                },
                None,
                permit,
            ));
        };
        let oldest = KeyEvent::find()
            .select_only()
            .column_as(key_event::Column::Seq.min(), "oldest")
            .into_tuple::<Option<i64>>()
            .one(&self.db)
            .await?
            .flatten()
            .unwrap_or(head + 1);
        let missed = last < oldest - 1 || last > head || last < 0;
        let cursor = KeyEventCursor {
            organization_id,
            project_id,
            after: if missed { head } else { last },
        };
        let reset = missed.then(|| KeyEventView {
            id: head,
            kind: Kind::Reset,
            key_id: None,
            organization_id: Some(organization_id),
            occurred_at: self.clock.now(),
        });
        Ok((cursor, reset, permit))
    }

    /// The events after `cursor` (at most [`BATCH`]), the cursor moved past them. The
    /// credential and its permission are checked again first: a stream ends with the
    /// credential's revocation, or with the loss of `api_keys:read`.
    pub async fn next_key_events(
        &self,
        raw: &str,
        meta: &RequestMeta,
        cursor: &mut KeyEventCursor,
    ) -> AppResult<Vec<KeyEventView>> {
        let mut ours =
            Condition::all().add(key_event::Column::OrganizationId.eq(cursor.organization_id));
        if let Some(project) = cursor.project_id {
            // A key bound to one project hears only of that project's keys, and of its
            // organization's resets.
            ours = ours.add(
                Condition::any()
                    .add(key_event::Column::ProjectId.eq(project))
                    .add(key_event::Column::Kind.eq(Kind::Reset)),
            );
        }
        let rows = KeyEvent::find()
            .filter(key_event::Column::Seq.gt(cursor.after))
            .filter(
                Condition::any()
                    .add(ours)
                    .add(key_event::Column::OrganizationId.is_null()),
            )
            .order_by_asc(key_event::Column::Seq)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        // Checked after the read: whatever the read saw was committed before the check,
        // so a stream never sends the news of its own credential's revocation.
        let actor = self.stream_actor(raw, meta).await?;
        self.authorize(
            &actor,
            Need::Org(cursor.organization_id, Perm::API_KEYS_READ),
        )
        .await?;
        if let Some(last) = rows.last() {
            cursor.after = last.seq;
        }
        Ok(rows.into_iter().map(KeyEventView::from).collect())
    }

    /// Deletes the events older than [`RETENTION`] (the flusher's hourly chore).
    pub async fn prune_key_events(&self) -> AppResult<u64> {
        let cutoff = self.clock.now() - RETENTION;
        Ok(KeyEvent::delete_many()
            .filter(key_event::Column::OccurredAt.lt(cutoff))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    /// Whether this node hears every change: a stream on a node that cannot hear the
    /// other nodes would miss their changes, so it ends and its client reconnects.
    pub fn hears_every_change(&self) -> bool {
        !self.shares_its_database() || self.verifier.is_trusted()
    }

    /// Wakes when this node drops something from its cache: a follower then reads.
    pub fn key_event_wakes(&self) -> watch::Receiver<u64> {
        self.key_events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_of(refused: AppResult<StreamPermit>) -> u32 {
        match refused {
            Err(AppError::RateLimited { limit, .. }) => limit,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn open_streams_are_bounded_per_credential_organization_and_node() {
        let wake = KeyEventWake::default();
        let (key, org) = (Uuid::new_v4(), Uuid::new_v4());
        let held: Vec<_> = (0..STREAMS_PER_CREDENTIAL)
            .map(|_| wake.admit(key, org).unwrap())
            .collect();
        assert_eq!(
            limit_of(wake.admit(key, org)),
            STREAMS_PER_CREDENTIAL as u32
        );
        drop(held);
        assert_eq!(wake.open_streams(), 0);

        // Many keys of one organization: the organization's bound, not another's.
        let mut held = Vec::new();
        for _ in 0..STREAMS_PER_ORGANIZATION {
            held.push(wake.admit(Uuid::new_v4(), org).unwrap());
        }
        assert_eq!(
            limit_of(wake.admit(Uuid::new_v4(), org)),
            STREAMS_PER_ORGANIZATION as u32
        );
        let other = wake.admit(Uuid::new_v4(), Uuid::new_v4()).unwrap();
        held.push(other);

        // The node's bound, whoever asks.
        while wake.open_streams() < STREAMS_PER_NODE {
            held.push(wake.admit(Uuid::new_v4(), Uuid::new_v4()).unwrap());
        }
        assert_eq!(
            limit_of(wake.admit(Uuid::new_v4(), Uuid::new_v4())),
            STREAMS_PER_NODE as u32
        );
        drop(held);
        assert_eq!(wake.open_streams(), 0);
        assert!(wake.admit(key, org).is_ok());
    }
}
