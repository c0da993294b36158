//! Every object's life through the API: the same test runs on SQLite and on
//! Postgres (see `postgres`).

use std::time::Duration;

use edp_tests::TestApp;
use serde_json::json;

use crate::helpers::{TERMINAL, local_cluster, read_log, upload_binary, wait_for};

/// Creates, reads, updates, runs and deletes one of everything.
pub async fn lifecycle(app: &TestApp) {
    let cluster = local_cluster(app).await;

    // Data sources.
    let input_dir = app.root.path().join("in");
    std::fs::create_dir_all(&input_dir).expect("input dir");
    std::fs::write(input_dir.join("words.txt"), "a b a\n").expect("input");
    let input = app
        .post("/v2/data-sources", json!({"name": "in", "type": "file", "url": format!("file://{}", input_dir.display()), "description": "words"}))
        .await
        .expect(202)["data_source"]
        .clone();
    let input_id = input["id"].as_str().expect("id").to_string();
    let out_url = format!("file://{}/out-%JOB_EXEC_ID%", app.root.path().display());
    let output = app.post("/v2/data-sources", json!({"name": "out", "type": "file", "url": out_url})).await.expect(202)
        ["data_source"]
        .clone();
    let output_id = output["id"].as_str().expect("id").to_string();
    let patched =
        app.patch(&format!("/v2/data-sources/{input_id}"), json!({"description": "the words"})).await.expect(202);
    assert_eq!(patched["data_source"]["description"], "the words");
    assert_eq!(
        app.get(&format!("/v2/data-sources/{input_id}")).await.expect(200)["data_source"]["description"],
        "the words"
    );
    assert_eq!(
        app.get("/v2/data-sources?type=file").await.expect(200)["data_sources"].as_array().map(Vec::len),
        Some(2)
    );

    // A binary and a template.
    let script = "cat \"$EDP_INPUT\"/*.txt | tr ' ' '\\n' | sort | uniq -c > \"$EDP_OUTPUT\"\necho counted $1\n";
    let binary = upload_binary(app, "count.sh", script.as_bytes()).await;
    let data = app.http.get(format!("{}/v2/job-binaries/{binary}/data", app.base)).send().await.expect("data");
    assert_eq!(data.bytes().await.expect("bytes").as_ref(), script.as_bytes());
    let template = app
        .post(
            "/v2/job-templates",
            json!({"name": "count", "type": "Shell", "mains": [binary], "description": "counts words"}),
        )
        .await
        .expect(202)["job_template"]
        .clone();
    let template_id = template["id"].as_str().expect("id").to_string();
    assert_eq!(template["mains"][0]["id"], json!(binary));
    assert_eq!(template["mains"][0]["name"], "count.sh");
    let renamed =
        app.patch(&format!("/v2/job-templates/{template_id}"), json!({"name": "word-count"})).await.expect(202);
    assert_eq!(renamed["job_template"]["name"], "word-count");
    assert_eq!(
        app.get("/v2/job-templates?type=Shell").await.expect(200)["job_templates"].as_array().map(Vec::len),
        Some(1)
    );

    // The job.
    let job = app
        .post(
            "/v2/jobs",
            json!({"job_template_id": template_id, "cluster_id": cluster, "input_id": input_id, "output_id": output_id, "job_configs": {"args": ["words"]}}),
        )
        .await
        .expect(202)["job"]
        .clone();
    let id = job["id"].as_str().expect("id").to_string();
    assert_eq!(job["job_template_id"], json!(template_id));
    assert_eq!(job["input_id"], json!(input_id));
    let out_path = format!("{}/out-{id}", app.root.path().display());
    assert_eq!(job["data_source_urls"][&output_id], json!(format!("file://{out_path}")));

    let done = wait_for(app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["info"]["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["return_code"], 0);
    assert!(done["engine_job_id"].is_string());
    assert_eq!(
        std::fs::read_to_string(&out_path).expect("output").split_whitespace().collect::<Vec<_>>(),
        ["2", "a", "1", "b"]
    );
    assert_eq!(read_log(app, &id, "stdout").await, "counted words\n");

    let refreshed = app.get(&format!("/v2/jobs/{id}?refresh_status=True")).await.expect(200);
    assert_eq!(refreshed["job"]["info"]["status"], "SUCCEEDED");
    let listed = app.get("/v2/jobs?status=SUCCEEDED").await.expect(200);
    assert!(listed["jobs"].as_array().expect("jobs").iter().any(|j| j["id"] == json!(id)));
    assert_eq!(app.get("/v2/jobs?status=RUNNING").await.expect(200)["jobs"], json!([]));
    assert_eq!(
        app.get(&format!("/v2/jobs?cluster_id={cluster}")).await.expect(200)["jobs"].as_array().map(Vec::len),
        Some(1)
    );
    let public = app.patch(&format!("/v2/jobs/{id}"), json!({"is_public": true})).await.expect(202);
    assert_eq!(public["job"]["is_public"], true);

    // What is used cannot go; once unused, everything can.
    assert_eq!(app.delete(&format!("/v2/job-templates/{template_id}")).await.status, 400);
    assert_eq!(app.delete(&format!("/v2/data-sources/{input_id}")).await.status, 400);
    app.delete(&format!("/v2/jobs/{id}")).await.expect(204);
    assert_eq!(app.delete(&format!("/v2/job-binaries/{binary}")).await.status, 400);
    app.delete(&format!("/v2/job-templates/{template_id}")).await.expect(204);
    app.delete(&format!("/v2/job-binaries/{binary}")).await.expect(204);
    app.delete(&format!("/v2/data-sources/{input_id}")).await.expect(204);
    app.delete(&format!("/v2/data-sources/{output_id}")).await.expect(204);
    for (path, key) in [
        ("/v2/jobs", "jobs"),
        ("/v2/job-templates", "job_templates"),
        ("/v2/job-binaries", "binaries"),
        ("/v2/data-sources", "data_sources"),
    ] {
        assert_eq!(app.get(path).await.expect(200)[key], json!([]), "{path} not empty");
    }
}

#[tokio::test]
async fn the_whole_lifecycle_on_sqlite() {
    let app = TestApp::spawn().await;
    lifecycle(&app).await;
    assert!(app.data_dir().join("edp.sqlite").exists(), "the SQLite file is created on first start");
}
