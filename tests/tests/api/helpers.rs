//! Building the objects a launch needs, through the API.

use std::time::Duration;

use edp_tests::{Caller, TestApp, eventually};
use serde_json::{Value, json};

/// Uploads `script` and registers it as a job binary; returns its id.
pub async fn upload_binary(app: &TestApp, name: &str, content: &[u8]) -> String {
    app.upload_binary(name, content).await
}

/// A Shell template running `script`; returns the template id.
pub async fn shell_template(app: &TestApp, name: &str, script: &str) -> String {
    let binary = upload_binary(app, &format!("{name}.sh"), script.as_bytes()).await;
    let template =
        app.post("/v2/job-templates", json!({"name": name, "type": "Shell", "mains": [binary]})).await.expect(202);
    template["job_template"]["id"].as_str().expect("template id").to_string()
}

/// The id of the cluster declared as `local` at start.
pub async fn local_cluster(app: &TestApp) -> String {
    let clusters = app.get("/v2/clusters?name=local").await.expect(200);
    let cluster = &clusters["clusters"][0];
    assert_eq!(cluster["status"], "Active", "the local cluster is not usable: {cluster}");
    cluster["id"].as_str().expect("cluster id").to_string()
}

/// Launches `template` on `cluster`; returns the execution id.
pub async fn launch(app: &TestApp, template: &str, cluster: &str, job_configs: Value) -> String {
    let job = app
        .post("/v2/jobs", json!({"job_template_id": template, "cluster_id": cluster, "job_configs": job_configs}))
        .await
        .expect(202);
    assert_eq!(job["job"]["info"]["status"], "PENDING");
    job["job"]["id"].as_str().expect("job id").to_string()
}

/// Waits until the job's status is one of `wanted`; returns the job.
pub async fn wait_for(app: &TestApp, id: &str, wanted: &[&str], timeout: Duration) -> Value {
    wait_as(&app.anonymous(), id, wanted, timeout).await
}

/// [`wait_for`], asking as `caller`.
pub async fn wait_as(caller: &Caller<'_>, id: &str, wanted: &[&str], timeout: Duration) -> Value {
    eventually(&format!("job {id} to reach {wanted:?}"), timeout, || async {
        let job = caller.get(&format!("/v2/jobs/{id}")).await.expect(200)["job"].clone();
        let status = job["info"]["status"].as_str().unwrap_or_default().to_string();
        wanted.contains(&status.as_str()).then_some(job)
    })
    .await
}

pub const TERMINAL: &[&str] = &["SUCCEEDED", "FAILED", "KILLED", "DONEWITHERROR"];

/// The whole of one log stream.
pub async fn read_log(app: &TestApp, id: &str, stream: &str) -> String {
    app.read_log(id, stream).await
}

/// Whether any process is left in the job's process group.
pub fn group_alive(app: &TestApp, execution_id: &str) -> bool {
    let pgid: i32 = std::fs::read_to_string(app.job_dir(execution_id).join("job.pid"))
        .expect("job.pid")
        .trim()
        .parse()
        .expect("a pid");
    let pid = rustix::process::Pid::from_raw(pgid).expect("a positive pid");
    rustix::process::test_kill_process_group(pid).is_ok()
}
