//! The CLI's settings: `config.toml` in the platform's config directory (on Linux
//! `$XDG_CONFIG_HOME/keyward`, else `~/.config/keyward`), TOML, written atomically, the
//! file readable by its owner only.

use std::{
    fmt,
    io::Write,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    token::Secret,
};

/// The server when neither `--server`, `KEYWARD_SERVER` nor the config names one: a
/// `keyward-server` on this machine with its default address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// What is stored between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server's URL, without a trailing slash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The active organization's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The active project's id (in the active organization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The credential the CLI acts with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

/// The stored credential and what is known of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub token: Secret,
    /// How it was obtained: `browser`, `device` or `pasted`. A token the CLI was issued
    /// is revoked when a new login replaces it; a pasted one belongs to its owner.
    pub method: LoginMethod,
    /// The credential's name on the server (for a login, the machine's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who it acts for (an email), when a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginMethod {
    Browser,
    Device,
    Pasted,
}

impl LoginMethod {
    /// Whether the CLI was issued this token (and so may revoke it when replacing it).
    pub fn issued(self) -> bool {
        matches!(self, Self::Browser | Self::Device)
    }
}

impl fmt::Display for LoginMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Browser => "browser",
            Self::Device => "device code",
            Self::Pasted => "pasted token",
        })
    }
}

/// The config file and what it holds.
#[derive(Debug)]
pub struct Store {
    pub path: PathBuf,
    pub config: Config,
}

/// The platform's config directory for Keyward.
pub fn default_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("dev", "Keyward", "keyward")
        .map(|dirs| dirs.config_dir().to_path_buf())
        .ok_or_else(|| Error::other("no home directory to keep the configuration in"))
}

impl Store {
    /// Reads the config file in `dir`; none yet is an empty config. A file that does not
    /// parse is an error, never silently replaced.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("config.toml");
        let config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                Error::other(format!(
                    "{} is not a valid Keyward configuration ({}): fix or delete it",
                    path.display(),
                    e.message()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => {
                return Err(Error::other(format!("cannot read {}: {e}", path.display())));
            }
        };
        Ok(Self { path, config })
    }

    /// Writes the config: a new file beside the old, made private before anything is
    /// written to it, then renamed over it, so a crash leaves one or the other whole.
    pub fn save(&self) -> Result<()> {
        let fail =
            |e: std::io::Error| Error::other(format!("cannot write {}: {e}", self.path.display()));
        let dir = self
            .path
            .parent()
            .ok_or_else(|| Error::other("the config file has no directory"))?;
        create_private_dir(dir).map_err(fail)?;
        let text = toml::to_string(&self.config)
            .map_err(|e| Error::other(format!("cannot encode the configuration: {e}")))?;
        let mut file = tempfile::Builder::new()
            .prefix(".config.toml.")
            .tempfile_in(dir)
            .map_err(fail)?;
        restrict(file.path(), 0o600).map_err(fail)?;
        file.write_all(text.as_bytes()).map_err(fail)?;
        file.as_file().sync_all().map_err(fail)?;
        file.persist(&self.path).map_err(|e| fail(e.error))?;
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    restrict(dir, 0o700)
}

/// Sets a path's permission bits (Unix; elsewhere the user's profile directory is
/// already private).
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Where a setting came from, for messages that say where to change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    File(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag => f.write_str("--server"),
            Self::Env(name) => f.write_str(name),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Default => f.write_str("the default; pass --server or set KEYWARD_SERVER"),
        }
    }
}

/// Normalises a server URL: `http(s)://host[:port][/path]`, no trailing slash. A URL
/// with credentials in it is refused without being repeated.
pub fn parse_server(raw: &str) -> Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| Error::usage(format!("the server's URL does not parse: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::usage(
            "the server's URL must not carry a user name or password",
        ));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::usage(format!(
            "server `{trimmed}` must be an http:// or https:// URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::usage(format!(
            "server `{trimmed}` must not carry a query or a fragment"
        )));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_config_reads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = dir.path().join("keyward");
        let mut store = Store::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.config, Config::default());
        store.config.server = Some("https://auth.example.com".into());
        store.config.auth = Some(Auth {
            token: Secret::new("kw_pat_x"),
            method: LoginMethod::Device,
            name: Some("laptop".into()),
            user: None,
            expires_at: None,
        });
        store.save().unwrap_or_else(|e| panic!("{e}"));
        let again = Store::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.config, store.config);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode(&store.path).ok(), Some(0o600));
            assert_eq!(mode(&dir).ok(), Some(0o700));
        }
    }

    #[test]
    fn a_config_that_does_not_parse_is_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("config.toml"), "server = 3\n").unwrap_or_default();
        let err = Store::open(dir.path()).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("not a valid Keyward configuration")));
    }

    #[test]
    fn server_urls_are_checked_and_normalised() {
        assert_eq!(
            parse_server("https://auth.example.com/").ok().as_deref(),
            Some("https://auth.example.com")
        );
        for bad in [
            "auth.example.com",
            "ftp://x",
            "https://u:p@x",
            "https://:hunter2@x",
            "https://x/?a=1",
        ] {
            let err = parse_server(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!err.is_empty(), "{bad}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
