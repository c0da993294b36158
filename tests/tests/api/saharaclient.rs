//! The real python-saharaclient (PyPI, installed into a venv by
//! scripts/test) against edpd, without Keystone.

use std::path::PathBuf;
use std::process::Command;

use edp_tests::{TestApp, build};

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

#[tokio::test]
async fn python_saharaclient_drives_the_whole_api() {
    let app = TestApp::spawn().await;
    let work = app.root.path().join("work");
    std::fs::create_dir_all(work.join("in")).expect("work dir");
    std::fs::write(work.join("in/words.txt"), "a b\n").expect("input");
    let script = build::workspace_root().join("tests/python/saharaclient_e2e.py");
    let python = python();
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(base).arg(work).output())
        .await
        .expect("join")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "saharaclient run failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("saharaclient: all steps passed"), "{stdout}");
}
