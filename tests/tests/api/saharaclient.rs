//! The real python-saharaclient (PyPI, installed into a venv by
//! scripts/test) against edpd, without Keystone: its v2 client, and its
//! v1.1 client (the API `openstack dataprocessing` and older scripts use).

use std::path::PathBuf;
use std::process::Command;

use edp_tests::{TestApp, build};

/// The project id the Python drivers put in v1.1 URLs.
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

fn python() -> PathBuf {
    let python = std::env::var_os("EDP_TEST_SAHARA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| build::workspace_root().join("target/venv-sahara/bin/python"));
    assert!(
        python.exists(),
        "no Python with python-saharaclient at {}: run ./scripts/test, which creates the venv",
        python.display()
    );
    python
}

/// Runs `tests/python/<script> BASE WORKDIR` against a fresh edpd; it must
/// exit 0 and print `done`.
async fn drive(script: &str, done: &str) {
    // The single-user mode's one project is what the v1.1 client names in
    // its URLs (the drivers check `tenant_id` against it).
    let app = TestApp::builder().env("EDP__AUTH__DEFAULT_PROJECT", PROJECT).start().await;
    let work = app.root.path().join("work");
    std::fs::create_dir_all(work.join("in")).expect("work dir");
    std::fs::write(work.join("in/words.txt"), "a b\n").expect("input");
    let script = build::workspace_root().join("tests/python").join(script);
    let python = python();
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(base).arg(work).output())
        .await
        .expect("join")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "saharaclient run failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(done), "{stdout}");
}

#[tokio::test]
async fn python_saharaclient_drives_the_whole_api() {
    drive("saharaclient_e2e.py", "saharaclient: all steps passed").await;
}

#[tokio::test]
async fn python_saharaclient_v11_drives_the_whole_api() {
    drive("saharaclient_v11_e2e.py", "saharaclient v1.1: all steps passed").await;
}
