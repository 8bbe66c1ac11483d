//! Resources, levels and roles (SPEC §5), and the effective-permission rule (§3.1).
//!
//! A permission is `resource:level`. Built-in resources are fixed; an organization may
//! define application resources of its own (`deployments`, `cache`, …). Levels are
//! ordered, and a higher level includes the lower ones.

use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The resources every organization has.
pub const BUILTIN_RESOURCES: [&str; 12] = [
    "organization",
    "projects",
    "members",
    "invites",
    "roles",
    "api_keys",
    "personal_access_tokens",
    "service_accounts",
    "audit_log",
    "sessions",
    "usage",
    "settings",
];

/// Whether `name` is one of the built-in resources.
pub fn is_builtin_resource(name: &str) -> bool {
    BUILTIN_RESOURCES.contains(&name)
}

/// Whether `name` may name an application resource: 1–48 of `a-z 0-9 _ -`, starting with a letter.
pub fn valid_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Access levels, ordered: `none < read < write < delete < admin`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    None,
    Read,
    Write,
    Delete,
    Admin,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::None,
        Level::Read,
        Level::Write,
        Level::Delete,
        Level::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Read => "read",
            Level::Write => "write",
            Level::Delete => "delete",
            Level::Admin => "admin",
        }
    }
}

impl FromStr for Level {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Level::ALL.into_iter().find(|l| l.as_str() == s).ok_or(())
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permission, `resource:level`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Perm {
    pub resource: String,
    pub level: Level,
}

impl Perm {
    pub fn new(resource: &str, level: Level) -> Self {
        Self {
            resource: resource.to_owned(),
            level,
        }
    }

    /// Parses `resource:level`; the resource is checked for shape only.
    pub fn parse(scope: &str) -> Result<Self, String> {
        let (resource, level) = scope
            .split_once(':')
            .ok_or_else(|| format!("`{scope}` is not of the form resource:level"))?;
        if !valid_resource_name(resource) {
            return Err(format!("`{resource}` is not a valid resource name"));
        }
        let level = level
            .parse::<Level>()
            .ok()
            .filter(|l| *l != Level::None)
            .ok_or_else(|| format!("`{level}` is not a level (read, write, delete, admin)"))?;
        Ok(Self::new(resource, level))
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.level)
    }
}

/// The built-in roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    Owner,
    Admin,
    Developer,
    Viewer,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 4] = [Self::Owner, Self::Admin, Self::Developer, Self::Viewer];

    pub fn key(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Viewer => "viewer",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::Developer => "Developer",
            Self::Viewer => "Viewer",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::Owner => {
                "Admin on everything, including deleting the organization and changing owners."
            }
            Self::Admin => {
                "Admin on everything except deleting the organization or changing owners."
            }
            Self::Developer => {
                "Write on API keys, service accounts and application resources; read elsewhere."
            }
            Self::Viewer => "Read on everything.",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }

    /// The role's permissions.
    pub fn permissions(self) -> PermissionSet {
        let (base, apps) = match self {
            Self::Owner | Self::Admin => (Level::Admin, Level::Admin),
            Self::Developer => (Level::Read, Level::Write),
            Self::Viewer => (Level::Read, Level::Read),
        };
        let mut levels: BTreeMap<String, Level> = BUILTIN_RESOURCES
            .iter()
            .map(|r| (r.to_string(), base))
            .collect();
        if self == Self::Developer {
            levels.insert("api_keys".into(), Level::Write);
            levels.insert("service_accounts".into(), Level::Write);
        }
        PermissionSet {
            levels,
            application_default: apps,
        }
    }
}

/// What a principal may do in one organization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet {
    /// Explicit levels by resource.
    levels: BTreeMap<String, Level>,
    /// The level on application resources not listed in `levels`.
    application_default: Level,
}

impl PermissionSet {
    /// A custom role's set from its stored map of resource to level.
    pub fn from_map(levels: BTreeMap<String, Level>) -> Self {
        Self {
            levels: levels
                .into_iter()
                .filter(|(_, l)| *l != Level::None)
                .collect(),
            application_default: Level::None,
        }
    }

    /// The level granted on `resource`.
    pub fn level(&self, resource: &str) -> Level {
        match self.levels.get(resource) {
            Some(level) => *level,
            None if is_builtin_resource(resource) => Level::None,
            None => self.application_default,
        }
    }

    /// Whether `perm` is granted.
    pub fn allows(&self, perm: &Perm) -> bool {
        self.level(&perm.resource) >= perm.level
    }

    /// Narrows to a credential's scopes: for each resource, the lower of the two levels.
    pub fn restrict_to(&self, scopes: &[Perm]) -> PermissionSet {
        let mut levels = BTreeMap::new();
        for scope in scopes {
            let level = scope.level.min(self.level(&scope.resource));
            let entry = levels.entry(scope.resource.clone()).or_insert(Level::None);
            *entry = (*entry).max(level);
        }
        PermissionSet::from_map(levels)
    }

    /// The granted permissions as scopes, over the built-in resources and `app_resources`.
    pub fn to_scopes(&self, app_resources: &[String]) -> Vec<Perm> {
        let mut names: Vec<&str> = BUILTIN_RESOURCES.to_vec();
        names.extend(app_resources.iter().map(String::as_str));
        names.extend(self.levels.keys().map(String::as_str));
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter_map(|r| {
                let level = self.level(r);
                (level != Level::None).then(|| Perm::new(r, level))
            })
            .collect()
    }

    /// The stored form of a custom role.
    pub fn to_map(&self) -> BTreeMap<String, Level> {
        self.levels.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print() {
        let p = Perm::parse("deployments:write").unwrap();
        assert_eq!(p.to_string(), "deployments:write");
        assert!(Perm::parse("deployments").is_err());
        assert!(Perm::parse("deployments:none").is_err());
        assert!(Perm::parse("Deploy:read").is_err());
        assert!(Perm::parse("api_keys:superuser").is_err());
    }

    #[test]
    fn builtin_roles_follow_the_spec() {
        let dev = BuiltinRole::Developer.permissions();
        assert!(dev.allows(&Perm::new("api_keys", Level::Write)));
        assert!(!dev.allows(&Perm::new("api_keys", Level::Delete)));
        assert!(dev.allows(&Perm::new("deployments", Level::Write)));
        assert!(!dev.allows(&Perm::new("members", Level::Write)));
        let viewer = BuiltinRole::Viewer.permissions();
        assert!(viewer.allows(&Perm::new("audit_log", Level::Read)));
        assert!(!viewer.allows(&Perm::new("cache", Level::Write)));
        assert!(
            BuiltinRole::Owner
                .permissions()
                .allows(&Perm::new("settings", Level::Admin))
        );
    }

    #[test]
    fn effective_permission_is_the_intersection() {
        let dev = BuiltinRole::Developer.permissions();
        let scoped = dev.restrict_to(&[
            Perm::new("api_keys", Level::Admin),
            Perm::new("deployments", Level::Read),
        ]);
        assert_eq!(scoped.level("api_keys"), Level::Write);
        assert_eq!(scoped.level("deployments"), Level::Read);
        assert_eq!(scoped.level("projects"), Level::None);
        assert_eq!(scoped.level("cache"), Level::None);
    }
}
