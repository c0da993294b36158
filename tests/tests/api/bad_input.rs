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
    bad_requests(&app).await;
    unstorable_bytes(&app).await;
}

/// The bad-input suite, on whatever database `app` runs (see `postgres`).
pub async fn bad_requests(app: &TestApp) {
    let cluster = local_cluster(app).await;
    let template = shell_template(app, "ok", "true\n").await;
    let pig = {
        let main = upload_binary(app, "script.pig", b"A = LOAD '$INPUT';").await;
        app.post("/v2/job-templates", json!({"name": "pig", "type": "Pig", "mains": [main]})).await.expect(202)["job_template"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let before = counts(app).await;
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

    assert_eq!(counts(app).await, before, "a refused request wrote something");
}

/// Every string of every body, and ids, filters and names in URLs, holding
/// bytes no database stores as text (NUL, invalid UTF-8): a 400 in Sahara's
/// shape, nothing written, on SQLite and Postgres alike.
pub async fn unstorable_bytes(app: &TestApp) {
    let cluster = local_cluster(app).await;
    let template = shell_template(app, "bytes-ok", "true\n").await;
    let internal = app.send_raw(Method::PUT, "/v2/job-binary-internals/bytes.sh", b"true\n".to_vec()).await.expect(202)
        ["job_binary_internal"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let ds = app.post("/v2/data-sources", json!({"name": "bytes-ds", "type": "hdfs", "url": "/x"})).await.expect(202)
        ["data_source"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let before = counts(app).await;
    let launch = json!({"job_template_id": template, "cluster_id": cluster, "input_id": ds,
        "job_configs": {"configs": {"k": "v"}, "params": {"P": "v"}, "args": ["a"]}, "interface": {}});
    let bodies: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/v2/data-sources".into(),
            json!({"name": "ds", "type": "file", "url": "file:///tmp/x",
            "description": "d", "credentials": {"user": "u"}}),
        ),
        (
            Method::POST,
            "/v2/job-binaries".into(),
            json!({"name": "b.sh", "url": format!("internal-db://{internal}"),
            "description": "d", "extra": {"user": "u"}}),
        ),
        (
            Method::POST,
            "/v2/job-templates".into(),
            json!({"name": "t", "type": "Shell", "mains": [], "description": "d",
            "interface": [{"name": "x", "mapping_type": "args", "location": "0", "required": false, "default": "v"}]}),
        ),
        (
            Method::POST,
            "/v2/clusters".into(),
            json!({"name": "c", "plugin_name": "local", "description": "d",
            "cluster_configs": {"shell": "/bin/sh"}}),
        ),
        (Method::POST, "/v2/jobs".into(), launch.clone()),
        (Method::POST, "/v2/jobs/dry-run".into(), launch),
        (
            Method::POST,
            "/v2/flows".into(),
            json!({"name": "f", "jobs": [{"key": "k", "job_template_id": template,
            "cluster_id": cluster, "inputs": [ds], "outputs": [], "job_configs": {"args": ["a"]}}]}),
        ),
        (Method::PATCH, format!("/v2/data-sources/{ds}"), json!({"description": "d", "url": "/y"})),
        (Method::PATCH, format!("/v2/job-templates/{template}"), json!({"name": "n", "description": "d"})),
        (Method::PATCH, format!("/v2/clusters/{cluster}"), json!({"description": "d"})),
    ];
    let mut cases = 0;
    for (method, path, body) in &bodies {
        for variant in with_nul_in_each_string(body) {
            let reply = app.send_raw(method.clone(), path, serde_json::to_vec(&variant).expect("json")).await;
            assert_refused(&reply, 400, "VALIDATION_ERROR");
            cases += 1;
        }
        // The same body with a byte that is not UTF-8 in its first string.
        let text = body.to_string();
        let at = text.find(":\"").expect("a string value") + 2;
        let mut raw = text.into_bytes();
        raw.insert(at, 0xFF);
        assert_refused(&app.send_raw(method.clone(), path, raw).await, 400, "VALIDATION_ERROR");
    }
    assert!(cases > 40, "only {cases} string positions were tried");
    // Ids, names and filters in URLs.
    for path in [
        "/v2/jobs/%00",
        "/v2/jobs/%FF%FE",
        "/v2/data-sources/ab%00cd",
        "/v2/job-templates/%00/",
        "/v2/jobs/%00/logs",
        "/v2/jobs?status=%00",
        "/v2/jobs?marker=%00",
        "/v2/data-sources?name=%00",
        "/v2/job-binaries?name=%FF",
        "/v2/clusters?name=a%00&plugin_name=local",
        "/v2/flows/%C3%28",
        "/v1.1/%00/job-binary-internals",
    ] {
        assert_refused(&app.get(path).await, 400, "INVALID_PARAMS_ON_REQUEST");
    }
    assert_refused(&app.delete("/v2/job-binaries/%00").await, 400, "INVALID_PARAMS_ON_REQUEST");
    assert_refused(&app.patch("/v2/jobs/%00", json!({"is_public": true})).await, 400, "INVALID_PARAMS_ON_REQUEST");
    for name in ["a%00b.sh", "%FF.sh"] {
        let reply = app.send_raw(Method::PUT, &format!("/v2/job-binary-internals/{name}"), b"x".to_vec()).await;
        assert_refused(&reply, 400, "INVALID_PARAMS_ON_REQUEST");
    }
    assert_eq!(counts(app).await, before, "a refused request wrote something");
}

/// `body` once per string in it (values and keys), that string with a NUL.
fn with_nul_in_each_string(body: &Value) -> Vec<Value> {
    fn walk(value: &Value, out: &mut Vec<Value>, rebuild: &dyn Fn(Value) -> Value) {
        match value {
            Value::String(s) => out.push(rebuild(Value::String(format!("{s}\0x")))),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let items = items.clone();
                    walk(item, out, &move |v| {
                        let mut items = items.clone();
                        items[i] = v;
                        rebuild(Value::Array(items))
                    });
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let (map1, key1) = (map.clone(), key.clone());
                    walk(item, out, &move |v| {
                        let mut map = map1.clone();
                        map.insert(key1.clone(), v);
                        rebuild(Value::Object(map))
                    });
                    let mut renamed = map.clone();
                    let item = renamed.remove(key).expect("the key");
                    renamed.insert(format!("{key}\0"), item);
                    out.push(rebuild(Value::Object(renamed)));
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, &mut out, &|v| v);
    out
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
