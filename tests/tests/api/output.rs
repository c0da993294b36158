//! `GET /v2/jobs/{id}/output`: a finished job's result, paged like the
//! logs; and the job list filtered by engine.

use std::time::Duration;

use edp_tests::TestApp;
use serde_json::json;

use crate::helpers::{TERMINAL, local_cluster, shell_template, wait_for};

/// Writes two part files (and Hadoop's marker) into its output directory,
/// then, if asked, waits for the gate.
const WRITER: &str = r#"mkdir -p "$EDP_OUTPUT"
printf 'apple\t3\n' > "$EDP_OUTPUT/part-00000"
printf 'pear\t1\nplum\t2\n' > "$EDP_OUTPUT/part-00001"
touch "$EDP_OUTPUT/_SUCCESS"
if [ -n "$1" ]; then while [ ! -e "$1" ]; do sleep 0.05; done; fi
"#;

#[tokio::test]
async fn a_finished_jobs_output_is_read_in_pages_across_its_part_files() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "writer", WRITER).await;
    let out = app.root.path().join("out");
    let ds = app
        .post("/v2/data-sources", json!({"name": "out", "type": "file", "url": format!("file://{}", out.display())}))
        .await
        .expect(202);
    let output_id = ds["data_source"]["id"].as_str().unwrap().to_string();
    let gate = app.root.path().join("gate");
    let launch = |args: serde_json::Value, output: Option<&str>| {
        let mut body = json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"args": args}});
        if let Some(output) = output {
            body["output_id"] = json!(output);
        }
        app.post("/v2/jobs", body)
    };
    let id = launch(json!([gate.display().to_string()]), Some(&output_id)).await.expect(202)["job"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Not before it has finished.
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;
    let early = app.get(&format!("/v2/jobs/{id}/output")).await;
    assert_eq!(early.status, 400, "{}", early.body);
    assert!(early.body["error_message"].as_str().unwrap().contains("once it has finished"), "{}", early.body);
    std::fs::write(&gate, "").unwrap();
    wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;

    let whole = app.get(&format!("/v2/jobs/{id}/output")).await.expect(200);
    assert_eq!(whole["output"]["data"], "apple\t3\npear\t1\nplum\t2\n");
    assert_eq!(whole["output"]["complete"], true);
    assert_eq!(whole["output"]["url"], format!("file://{}", out.display()));

    let first = app.get(&format!("/v2/jobs/{id}/output?limit=10")).await.expect(200)["output"].clone();
    assert_eq!(
        (first["data"].as_str(), first["next_offset"].as_u64(), first["complete"].as_bool()),
        (Some("apple\t3\npe"), Some(10), Some(false))
    );
    let rest = app.get(&format!("/v2/jobs/{id}/output?offset=10&limit=100")).await.expect(200)["output"].clone();
    assert_eq!((rest["data"].as_str(), rest["complete"].as_bool()), (Some("ar\t1\nplum\t2\n"), Some(true)));

    let bad = app.get(&format!("/v2/jobs/{id}/output?limit=0")).await;
    assert_eq!(bad.status, 400);
    let unknown = app.get(&format!("/v2/jobs/{id}/output?stream=stdout")).await;
    assert_eq!(unknown.error_name(), "INVALID_PARAMS_ON_REQUEST");
    assert_eq!(app.get(&format!("/v2/jobs/{}/output", uuid::Uuid::new_v4())).await.status, 404);

    // A job without an output data source has nothing to show.
    let plain = launch(json!([]), None).await.expect(202)["job"]["id"].as_str().unwrap().to_string();
    wait_for(&app, &plain, TERMINAL, Duration::from_secs(30)).await;
    let none = app.get(&format!("/v2/jobs/{plain}/output")).await;
    assert_eq!(none.status, 400);
    assert!(none.body["error_message"].as_str().unwrap().contains("no output data source"), "{}", none.body);

    // The list by engine.
    let local = app.get("/v2/jobs?engine=local").await.expect(200);
    assert_eq!(local["jobs"].as_array().map(Vec::len), Some(2));
    let oozie = app.get("/v2/jobs?engine=oozie").await.expect(200);
    assert_eq!(oozie["jobs"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn another_projects_job_output_is_not_found() {
    let app = TestApp::builder()
        .file(
            "edp.toml",
            "[auth]\ntokens = { \"token-a\" = \"team-a\", \"token-b\" = \"team-b\" }\nallow_anonymous = true\n\n[paths]\nfile_roots = [\".\"]\n\n[clusters.local]\nplugin_name = \"local\"\nprojects = [\"default\", \"team-a\", \"team-b\"]\n",
        )
        .start()
        .await;
    // Anonymous requests act for the default project.
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "writer", WRITER).await;
    let out = app.root.path().join("out");
    let ds = app
        .post("/v2/data-sources", json!({"name": "out", "type": "file", "url": format!("file://{}", out.display())}))
        .await
        .expect(202);
    let job = app
        .post(
            "/v2/jobs",
            json!({"job_template_id": template, "cluster_id": cluster, "output_id": ds["data_source"]["id"]}),
        )
        .await
        .expect(202);
    let id = job["job"]["id"].as_str().unwrap().to_string();
    wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    app.get(&format!("/v2/jobs/{id}/output")).await.expect(200);
    let other = app
        .http
        .get(format!("{}/v2/jobs/{id}/output", app.base))
        .header("X-Auth-Token", "token-b")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}
