//! The example engine plugin (examples/engine-example), built as an author
//! builds one and dropped into a running edpd: listed, registered on, run.

use std::time::Duration;

use edp_tests::{TestApp, build, eventually};
use serde_json::json;

use crate::helpers::{TERMINAL, launch, read_log, wait_for};

#[tokio::test]
async fn the_example_plugin_dropped_into_a_running_edpd_runs_jobs() {
    let plugin = build::example_plugin();
    let app = TestApp::spawn().await;
    std::fs::copy(&plugin, app.plugin_dir().join("libedp_engine_example.so")).expect("copy the example plugin");
    let engines = eventually("the example engine to be listed", Duration::from_secs(5), || async {
        let engines = app.get("/v2/engines").await.expect(200);
        let listed = engines["engines"].as_array().is_some_and(|e| e.iter().any(|e| e["id"] == "example"));
        listed.then_some(engines)
    })
    .await;
    let example = engines["engines"].as_array().unwrap().iter().find(|e| e["id"] == "example").unwrap().clone();
    assert_eq!(example["job_types"], json!(["Echo"]), "{example}");

    // A cluster on it; the secret is accepted and never shown.
    let cluster = app
        .post(
            "/v2/clusters",
            json!({"name": "echoes", "plugin_name": "example",
                   "cluster_configs": {"greeting": "hello", "token": "s3cret-token"}}),
        )
        .await
        .expect(202);
    assert_eq!(cluster["cluster"]["status"], "Active", "{cluster}");
    assert!(!cluster.to_string().contains("s3cret-token"), "the writeOnly token leaked: {cluster}");
    let cluster = cluster["cluster"]["id"].as_str().expect("cluster id").to_string();
    let bad = app
        .post("/v2/clusters", json!({"name": "typo", "plugin_name": "example", "cluster_configs": {"greting": "x"}}))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let template =
        app.post("/v2/job-templates", json!({"name": "echo", "type": "Echo"})).await.expect(202)["job_template"]["id"]
            .as_str()
            .expect("template id")
            .to_string();
    let id =
        launch(&app, &template, &cluster, json!({"args": ["world", "again"], "configs": {"edp.example.seconds": 1}}))
            .await;
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["return_code"], 0, "{job}");
    assert_eq!(read_log(&app, &id, "stdout").await, "hello world\nhello again\n");

    // Cancelled while it runs: KILLED.
    let long =
        launch(&app, &template, &cluster, json!({"args": ["never mind"], "configs": {"edp.example.seconds": 600}}))
            .await;
    wait_for(&app, &long, &["RUNNING"], Duration::from_secs(30)).await;
    app.patch(&format!("/v2/jobs/{long}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    let job = wait_for(&app, &long, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "KILLED", "{job}");

    // Bad input is the engine's to refuse, with nothing stored.
    let refused = app
        .post(
            "/v2/jobs",
            json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"configs": {"edp.example.secs": 1}}}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body["error_message"].as_str().unwrap_or_default().contains("edp.example.secs"),
        "{}",
        refused.body
    );
}
