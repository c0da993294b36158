//! A real edpd with the real oozie plugin, an Oozie + WebHDFS test server,
//! and the objects a launch needs, made through the API.

use std::time::Duration;

use edp_oozie_server::{JOB_TRACKER, JobView, NAME_NODE, OozieServer, Options};
use edp_tests::{TestApp, build, eventually};
use serde_json::{Value, json};

pub const DEADLINE: Duration = Duration::from_secs(30);
/// Polls every 0.2 s to 1 s: tests that do not depend on callbacks.
pub const FAST: (u64, u64) = (200, 1_000);
/// Polls after 30 s at the earliest: only a callback explains a change
/// seen sooner.
pub const SLOW: (u64, u64) = (30_000, 60_000);
pub const HDFS_USER: &str = "edp";

pub struct Env {
    pub oozie: OozieServer,
    pub app: TestApp,
    pub cluster: String,
}

pub async fn start(polling: (u64, u64)) -> Env {
    build::ensure_package_built("edp-engine-oozie");
    let plugin = build::artifact(&format!("libedp_engine_oozie.{}", std::env::consts::DLL_EXTENSION));
    let oozie =
        OozieServer::start_with(Options { notification_interval: Duration::from_millis(200), ..Options::default() })
            .await;
    let app = TestApp::bare()
        .plugin(plugin)
        .env("EDP__ENGINES__OOZIE__POLL_INITIAL_MS", &polling.0.to_string())
        .env("EDP__ENGINES__OOZIE__POLL_MAX_MS", &polling.1.to_string())
        .env("EDP__ENGINES__OOZIE__REQUEST_TIMEOUT_MS", "5000")
        .start()
        .await;
    let cluster = register(&app, "hadoop", cluster_configs(&oozie)).await;
    assert_eq!(cluster["status"], "Active", "{cluster}");
    let cluster = cluster["id"].as_str().expect("cluster id").to_string();
    Env { oozie, app, cluster }
}

pub fn cluster_configs(oozie: &OozieServer) -> Value {
    json!({
        "oozie_url": oozie.oozie_url(),
        "name_node": NAME_NODE,
        "job_tracker": JOB_TRACKER,
        "hdfs_user": HDFS_USER,
        "webhdfs_url": oozie.webhdfs_url(),
        "oozie.launcher.mapreduce.map.memory.mb": 1024,
    })
}

/// `POST /v2/clusters`; the cluster as answered.
pub async fn register(app: &TestApp, name: &str, configs: Value) -> Value {
    let reply = app
        .post("/v2/clusters", json!({"name": name, "plugin_name": "oozie", "cluster_configs": configs}))
        .await
        .expect(202);
    reply["cluster"].clone()
}

pub async fn binary(app: &TestApp, name: &str, content: &[u8]) -> String {
    app.upload_binary(name, content).await
}

pub async fn template(app: &TestApp, name: &str, kind: &str, mains: &[&str], libs: &[&str]) -> String {
    let body = json!({"name": name, "type": kind, "mains": mains, "libs": libs});
    app.post("/v2/job-templates", body).await.expect(202)["job_template"]["id"]
        .as_str()
        .expect("template id")
        .to_string()
}

pub async fn data_source(app: &TestApp, name: &str, url: &str) -> String {
    let body = json!({"name": name, "type": "hdfs", "url": url});
    app.post("/v2/data-sources", body).await.expect(202)["data_source"]["id"]
        .as_str()
        .expect("data source id")
        .to_string()
}

/// A Shell template, the quickest to launch; its id.
pub async fn shell_template(env: &Env, name: &str) -> String {
    let script = binary(&env.app, &format!("{name}.sh"), b"#!/bin/sh\necho hello\n").await;
    template(&env.app, name, "Shell", &[&script], &[]).await
}

pub async fn launch(env: &Env, template: &str, extra: Value) -> String {
    let mut body = json!({"job_template_id": template, "cluster_id": env.cluster, "job_configs": {}});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let job = env.app.post("/v2/jobs", body).await.expect(202);
    job["job"]["id"].as_str().expect("job id").to_string()
}

pub async fn job(env: &Env, id: &str) -> Value {
    env.app.get(&format!("/v2/jobs/{id}")).await.expect(200)["job"].clone()
}

/// Waits for the job's status; on timeout, says what the job was.
pub async fn wait_status(env: &Env, id: &str, wanted: &str, timeout: Duration) -> Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let job = job(env, id).await;
        if job["info"]["status"] == wanted {
            return job;
        }
        assert!(std::time::Instant::now() < deadline, "job {id} is not {wanted} after {timeout:?}: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The workflow an execution submitted, once it is there.
pub async fn workflow_of(env: &Env, execution: &str) -> JobView {
    eventually(&format!("a workflow for execution {execution}"), DEADLINE, || async {
        env.oozie.workflow_ids().iter().filter_map(|id| env.oozie.job(id)).find(|w| w.app_name.ends_with(execution))
    })
    .await
}

/// The app directory in HDFS, from the submitted `oozie.wf.application.path`.
pub fn app_dir(view: &JobView) -> String {
    view.conf["oozie.wf.application.path"]
        .strip_prefix(NAME_NODE)
        .expect("an app path in the cluster's HDFS")
        .to_string()
}

/// `PATCH /v2/jobs/{id}` with an action (`cancel`, `suspend`, `resume`).
/// edpd refuses it while a poll of the job is under way ("busy ... again
/// in a moment"): a client tries again.
pub async fn act(env: &Env, id: &str, action: &str) {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let reply = env.app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": action}})).await;
        if reply.status == 202 {
            return;
        }
        let busy = reply.body["error_message"].as_str().is_some_and(|m| m.contains("busy"));
        assert!(busy && std::time::Instant::now() < deadline, "{action} refused: {} {}", reply.status, reply.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
