//! Flows on an Oozie cluster: `use_existing` asks the engine whether an
//! HDFS output already holds data (WebHDFS GETFILESTATUS / LISTSTATUS).

use edp_oozie_server::{NAME_NODE, Outcome};
use edp_tests::eventually;
use serde_json::{Value, json};

use crate::common::{DEADLINE, FAST, HDFS_USER, data_source, shell_template, start, workflow_of};

/// Writes a file into the test server's HDFS the way a Hadoop client does:
/// CREATE at the NameNode, then the bytes to the DataNode it redirects to.
pub(crate) async fn put(webhdfs: &str, path: &str, bytes: &'static [u8]) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let url = format!("{webhdfs}/webhdfs/v1{path}?op=CREATE&user.name={HDFS_USER}");
    let first = http.put(url).send().await.expect("CREATE");
    assert_eq!(first.status(), 307, "the NameNode should redirect");
    let location = first.headers()["location"].to_str().expect("a location").to_string();
    let second = http.put(location).body(bytes).send().await.expect("CREATE at the DataNode");
    assert_eq!(second.status(), 201);
}

#[tokio::test]
async fn a_flow_skips_a_job_whose_hdfs_output_exists_and_runs_the_one_whose_output_is_missing() {
    let env = start(FAST).await;
    let template = shell_template(&env, "step").await;
    let made = data_source(&env.app, "made", "/user/edp/out/made").await;
    let fresh = data_source(&env.app, "fresh", &format!("{NAME_NODE}/user/edp/out/fresh")).await;
    put(&env.oozie.webhdfs_url(), "/user/edp/out/made/part-00000", b"made before").await;

    let job = |key: &str, output: &str| json!({"key": key, "job_template_id": template, "cluster_id": env.cluster, "outputs": [output]});
    let flow = env
        .app
        .post(
            "/v2/flows",
            json!({"name": "hdfs", "use_existing": true, "jobs": [job("made", &made), job("fresh", &fresh)]}),
        )
        .await
        .expect(202);
    let id = flow["flow"]["id"].as_str().expect("flow id").to_string();
    let state = |flow: &Value, key: &str| -> Value {
        flow["jobs"].as_array().expect("jobs").iter().find(|j| j["key"] == key).cloned().unwrap_or(Value::Null)
    };

    let running = eventually("fresh to run", DEADLINE, || async {
        let flow = env.app.get(&format!("/v2/flows/{id}")).await.expect(200)["flow"].clone();
        (state(&flow, "fresh")["state"] == "RUNNING").then_some(flow)
    })
    .await;
    let made_job = state(&running, "made");
    assert_eq!(made_job["state"], "SKIPPED", "{running}");
    assert_eq!(made_job["reason"], "output exists: /user/edp/out/made");
    assert!(state(&running, "fresh")["reason"].as_str().unwrap_or_default().contains("output missing"), "{running}");

    let execution = state(&running, "fresh")["execution_id"].as_str().expect("an execution").to_string();
    let view = workflow_of(&env, &execution).await;
    env.oozie.finish(&view.id, Outcome::Succeeded).expect("finish the workflow");
    let done = eventually("the flow to end", DEADLINE, || async {
        let flow = env.app.get(&format!("/v2/flows/{id}")).await.expect(200)["flow"].clone();
        (flow["status"] != "RUNNING").then_some(flow)
    })
    .await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(env.oozie.submissions(), 1, "only the job whose output was missing was submitted");
}
