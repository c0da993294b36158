//! Plugins dropped into the directory of a running edpd: loaded within
//! seconds, refused with a reason (and tried again when the file changes),
//! or, for a loaded engine's file, listed as needing a restart while the
//! loaded engine keeps serving.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use edp_tests::{TestApp, build, eventually};
use serde_json::{Value, json};

use crate::helpers::{TERMINAL, launch, local_cluster, read_log, shell_template, wait_for};

/// What the acceptance criterion promises: a new library is listed within 5 s.
const PROMPTLY: Duration = Duration::from_secs(5);
/// The load timeout these tests give edpd (`[plugins] load_timeout_secs`).
const LOAD_TIMEOUT: &str = "2";

async fn start() -> TestApp {
    TestApp::builder().env("EDP__PLUGINS__LOAD_TIMEOUT_SECS", LOAD_TIMEOUT).start().await
}

fn loaded_ids(engines: &Value) -> Vec<String> {
    engines["engines"].as_array().expect("engines").iter().filter_map(|e| e["id"].as_str().map(String::from)).collect()
}

fn refusal(engines: &Value, file: &str) -> Option<String> {
    engines["refused"].as_array()?.iter().find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(file)))?["reason"]
        .as_str()
        .map(String::from)
}

/// Waits until GET /v2/engines satisfies `check`; the listing.
async fn engines_until(app: &TestApp, what: &str, within: Duration, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, within, || async {
        let engines = app.get("/v2/engines").await.expect(200);
        check(&engines).then_some(engines)
    })
    .await
}

async fn refused_with(app: &TestApp, file: &str, within: Duration) -> String {
    let engines = engines_until(app, &format!("{file} to be refused"), within, |e| refusal(e, file).is_some()).await;
    refusal(&engines, file).expect("refused")
}

fn copy_into(app: &TestApp, from: &Path, name: &str) {
    std::fs::copy(from, app.plugin_dir().join(name)).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// Copies beside the directory, then renames into it: the watcher sees the
/// whole library at once, never a partial copy (which it would refuse for
/// that reason first, on a slow machine).
fn install_into(app: &TestApp, from: &Path, name: &str) {
    let staged = app.plugin_dir().with_file_name(name);
    std::fs::copy(from, &staged).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    std::fs::rename(&staged, app.plugin_dir().join(name)).expect("rename into the plugin directory");
}

/// Runs a Shell job on the local engine to the end; its status and stdout.
async fn run_on_local(app: &TestApp, name: &str, script: &str) -> (Value, String) {
    let cluster = local_cluster(app).await;
    let template = shell_template(app, name, script).await;
    let id = launch(app, &template, &cluster, json!({})).await;
    let job = wait_for(app, &id, TERMINAL, Duration::from_secs(30)).await;
    (job, read_log(app, &id, "stdout").await)
}

#[tokio::test]
async fn a_new_plugin_is_loaded_within_seconds_and_logged_once() {
    let app = start().await;
    copy_into(&app, &build::fixture_plugin("panicky"), "libedp_fixture_panicky.so");
    let copied = Instant::now();
    let engines =
        engines_until(&app, "panicky to be loaded", PROMPTLY, |e| loaded_ids(e).contains(&"panicky".into())).await;
    eprintln!("loaded {:?} after the copy", copied.elapsed());
    assert_eq!(loaded_ids(&engines), ["local", "panicky"], "{engines}");
    let panicky = engines["engines"].as_array().unwrap().iter().find(|e| e["id"] == "panicky").unwrap();
    assert!(panicky["file"].as_str().unwrap().ends_with("plugins/libedp_fixture_panicky.so"), "{panicky}");

    // Usable at once: a cluster registers on it.
    app.post("/v2/clusters", json!({"name": "jumpy", "plugin_name": "panicky"})).await.expect(202);

    // Later scans change nothing, and say nothing.
    for _ in 0..2 {
        app.post("/v2/engines/rescan", json!({})).await.expect(200);
    }
    let lines = app.log().lines().filter(|l| l.contains("plugin loaded") && l.contains("engine=panicky")).count();
    assert_eq!(lines, 1, "one 'plugin loaded' line per change:\n{}", app.log());
}

#[tokio::test]
async fn a_plugin_renamed_into_the_directory_is_loaded() {
    let app = start().await;
    // Written under a name the loader ignores, then renamed: the usual way
    // to put a file in place whole.
    let staging = app.plugin_dir().join(".incoming.tmp");
    std::fs::copy(build::fixture_plugin("panicky"), &staging).expect("copy");
    std::fs::rename(&staging, app.plugin_dir().join("libpanicky.so")).expect("rename");
    let engines =
        engines_until(&app, "the renamed plugin to be loaded", PROMPTLY, |e| loaded_ids(e).contains(&"panicky".into()))
            .await;
    assert_eq!(engines["refused"], json!([]), "{engines}");
}

#[tokio::test]
async fn garbage_is_refused_then_loaded_once_replaced_by_a_plugin() {
    let app = start().await;
    std::fs::write(app.plugin_dir().join("libdrop.so"), b"not a library, not even ELF").expect("write");
    let reason = refused_with(&app, "libdrop.so", PROMPTLY).await;
    assert!(reason.contains("cannot load library"), "{reason}");
    assert!(!reason.contains("plugin-copies"), "the reason names the user's file, not edpd's copy: {reason}");

    // The same name, now a real plugin (overwritten in place): tried again.
    copy_into(&app, &build::fixture_plugin("panicky"), "libdrop.so");
    let engines = engines_until(&app, "libdrop.so to be loaded", PROMPTLY, |e| {
        loaded_ids(e).contains(&"panicky".into()) && refusal(e, "libdrop.so").is_none()
    })
    .await;
    assert_eq!(engines["refused"], json!([]), "{engines}");
}

#[tokio::test]
async fn plugins_built_against_another_interface_or_that_panic_or_hang_are_refused_while_edpd_serves() {
    let app = start().await;
    install_into(&app, &build::fixture_plugin("changed_abi"), "libchanged.so");
    install_into(&app, &build::fixture_plugin("panic_on_new"), "libpanic.so");
    install_into(&app, &build::fixture_plugin("hang_on_new"), "libhang.so");

    // While the hanging constructor holds the loader, edpd serves and runs jobs.
    let (job, out) = run_on_local(&app, "meanwhile", "echo still serving\n").await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(out, "still serving\n");

    // The hang costs the load timeout once; allow for a busy machine.
    let within = PROMPTLY + Duration::from_secs(10);
    let changed = refused_with(&app, "libchanged.so", within).await;
    assert!(changed.contains("incompatible engine interface"), "{changed}");
    let panicked = refused_with(&app, "libpanic.so", within).await;
    assert!(panicked.contains("constructor exploded"), "{panicked}");
    let hung = refused_with(&app, "libhang.so", within).await;
    assert_eq!(
        hung,
        format!(
            "did not answer in {LOAD_TIMEOUT} s: its constructor or describe() hangs (the thread it hangs on is abandoned)"
        )
    );
    let engines = app.get("/v2/engines").await.expect(200);
    assert_eq!(loaded_ids(&engines), ["local"], "{engines}");

    let (job, _) = run_on_local(&app, "after", "echo fine\n").await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
}

#[tokio::test]
async fn a_slowly_copied_plugin_ends_loaded() {
    let app = start().await;
    let bytes = std::fs::read(build::fixture_plugin("panicky")).expect("read the fixture");
    let path = app.plugin_dir().join("libslow.so");
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(&bytes[..bytes.len() / 2]).expect("write half");
    file.flush().expect("flush");
    // The pause: edpd sees the half file and refuses it for what it is.
    let reason = refused_with(&app, "libslow.so", PROMPTLY).await;
    eprintln!("the half copy: {reason}");
    assert!(reason.contains("incomplete library") || reason.contains("cannot load library"), "{reason}");

    file.write_all(&bytes[bytes.len() / 2..]).expect("write the rest");
    drop(file);
    engines_until(&app, "the completed copy to be loaded", PROMPTLY, |e| {
        loaded_ids(e).contains(&"panicky".into()) && e["refused"] == json!([])
    })
    .await;
}

#[tokio::test]
async fn a_replaced_loaded_plugin_needs_a_restart_and_keeps_serving() {
    let mut app = start().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "across", "sleep 1\necho done\n").await;
    let running = launch(&app, &template, &cluster, json!({})).await;

    // Overwritten in place, the harshest way: edpd runs a copy, so the
    // pages it has mapped do not change under it.
    let local = app.plugin_dir().join("libedp_engine_local.so");
    std::fs::copy(build::fixture_plugin("panicky"), &local).expect("overwrite");
    let engines = engines_until(&app, "local to need a restart", PROMPTLY, |e| {
        e["restart_needed"].as_array().is_some_and(|r| !r.is_empty())
    })
    .await;
    let entry = &engines["restart_needed"][0];
    assert_eq!(entry["engine"], "local", "{engines}");
    assert!(entry["file"].as_str().unwrap().ends_with("libedp_engine_local.so"), "{entry}");
    assert!(entry["reason"].as_str().unwrap().contains("restart edpd"), "{entry}");
    assert_eq!(loaded_ids(&engines), ["local"], "the loaded version keeps serving: {engines}");
    assert_eq!(engines["refused"], json!([]), "the new file is not loaded, so not refused: {engines}");

    // The job that was running ends on the loaded engine; new ones run too.
    let job = wait_for(&app, &running, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(read_log(&app, &running, "stdout").await, "done\n");
    let (job, out) = run_on_local(&app, "after-replace", "echo still local\n").await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(out, "still local\n");
    assert!(app.is_running(), "edpd died");
    let lines = app.log().lines().filter(|l| l.contains("restart needed")).count();
    assert_eq!(lines, 1, "one 'restart needed' line per change:\n{}", app.log());
}

#[tokio::test]
async fn rescan_loads_at_once_without_the_watch() {
    let app =
        TestApp::builder().env("EDP__PLUGINS__WATCH", "false").env("EDP__PLUGINS__RESCAN_SECS", "3600").start().await;
    copy_into(&app, &build::fixture_plugin("panicky"), "libedp_fixture_panicky.so");
    // Nothing looks at the directory by itself now.
    let engines = app.get("/v2/engines").await.expect(200);
    assert_eq!(loaded_ids(&engines), ["local"], "{engines}");

    let rescanned = app.post("/v2/engines/rescan", json!({})).await.expect(200);
    assert_eq!(loaded_ids(&rescanned), ["local", "panicky"], "{rescanned}");
    assert_eq!(rescanned["refused"], json!([]));
    assert_eq!(rescanned["restart_needed"], json!([]));
    assert_eq!(app.get("/v2/engines").await.expect(200), rescanned);
}
