//! Bad input gets a 4xx in Sahara's error shape, never a 5xx, and nothing
//! is written.

use edp_tests::{Reply, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{local_cluster, shell_template, upload_binary};

/// How many objects of each kind exist.
async fn counts(app: &TestApp) -> Vec<usize> {
    let mut counts = Vec::new();
    for (path, key) in [
        ("/v2/clusters", "clusters"),
        ("/v2/data-sources", "data_sources"),
        ("/v2/job-binary-internals", "binaries"),
        ("/v2/job-binaries", "binaries"),
        ("/v2/job-templates", "job_templates"),
        ("/v2/jobs", "jobs"),
    ] {
        counts.push(app.get(path).await.expect(200)[key].as_array().expect("a list").len());
    }
    counts
}

#[track_caller]
fn assert_refused(reply: &Reply, status: u16, name: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error_code"], json!(status), "{}", reply.body);
    assert_eq!(reply.error_name(), name, "{}", reply.body);
    assert!(reply.body["error_message"].as_str().is_some_and(|m| !m.is_empty()), "{}", reply.body);
}

#[tokio::test]
async fn bad_requests_are_refused_cleanly_and_write_nothing() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "ok", "true\n").await;
    let pig = {
        let main = upload_binary(&app, "script.pig", b"A = LOAD '$INPUT';").await;
        app.post("/v2/job-templates", json!({"name": "pig", "type": "Pig", "mains": [main]})).await.expect(202)["job_template"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let before = counts(&app).await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // Malformed JSON.
    let reply = app.send_raw(Method::POST, "/v2/jobs", b"{\"job_template_id\": ".to_vec()).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply = app.send_raw(Method::POST, "/v2/data-sources", b"[1, 2]".to_vec()).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");

    // Unknown ids: in the path, 404; named in a body, 400.
    assert_refused(&app.get(&format!("/v2/jobs/{unknown}")).await, 404, "NOT_FOUND");
    assert_refused(&app.get("/v2/job-templates/not-even-a-uuid").await, 404, "NOT_FOUND");
    assert_refused(
        &app.patch(&format!("/v2/jobs/{unknown}"), json!({"info": {"status": "cancel"}})).await,
        404,
        "NOT_FOUND",
    );
    assert_refused(&app.delete(&format!("/v2/data-sources/{unknown}")).await, 404, "NOT_FOUND");
    let reply = app.post("/v2/jobs", json!({"job_template_id": unknown, "cluster_id": cluster})).await;
    assert_refused(&reply, 400, "INVALID_REFERENCE");

    // Unknown cluster.
    let reply = app.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": unknown})).await;
    assert_refused(&reply, 400, "INVALID_REFERENCE");

    // A job type the cluster's engine does not run.
    let reply = app.post("/v2/jobs", json!({"job_template_id": pig, "cluster_id": cluster})).await;
    assert_refused(&reply, 400, "INVALID_REFERENCE");
    assert!(
        reply.body["error_message"].as_str().unwrap_or_default().contains("doesn't support job type 'Pig'"),
        "{}",
        reply.body
    );

    // Missing required fields; unknown fields; wrong types.
    assert_refused(&app.post("/v2/data-sources", json!({"name": "in", "type": "file"})).await, 400, "VALIDATION_ERROR");
    assert_refused(&app.post("/v2/jobs", json!({"cluster_id": cluster})).await, 400, "VALIDATION_ERROR");
    assert_refused(
        &app.post("/v2/job-templates", json!({"name": "t", "type": "Shell", "colour": "blue"})).await,
        400,
        "VALIDATION_ERROR",
    );
    let reply = app.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"configs": {"k": {"nested": 1}}}})).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    assert_refused(
        &app.post("/v2/data-sources", json!({"name": "in", "type": "swift", "url": "swift://c/o"})).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_refused(
        &app.post("/v2/data-sources", json!({"name": "in", "type": "file", "url": "relative/path"})).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_refused(
        &app.post("/v2/job-templates", json!({"name": "t", "type": "Shell", "mains": []})).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_refused(
        &app.post("/v2/job-templates", json!({"name": "t", "type": "NoSuchType"})).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_refused(
        &app.post("/v2/clusters", json!({"name": "c", "plugin_name": "no-such-engine"})).await,
        400,
        "INVALID_REFERENCE",
    );
    assert_refused(&app.get("/v2/jobs?colour=blue").await, 400, "INVALID_PARAMS_ON_REQUEST");
    assert_refused(&app.get("/v2/jobs?limit=many").await, 400, "INVALID_PARAMS_ON_REQUEST");
    assert_refused(&app.get("/v2/jobs?sort_by=password").await, 400, "VALIDATION_ERROR");

    // An engine's own check: a Shell job needs its script to exist.
    let reply = app.post("/v2/job-templates", json!({"name": "t2", "type": "Shell", "mains": [unknown]})).await;
    assert_refused(&reply, 400, "INVALID_REFERENCE");

    // Oversized bodies.
    let huge =
        json!({"name": "big", "type": "file", "url": "file:///tmp/x", "description": "x".repeat(2 * 1024 * 1024)});
    assert_refused(&app.post("/v2/data-sources", huge).await, 413, "DATA_TOO_BIG");
    let reply = app.send_raw(Method::PUT, "/v2/job-binary-internals/big.bin", vec![0u8; 6 * 1024 * 1024]).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.error_name(), "DATA_TOO_BIG");

    // Names that would escape a directory.
    let reply = app.send_raw(Method::PUT, "/v2/job-binary-internals/..%2Fescape.sh", b"x".to_vec()).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply = app.send_raw(Method::PUT, "/v2/job-binary-internals/.hidden", b"x".to_vec()).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply = app.post("/v2/job-binaries", json!({"name": "../escape.sh", "url": "file:///bin/true"})).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply = app.post("/v2/job-binaries", json!({"name": "ok.sh", "url": "file:///tmp/../etc/passwd"})).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");

    // Routes and methods that do not exist.
    assert_refused(&app.get("/v2/no-such-thing").await, 404, "NOT_FOUND");
    assert_refused(&app.send_raw(Method::PUT, "/v2/jobs", Vec::new()).await, 405, "METHOD_NOT_ALLOWED");

    assert_eq!(counts(&app).await, before, "a refused request wrote something");
}

#[tokio::test]
async fn secrets_and_extra_are_never_shown() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let ds = app
        .post(
            "/v2/data-sources",
            json!({"name": "s", "type": "hdfs", "url": "/in", "credentials": {"user": "u", "password": "hunter2"}}),
        )
        .await
        .expect(202);
    let binary = app
        .post(
            "/v2/job-binaries",
            json!({"name": "t.sh", "url": "file:///bin/true", "extra": {"user": "u", "password": "hunter2"}}),
        )
        .await
        .expect(202);
    let template = shell_template(&app, "secretive", "true\n").await;
    let job = app
        .post("/v2/jobs", json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"params": {"DB_PASSWORD": "hunter2"}, "configs": {"fs.s3a.secret.key": "hunter2"}}}))
        .await
        .expect(202);
    let job_id = job["job"]["id"].as_str().expect("id");

    let mut seen: Vec<Value> = vec![ds, binary, job.clone()];
    for path in ["/v2/data-sources", "/v2/job-binaries", "/v2/jobs", "/v2/clusters"] {
        seen.push(app.get(path).await.expect(200));
    }
    seen.push(app.get(&format!("/v2/jobs/{job_id}?refresh_status=true")).await.expect(200));
    for body in &seen {
        let text = body.to_string();
        assert!(!text.contains("hunter2"), "a secret leaked: {text}");
        assert!(!text.contains("\"extra\"") && !text.contains("\"credentials\""), "internal fields leaked: {text}");
    }
    assert!(!app.log().contains("hunter2"), "a secret reached the log");
}
