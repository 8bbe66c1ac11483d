//! The TypeScript package (`sdk/typescript`, SPEC §16) against the real server: this test
//! starts Keyward, makes the keys the package's own tests use, builds the package and
//! runs them with Node's test runner (`npm test`). Needs `npm ci` in `sdk/typescript`
//! (`.ci/run` does it); without it the test is skipped, except on CI.

use std::{path::PathBuf, time::Duration};

use serde_json::json;
use tests::{Db, TestApp};

db_tests!(the_typescript_package_verifies_caches_and_drops_a_revoked_key);

fn package() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk/typescript")
}

async fn npm(args: &[&str], envs: &[(&str, String)]) -> (bool, String) {
    let mut command = tokio::process::Command::new("npm");
    command
        .args(args)
        .current_dir(package())
        .kill_on_drop(true)
        .env("NODE_NO_WARNINGS", "1");
    for (k, v) in envs {
        command.env(k, v);
    }
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("npm finished within 3 minutes")
        .expect("npm runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn the_typescript_package_verifies_caches_and_drops_a_revoked_key(db: Db) {
    if !package().join("node_modules/typescript").is_dir() {
        assert!(
            std::env::var("CI").is_err(),
            "run `npm ci` in sdk/typescript: CI tests the TypeScript package"
        );
        eprintln!("skipped: run `npm ci` in sdk/typescript to test the TypeScript package");
        return;
    }
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (key_id, key) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "ts-sdk" }),
        )
        .await;
    let (_, metered) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "metered", "credits": { "remaining": 2 } }),
        )
        .await;
    let stranger = app.user("stranger@example.com").await;
    let (_, foreign) = app
        .create_key(
            &stranger.pat,
            json!({ "organizationId": stranger.org_id, "name": "theirs" }),
        )
        .await;

    let (built, output) = npm(&["run", "--silent", "build"], &[]).await;
    assert!(built, "the package builds:\n{output}");
    let (passed, output) = npm(
        &["test"],
        &[
            ("KEYWARD_TEST_BASE", app.base.clone()),
            ("KEYWARD_TEST_ORG", owner.org_id.clone()),
            ("KEYWARD_TEST_KEY", key),
            ("KEYWARD_TEST_KEY_ID", key_id),
            ("KEYWARD_TEST_METERED_KEY", metered),
            ("KEYWARD_TEST_FOREIGN_KEY", foreign),
            ("KEYWARD_TEST_ADMIN_PAT", owner.pat.clone()),
        ],
    )
    .await;
    assert!(passed, "the package's tests pass:\n{output}");
    assert!(output.contains("# pass 6"), "every test ran:\n{output}");
    app.finish().await;
}
