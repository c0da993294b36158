//! Misbehaving plugins: refused at load with a reason, or failing only
//! their own jobs. edpd keeps serving either way.

use std::time::Duration;

use edp_tests::{TestApp, build};
use serde_json::{Value, json};

use crate::helpers::{TERMINAL, launch, local_cluster, shell_template, wait_for};

fn refused_reason<'a>(engines: &'a Value, file: &str) -> &'a str {
    engines["refused"]
        .as_array()
        .expect("refused list")
        .iter()
        .find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(file)))
        .unwrap_or_else(|| panic!("{file} is not listed as refused: {engines}"))["reason"]
        .as_str()
        .expect("a reason")
}

#[tokio::test]
async fn bad_plugins_are_refused_with_reasons_and_the_server_keeps_serving() {
    let app = TestApp::builder()
        .plugin(build::fixture_plugin("changed_abi"))
        .plugin(build::fixture_plugin("panic_on_new"))
        .plugin_bytes("libgarbage.so", b"this is not an ELF file at all")
        .plugin_as(build::engine_plugin("local"), "libedp_engine_local_copy.so")
        .start()
        .await;

    let engines = app.get("/v2/engines").await.expect(200);
    let loaded: Vec<&str> =
        engines["engines"].as_array().expect("engines").iter().map(|e| e["id"].as_str().unwrap_or("")).collect();
    assert_eq!(loaded, ["local"], "{engines}");

    let changed = refused_reason(&engines, "libedp_fixture_changed_abi.so");
    assert!(changed.contains("incompatible engine interface"), "{changed}");
    assert!(changed.len() < 1000, "the reason should be a summary, not abi_stable's dump: {} bytes", changed.len());
    let garbage = refused_reason(&engines, "libgarbage.so");
    assert!(garbage.contains("cannot load library"), "{garbage}");
    let panicked = refused_reason(&engines, "libedp_fixture_panic_on_new.so");
    assert!(panicked.contains("constructor exploded"), "{panicked}");
    let duplicate = refused_reason(&engines, "libedp_engine_local_copy.so");
    assert!(duplicate.contains("duplicate engine id `local`"), "{duplicate}");

    // And the service works as usual.
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "still-fine", "echo ok\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
}

#[tokio::test]
async fn a_plugin_panicking_in_run_job_fails_that_job_and_nothing_else() {
    let mut app = TestApp::builder().plugin(build::fixture_plugin("panicky")).start().await;
    let panicky = app.post("/v2/clusters", json!({"name": "jumpy", "plugin_name": "panicky"})).await.expect(202);
    let panicky = panicky["cluster"]["id"].as_str().expect("cluster id").to_string();
    let local = local_cluster(&app).await;
    let template = shell_template(&app, "any", "echo fine\n").await;

    let doomed = launch(&app, &template, &panicky, json!({})).await;
    let job = wait_for(&app, &doomed, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "FAILED", "{job}");
    let reason = job["info"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("boom: run_job exploded"), "the panic message should be the reason: {job}");

    assert!(app.is_running(), "edpd died");
    let fine = launch(&app, &template, &local, json!({})).await;
    let job = wait_for(&app, &fine, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
}

#[tokio::test]
async fn a_plugin_hanging_at_start_is_refused_after_the_load_timeout() {
    let started = std::time::Instant::now();
    let app = TestApp::builder()
        .plugin(build::fixture_plugin("hang_on_new"))
        .env("EDP__PLUGINS__LOAD_TIMEOUT_SECS", "2")
        .start()
        .await;
    let took = started.elapsed();
    eprintln!("edpd started in {took:?} with a hanging plugin");
    // The hang costs the timeout and no more (the rest is a busy machine).
    assert!(took < Duration::from_secs(2 + 10), "start-up took {took:?}");

    let engines = app.get("/v2/engines").await.expect(200);
    let hung = refused_reason(&engines, "libedp_fixture_hang_on_new.so");
    assert!(hung.starts_with("did not answer in 2 s"), "{hung}");
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "unhindered", "echo ok\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
}
