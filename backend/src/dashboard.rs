//! The dashboard this binary carries (SPEC §2): whatever `dist/` held when it was built
//! (`scripts/prepare.sh`, or `scripts/run.sh`, builds it first). A release build, such as
//! `cargo install`, embeds the files; a debug build reads them from the checkout's
//! `dist/`. At start the server unpacks them into a private temporary folder, removed at
//! shutdown, and serves that, from whatever directory it runs in.
//! `KEYWARD_DASHBOARD_DIR` overrides it, for dashboard development.

use std::path::Path;

/// The built dashboard.
#[derive(rust_embed::Embed)]
#[folder = "../dist/"]
#[allow_missing = true]
struct Built;

/// Whether this binary carries a dashboard.
pub fn carried() -> bool {
    Built::get("index.html").is_some()
}

/// Writes the carried dashboard into a new temporary folder; `None` when this binary
/// carries none.
pub fn unpack() -> Result<Option<tempfile::TempDir>, String> {
    if !carried() {
        return Ok(None);
    }
    let dir = tempfile::Builder::new()
        .prefix("keyward-dashboard-")
        .tempdir()
        .map_err(|e| format!("dashboard: a temporary folder: {e}"))?;
    for name in Built::iter() {
        let Some(file) = Built::get(&name) else {
            continue;
        };
        let relative = Path::new(name.as_ref());
        if relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!("dashboard: unexpected file name {name}"));
        }
        let target = dir.path().join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("dashboard: {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, file.data.as_ref())
            .map_err(|e| format!("dashboard: {}: {e}", target.display()))?;
    }
    Ok(Some(dir))
}
