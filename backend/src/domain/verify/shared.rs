//! What many held credentials have in common, held once: their owner, organization,
//! project and the owner's permissions ([`Context`]), and the scopes those work out to
//! ([`Effective`]). An organization's hundred thousand keys then cost the memory of their
//! own rows, not a hundred thousand copies of the organization and its roles.
//!
//! Sharing never changes an answer: a freshly read value replaces the held one unless the
//! two are equal, so a record always carries exactly what was read for it.

use std::{
    hash::Hash,
    sync::{Arc, OnceLock},
    time::Duration,
};

use entity::{customer, organization, project, service_account};
use uuid::Uuid;

use crate::domain::permissions::{Perm, PermissionSet};

/// A credential's owner, organization and project and what the owner may do there.
#[derive(Debug, Clone)]
pub struct Context {
    pub customer: Option<customer::Model>,
    pub service_account: Option<service_account::Model>,
    pub organization: Option<organization::Model>,
    pub project: Option<project::Model>,
    /// The owner's current permissions in the credential's organization; `None` when the
    /// owner is no longer a member (or the service account's role is gone).
    pub owner_permissions: Option<PermissionSet>,
    /// The organization's application resources, sorted.
    pub app_resources: Vec<String>,
    /// The verify endpoints' JSON members for the owner, organization and project,
    /// rendered on first use (`rest::verify`).
    pub rendered: OnceLock<Box<str>>,
}

impl Context {
    pub fn new(
        customer: Option<customer::Model>,
        service_account: Option<service_account::Model>,
        organization: Option<organization::Model>,
        project: Option<project::Model>,
        owner_permissions: Option<PermissionSet>,
        app_resources: Vec<String>,
    ) -> Self {
        Self {
            customer,
            service_account,
            organization,
            project,
            owner_permissions,
            app_resources,
            rendered: OnceLock::new(),
        }
    }

    /// What identifies the context among those held: the rows it is made of.
    fn key(&self) -> ContextKey {
        (
            self.customer.as_ref().map(|c| c.id),
            self.service_account.as_ref().map(|s| s.id),
            self.organization.as_ref().map(|o| o.id),
            self.project.as_ref().map(|p| p.id),
        )
    }
}

/// Equal data, whether or not either has been rendered yet.
impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        self.customer == other.customer
            && self.service_account == other.service_account
            && self.organization == other.organization
            && self.project == other.project
            && self.owner_permissions == other.owner_permissions
            && self.app_resources == other.app_resources
    }
}

type ContextKey = (Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<Uuid>);

/// The scopes a credential carries now, worked out from its own and its owner's.
#[derive(Debug, Clone)]
pub struct Effective {
    /// `None` for a PAT without scopes: whatever its user may do where it is used.
    pub scopes: Option<Vec<Perm>>,
    /// `scopes` as a set.
    pub set: Option<PermissionSet>,
    /// `scopes` as the verify endpoints' JSON value, rendered on first use.
    pub rendered: OnceLock<Box<str>>,
}

impl Effective {
    pub fn new(scopes: Option<Vec<Perm>>) -> Self {
        Self {
            set: scopes.as_deref().map(PermissionSet::of),
            scopes,
            rendered: OnceLock::new(),
        }
    }
}

/// Equal effective scopes: the rendering follows from the scopes.
impl PartialEq for Effective {
    fn eq(&self, other: &Self) -> bool {
        self.scopes == other.scopes
    }
}

/// Values held by key and handed out to every record that has an equal one.
struct Held<K, V> {
    values: moka::sync::Cache<K, Arc<V>>,
}

impl<K, V> Held<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: PartialEq + Send + Sync + 'static,
{
    fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            values: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The held value equal to `fresh`, or `fresh`, now held.
    fn share(&self, key: K, fresh: V) -> Arc<V> {
        if let Some(held) = self.values.get(&key)
            && *held == fresh
        {
            return held;
        }
        let fresh = Arc::new(fresh);
        self.values.insert(key, fresh.clone());
        fresh
    }

    fn clear(&self) {
        self.values.invalidate_all();
    }
}

/// The contexts and effective scopes held for the records in the verification cache.
pub struct Shared {
    contexts: Held<ContextKey, Context>,
    effective: Held<Option<Vec<Perm>>, Effective>,
}

impl Shared {
    /// Holds up to `capacity` of each, each for at most `ttl` (the records' own).
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            contexts: Held::new(capacity, ttl),
            effective: Held::new(capacity, ttl),
        }
    }

    pub fn context(&self, fresh: Context) -> Arc<Context> {
        self.contexts.share(fresh.key(), fresh)
    }

    pub fn effective(&self, fresh: Effective) -> Arc<Effective> {
        self.effective.share(fresh.scopes.clone(), fresh)
    }

    pub fn clear(&self) {
        self.contexts.clear();
        self.effective.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_are_shared_and_a_different_one_replaces_the_held() {
        let held: Held<u32, String> = Held::new(10, Duration::from_secs(60));
        let first = held.share(1, "acme".to_owned());
        let again = held.share(1, "acme".to_owned());
        assert!(
            Arc::ptr_eq(&first, &again),
            "an equal value is the held one"
        );
        let changed = held.share(1, "acme, suspended".to_owned());
        assert_eq!(
            *changed, "acme, suspended",
            "a record gets what was read for it"
        );
        assert_eq!(
            *first, "acme",
            "records already holding the old value keep theirs"
        );
        let later = held.share(1, "acme, suspended".to_owned());
        assert!(
            Arc::ptr_eq(&changed, &later),
            "the newer value is held from now on"
        );
        held.clear();
        assert!(!Arc::ptr_eq(
            &held.share(1, "acme, suspended".to_owned()),
            &later
        ));
    }

    #[test]
    fn a_context_is_equal_whether_or_not_it_was_rendered() {
        let context = Context::new(None, None, None, None, None, vec!["billing".into()]);
        let rendered = context.clone();
        rendered.rendered.get_or_init(|| "\"customer\":null".into());
        assert_eq!(context, rendered);
        let other = Context::new(None, None, None, None, None, vec![]);
        assert_ne!(
            context, other,
            "application resources are part of the context"
        );
    }
}
