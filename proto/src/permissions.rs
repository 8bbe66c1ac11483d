//! Resources, levels and roles (SPEC §5), and the effective-permission rule (§3.1).
//!
//! A permission is `resource:level`. The built-in resources are the variants of
//! [`Resource`]; an organization may define application resources of its own
//! (`deployments`, `cache`, …), held as [`Resource::App`]. A built-in resource is never
//! spelt as a string in a check: code uses the constants below, so a misspelling does not
//! compile. Levels are ordered, and a higher level includes the lower ones.

use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A resource permissions are about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Organization,
    Projects,
    Members,
    Invites,
    Roles,
    ApiKeys,
    PersonalAccessTokens,
    ServiceAccounts,
    AuditLog,
    Sessions,
    Usage,
    Settings,
    /// An application resource an organization defined (never a built-in name).
    App(AppResource),
}

/// The name of an application resource: 1–48 of `a-z 0-9 _ -`, starting with a letter,
/// and not a built-in resource's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppResource(String);

impl AppResource {
    /// The name, as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Resource {
    /// Every built-in resource, in the order the permission catalogue lists them.
    pub const BUILTIN: [Resource; 12] = [
        Resource::Organization,
        Resource::Projects,
        Resource::Members,
        Resource::Invites,
        Resource::Roles,
        Resource::ApiKeys,
        Resource::PersonalAccessTokens,
        Resource::ServiceAccounts,
        Resource::AuditLog,
        Resource::Sessions,
        Resource::Usage,
        Resource::Settings,
    ];

    /// The stored and shown name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Organization => "organization",
            Self::Projects => "projects",
            Self::Members => "members",
            Self::Invites => "invites",
            Self::Roles => "roles",
            Self::ApiKeys => "api_keys",
            Self::PersonalAccessTokens => "personal_access_tokens",
            Self::ServiceAccounts => "service_accounts",
            Self::AuditLog => "audit_log",
            Self::Sessions => "sessions",
            Self::Usage => "usage",
            Self::Settings => "settings",
            Self::App(name) => name.as_str(),
        }
    }

    /// Whether this is one of the built-in resources.
    pub fn is_builtin(&self) -> bool {
        !matches!(self, Self::App(_))
    }

    /// The built-in resource of that name, if it is one.
    pub fn builtin(name: &str) -> Option<Resource> {
        Self::BUILTIN.into_iter().find(|r| r.as_str() == name)
    }

    /// A built-in resource by name, or an application resource of a valid name.
    pub fn parse(name: &str) -> Result<Resource, String> {
        if let Some(builtin) = Self::builtin(name) {
            return Ok(builtin);
        }
        if valid_resource_name(name) {
            Ok(Self::App(AppResource(name.to_owned())))
        } else {
            Err(format!("`{name}` is not a valid resource name"))
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployment's own spellings of resource names (`KEYWARD_SCOPE_ALIASES`, SPEC §3.1):
/// Onvera's docs say `org:read` where Keyward says `organization:read`. An alias is
/// accepted wherever a scope is read (keys, PATs, roles, a verify request's `require`);
/// answers always name the resource itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeAliases(BTreeMap<String, String>);

impl ScopeAliases {
    /// Reads `alias=resource` pairs. An alias must be a valid resource name that is not a
    /// built-in one (it may not change what a scope means); its target must be a valid
    /// resource name; no alias twice.
    pub fn parse(pairs: &[String]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let (alias, target) = pair
                .split_once('=')
                .map(|(a, t)| (a.trim(), t.trim()))
                .ok_or_else(|| format!("`{pair}` is not of the form alias=resource"))?;
            if !valid_resource_name(alias) {
                return Err(format!("`{alias}` is not a valid resource name"));
            }
            if is_builtin_resource(alias) {
                return Err(format!(
                    "`{alias}` is a built-in resource and cannot stand for another"
                ));
            }
            Resource::parse(target)?;
            if map.insert(alias.to_owned(), target.to_owned()).is_some() {
                return Err(format!("`{alias}` is given twice"));
            }
        }
        Ok(Self(map))
    }

    /// A `resource:level` scope with its resource's alias replaced.
    pub fn parse_scope(&self, scope: &str) -> Result<Perm, String> {
        match scope.split_once(':') {
            Some((resource, level)) => match self.0.get(resource) {
                Some(target) => Perm::parse(&format!("{target}:{level}")),
                None => Perm::parse(scope),
            },
            None => Perm::parse(scope),
        }
    }
}

/// Whether `name` is one of the built-in resources.
pub fn is_builtin_resource(name: &str) -> bool {
    Resource::builtin(name).is_some()
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
    pub resource: Resource,
    pub level: Level,
}

impl Perm {
    pub const ORGANIZATION_READ: Perm = Perm::new(Resource::Organization, Level::Read);
    pub const ORGANIZATION_WRITE: Perm = Perm::new(Resource::Organization, Level::Write);
    pub const PROJECTS_READ: Perm = Perm::new(Resource::Projects, Level::Read);
    pub const PROJECTS_WRITE: Perm = Perm::new(Resource::Projects, Level::Write);
    pub const MEMBERS_READ: Perm = Perm::new(Resource::Members, Level::Read);
    pub const MEMBERS_WRITE: Perm = Perm::new(Resource::Members, Level::Write);
    pub const MEMBERS_DELETE: Perm = Perm::new(Resource::Members, Level::Delete);
    pub const INVITES_READ: Perm = Perm::new(Resource::Invites, Level::Read);
    pub const INVITES_WRITE: Perm = Perm::new(Resource::Invites, Level::Write);
    pub const ROLES_READ: Perm = Perm::new(Resource::Roles, Level::Read);
    pub const ROLES_WRITE: Perm = Perm::new(Resource::Roles, Level::Write);
    pub const ROLES_DELETE: Perm = Perm::new(Resource::Roles, Level::Delete);
    pub const API_KEYS_READ: Perm = Perm::new(Resource::ApiKeys, Level::Read);
    pub const API_KEYS_WRITE: Perm = Perm::new(Resource::ApiKeys, Level::Write);
    pub const API_KEYS_DELETE: Perm = Perm::new(Resource::ApiKeys, Level::Delete);
    pub const API_KEYS_ADMIN: Perm = Perm::new(Resource::ApiKeys, Level::Admin);
    pub const PATS_READ: Perm = Perm::new(Resource::PersonalAccessTokens, Level::Read);
    pub const PATS_WRITE: Perm = Perm::new(Resource::PersonalAccessTokens, Level::Write);
    pub const PATS_DELETE: Perm = Perm::new(Resource::PersonalAccessTokens, Level::Delete);
    pub const SERVICE_ACCOUNTS_READ: Perm = Perm::new(Resource::ServiceAccounts, Level::Read);
    pub const SERVICE_ACCOUNTS_WRITE: Perm = Perm::new(Resource::ServiceAccounts, Level::Write);
    pub const AUDIT_LOG_READ: Perm = Perm::new(Resource::AuditLog, Level::Read);
    pub const SESSIONS_READ: Perm = Perm::new(Resource::Sessions, Level::Read);
    pub const SESSIONS_WRITE: Perm = Perm::new(Resource::Sessions, Level::Write);
    pub const SESSIONS_DELETE: Perm = Perm::new(Resource::Sessions, Level::Delete);
    pub const USAGE_READ: Perm = Perm::new(Resource::Usage, Level::Read);
    pub const SETTINGS_READ: Perm = Perm::new(Resource::Settings, Level::Read);
    pub const SETTINGS_WRITE: Perm = Perm::new(Resource::Settings, Level::Write);

    pub const fn new(resource: Resource, level: Level) -> Self {
        Self { resource, level }
    }

    /// Parses `resource:level`; an application resource is checked for shape only.
    pub fn parse(scope: &str) -> Result<Self, String> {
        let (resource, level) = scope
            .split_once(':')
            .ok_or_else(|| format!("`{scope}` is not of the form resource:level"))?;
        let resource = Resource::parse(resource)?;
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
        let mut levels: BTreeMap<Resource, Level> =
            Resource::BUILTIN.into_iter().map(|r| (r, base)).collect();
        if self == Self::Developer {
            levels.insert(Resource::ApiKeys, Level::Write);
            levels.insert(Resource::ServiceAccounts, Level::Write);
        }
        PermissionSet {
            levels,
            application_default: apps,
        }
    }
}

/// What a principal may do in one organization (or, for user-level operations, what a
/// credential's scopes allow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet {
    /// Explicit levels by resource.
    levels: BTreeMap<Resource, Level>,
    /// The level on application resources not listed in `levels`.
    application_default: Level,
}

impl PermissionSet {
    /// Everything: admin on every resource, built-in or not.
    pub fn everything() -> Self {
        BuiltinRole::Owner.permissions()
    }

    /// A custom role's set from its stored map of resource name to level. A name that is
    /// not a resource is an error: stored data that does not parse never means "nothing"
    /// or "everything".
    pub fn from_stored(levels: BTreeMap<String, Level>) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for (name, level) in levels {
            let resource = Resource::parse(&name)?;
            if level != Level::None {
                out.insert(resource, level);
            }
        }
        Ok(Self {
            levels: out,
            application_default: Level::None,
        })
    }

    /// Exactly the given permissions (a credential's scopes); the highest level wins.
    pub fn of(perms: &[Perm]) -> Self {
        let mut levels: BTreeMap<Resource, Level> = BTreeMap::new();
        for p in perms {
            let entry = levels.entry(p.resource.clone()).or_insert(Level::None);
            *entry = (*entry).max(p.level);
        }
        levels.retain(|_, l| *l != Level::None);
        Self {
            levels,
            application_default: Level::None,
        }
    }

    /// The level granted on `resource`.
    pub fn level(&self, resource: &Resource) -> Level {
        match self.levels.get(resource) {
            Some(level) => *level,
            None if resource.is_builtin() => Level::None,
            None => self.application_default,
        }
    }

    /// Whether `perm` is granted.
    pub fn allows(&self, perm: &Perm) -> bool {
        self.level(&perm.resource) >= perm.level
    }

    /// Narrows to a credential's scopes: for each resource, the lower of the two levels.
    pub fn restrict_to(&self, scopes: &[Perm]) -> PermissionSet {
        let narrowed: Vec<Perm> = scopes
            .iter()
            .map(|s| Perm::new(s.resource.clone(), s.level.min(self.level(&s.resource))))
            .collect();
        PermissionSet::of(&narrowed)
    }

    /// The same set with each resource's level passed through `cap`.
    pub fn limited(&self, cap: impl Fn(&Resource, Level) -> Level) -> PermissionSet {
        let levels = self
            .levels
            .iter()
            .map(|(r, l)| (r.clone(), cap(r, *l)))
            .filter(|(_, l)| *l != Level::None)
            .collect();
        let probe = Resource::App(AppResource(String::new()));
        PermissionSet {
            levels,
            application_default: cap(&probe, self.application_default),
        }
    }

    /// The granted permissions as scopes, over the built-in resources and `app_resources`.
    pub fn to_scopes(&self, app_resources: &[String]) -> Vec<Perm> {
        let mut names: Vec<Resource> = Resource::BUILTIN.to_vec();
        names.extend(
            app_resources
                .iter()
                .filter_map(|name| Resource::parse(name).ok()),
        );
        names.extend(self.levels.keys().cloned());
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter_map(|r| {
                let level = self.level(&r);
                (level != Level::None).then(|| Perm::new(r, level))
            })
            .collect()
    }

    /// The first permission of `other` (over the built-in resources and `app_resources`)
    /// that this set lacks, if any.
    pub fn first_missing(&self, other: &PermissionSet, app_resources: &[String]) -> Option<Perm> {
        other
            .to_scopes(app_resources)
            .into_iter()
            .find(|p| !self.allows(p))
    }

    /// The stored form of a custom role.
    pub fn to_map(&self) -> BTreeMap<String, Level> {
        self.levels
            .iter()
            .map(|(r, l)| (r.as_str().to_owned(), *l))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> Resource {
        Resource::parse(name).unwrap()
    }

    #[test]
    fn scopes_parse_and_print() {
        let p = Perm::parse("deployments:write").unwrap();
        assert_eq!(p.to_string(), "deployments:write");
        assert_eq!(p.resource, app("deployments"));
        assert_eq!(Perm::parse("api_keys:read").unwrap(), Perm::API_KEYS_READ);
        assert!(Perm::parse("deployments").is_err());
        assert!(Perm::parse("deployments:none").is_err());
        assert!(Perm::parse("Deploy:read").is_err());
        assert!(Perm::parse("api_keys:superuser").is_err());
    }

    #[test]
    fn aliases_are_read_as_the_resource_they_stand_for() {
        let aliases =
            ScopeAliases::parse(&["org=organization".into(), " keys = api_keys ".into()]).unwrap();
        assert_eq!(
            aliases.parse_scope("org:read").unwrap(),
            Perm::ORGANIZATION_READ
        );
        assert_eq!(
            aliases.parse_scope("keys:read").unwrap(),
            Perm::API_KEYS_READ
        );
        assert_eq!(
            aliases.parse_scope("organization:read").unwrap(),
            Perm::ORGANIZATION_READ,
            "the resource's own name stays"
        );
        assert!(aliases.parse_scope("org:none").is_err());
        assert!(
            ScopeAliases::default()
                .parse_scope("org:read")
                .unwrap()
                .resource
                != Perm::ORGANIZATION_READ.resource
        );
        for bad in [
            "org",
            "api_keys=organization",
            "Org=organization",
            "org=Organization!",
        ] {
            assert!(ScopeAliases::parse(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(ScopeAliases::parse(&["org=organization".into(), "org=members".into()]).is_err());
    }

    #[test]
    fn builtin_names_never_become_application_resources() {
        for r in Resource::BUILTIN {
            assert_eq!(Resource::parse(r.as_str()).unwrap(), r);
        }
        // A near miss of a built-in name is an application resource, which a custom role
        // grants only when it names it.
        let custom =
            PermissionSet::from_stored(BTreeMap::from([("api_keys".to_owned(), Level::Read)]))
                .unwrap();
        assert_eq!(custom.level(&app("member")), Level::None);
        assert!(custom.allows(&Perm::API_KEYS_READ));
    }

    #[test]
    fn stored_role_permissions_fail_closed() {
        let broken = BTreeMap::from([("API Keys".to_owned(), Level::Read)]);
        assert!(PermissionSet::from_stored(broken).is_err());
    }

    #[test]
    fn builtin_roles_follow_the_spec() {
        let dev = BuiltinRole::Developer.permissions();
        assert!(dev.allows(&Perm::API_KEYS_WRITE));
        assert!(!dev.allows(&Perm::API_KEYS_DELETE));
        assert!(dev.allows(&Perm::new(app("deployments"), Level::Write)));
        assert!(!dev.allows(&Perm::MEMBERS_WRITE));
        let viewer = BuiltinRole::Viewer.permissions();
        assert!(viewer.allows(&Perm::AUDIT_LOG_READ));
        assert!(!viewer.allows(&Perm::new(app("cache"), Level::Write)));
        assert!(
            BuiltinRole::Owner
                .permissions()
                .allows(&Perm::new(Resource::Settings, Level::Admin))
        );
    }

    #[test]
    fn effective_permission_is_the_intersection() {
        let dev = BuiltinRole::Developer.permissions();
        let scoped = dev.restrict_to(&[
            Perm::API_KEYS_ADMIN,
            Perm::new(app("deployments"), Level::Read),
        ]);
        assert_eq!(scoped.level(&Resource::ApiKeys), Level::Write);
        assert_eq!(scoped.level(&app("deployments")), Level::Read);
        assert_eq!(scoped.level(&Resource::Projects), Level::None);
        assert_eq!(scoped.level(&app("cache")), Level::None);
    }

    #[test]
    fn first_missing_names_what_a_set_lacks() {
        let admin = BuiltinRole::Admin.permissions();
        let dev = BuiltinRole::Developer.permissions();
        assert_eq!(admin.first_missing(&dev, &[]), None);
        assert_eq!(
            dev.first_missing(&admin, &[]),
            Some(Perm::new(Resource::Organization, Level::Admin))
        );
    }
}
