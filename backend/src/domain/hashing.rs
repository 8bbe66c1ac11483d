//! Which hash a map uses, by who chooses its keys.
//!
//! Keys the server makes (credential, organization and user ids) cannot be chosen to
//! collide, so their maps use a fast hash. Keys a caller chooses (client addresses, the
//! digests of presented tokens) get SipHash with a per-process random key, which a caller
//! cannot flood with colliding keys.

use std::hash::{Hash, RandomState};

/// The hasher for maps keyed by the server's own ids.
pub type IdHasher = foldhash::fast::RandomState;

/// A bounded map, least-valued entries evicted first, whose keys callers choose.
pub type CallerKeyed<K, V> = quick_cache::sync::Cache<K, V, quick_cache::UnitWeighter, RandomState>;

/// A [`CallerKeyed`] map of at most `capacity` entries.
pub fn caller_keyed<K: Eq + Hash, V: Clone>(capacity: usize) -> CallerKeyed<K, V> {
    quick_cache::sync::Cache::with(
        capacity,
        u64::try_from(capacity).unwrap_or(u64::MAX),
        quick_cache::UnitWeighter,
        RandomState::new(),
        Default::default(),
    )
}
