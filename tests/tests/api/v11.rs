//! Sahara's API v1.1 (`/v1.1/{project}/...`): its names, verbs and status
//! codes over the same objects as v2, the same error shape for bad input,
//! and the same project scoping. The version documents of `GET /`.

use std::time::Duration;

use edp_tests::{Reply, TestApp, eventually};
use reqwest::Method;
use serde_json::{Value, json};

const P: &str = "/v1.1/0123456789abcdef0123456789abcdef";

/// edpd in the single-user mode, whose one project is the one in `P` (in
/// that mode a URL's project names the one project, whatever it says).
async fn spawn() -> TestApp {
    TestApp::builder().env("EDP__AUTH__DEFAULT_PROJECT", P.trim_start_matches("/v1.1/")).start().await
}

#[track_caller]
fn assert_refused(reply: &Reply, status: u16, name: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error_code"], json!(status), "{}", reply.body);
    assert_eq!(reply.error_name(), name, "{}", reply.body);
    assert!(reply.body["error_message"].as_str().is_some_and(|m| !m.is_empty()), "{}", reply.body);
}

fn id(body: &Value, key: &str) -> String {
    body[key]["id"].as_str().unwrap_or_else(|| panic!("no {key}.id in {body}")).to_string()
}

/// A Shell "job" (v1.1's job template) running `script`, through v1.1.
async fn shell_job(app: &TestApp, prefix: &str, name: &str, script: &str) -> String {
    let path = format!("{prefix}/job-binary-internals/{name}.sh");
    let internal = app.send_raw(Method::PUT, &path, script.as_bytes().to_vec()).await.expect(202);
    let url = format!("internal-db://{}", id(&internal, "job_binary_internal"));
    let binary = app.post(&format!("{prefix}/job-binaries"), json!({"name": format!("{name}.sh"), "url": url})).await;
    let binary = id(&binary.expect(202), "job_binary");
    let job = app.post(&format!("{prefix}/jobs"), json!({"name": name, "type": "Shell", "mains": [binary]})).await;
    id(&job.expect(202), "job")
}

async fn local_cluster(app: &TestApp, prefix: &str) -> String {
    let clusters = app.get(&format!("{prefix}/clusters?name=local")).await.expect(200);
    clusters["clusters"][0]["id"].as_str().expect("the local cluster").to_string()
}

/// Polls v1.1's refresh-status until the execution's status is in `wanted`.
async fn wait_for(app: &TestApp, prefix: &str, execution: &str, wanted: &[&str]) -> Value {
    eventually(&format!("execution {execution} to reach {wanted:?}"), Duration::from_secs(60), || async {
        let reply = app.get(&format!("{prefix}/job-executions/{execution}/refresh-status")).await.expect(200);
        let je = reply["job_execution"].clone();
        wanted.contains(&je["info"]["status"].as_str().unwrap_or_default()).then_some(je)
    })
    .await
}

#[tokio::test]
async fn each_version_link_of_the_root_answers_with_its_version_document() {
    let app = spawn().await;
    let root = app.get("/").await.expect(300);
    let versions = root["versions"].as_array().expect("versions");
    let ids: Vec<&str> = versions.iter().map(|v| v["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["v1.1", "v2"], "{root}");
    for version in versions {
        let href = version["links"][0]["href"].as_str().expect("a self link");
        let doc = app.get(href).await.expect(200);
        assert_eq!(&doc["version"], version, "{href}: {doc}");
    }
    // A v1.1 endpoint without its project: every first segment is a project,
    // so this is project `clusters` asking for nothing; the answer says why.
    let reply = app.get("/v1.1/clusters").await;
    assert_refused(&reply, 404, "NOT_FOUND");
    assert!(reply.body["error_message"].as_str().unwrap_or_default().contains("/v1.1/{project_id}/"), "{}", reply.body);
}

#[tokio::test]
async fn v11_answers_in_its_own_names_verbs_and_codes() {
    let app = spawn().await;
    let project = P.trim_start_matches("/v1.1/");

    // Clusters: `hadoop_version`, `tenant_id`; registration takes v1.1's name.
    let local = app.get(&format!("{P}/clusters?name=local")).await.expect(200)["clusters"][0].clone();
    let version = local["hadoop_version"].as_str().expect("the local cluster's hadoop_version").to_string();
    let cluster = app
        .post(&format!("{P}/clusters"), json!({"name": "mine", "plugin_name": "local", "hadoop_version": version}))
        .await
        .expect(202);
    let cluster = &cluster["cluster"];
    assert_eq!((cluster["hadoop_version"].as_str(), cluster["tenant_id"].as_str()), (Some(&*version), Some(project)));
    assert!(cluster.get("plugin_version").is_none() && cluster.get("project_id").is_none(), "{cluster}");
    let sorted = app.get(&format!("{P}/clusters?sort_by=-hadoop_version&hadoop_version={version}")).await.expect(200);
    assert_eq!(sorted["clusters"].as_array().map(Vec::len), Some(2), "mine and local: {sorted}");

    // Data sources: created with POST, updated with PUT (202), credentials never shown.
    let source = app
        .post(
            &format!("{P}/data-sources"),
            json!({"name": "in", "type": "hdfs", "url": "hdfs://nn/in", "credentials": {"user": "u", "password": "hunter2"}}),
        )
        .await
        .expect(202);
    let source_id = id(&source, "data_source");
    let path = format!("{P}/data-sources/{source_id}");
    assert_eq!(app.put(&path, json!({"description": "d"})).await.expect(202)["data_source"]["description"], "d");
    assert_refused(&app.patch(&path, json!({"description": "x"})).await, 405, "METHOD_NOT_ALLOWED");
    let shown = app.get(&path).await.expect(200);
    assert!(!shown.to_string().contains("hunter2") && shown["data_source"].get("credentials").is_none(), "{shown}");
    assert_eq!(shown["data_source"]["tenant_id"], project);

    // A job (template) launched with POST /jobs/{id}/execute.
    let job = shell_job(&app, P, "hello", "echo hello\n").await;
    let local = local["id"].as_str().expect("id").to_string();
    let launched = app
        .post(&format!("{P}/jobs/{job}/execute"), json!({"cluster_id": local, "job_configs": {"args": ["x"]}}))
        .await
        .expect(202);
    let je = &launched["job_execution"];
    assert_eq!((je["job_id"].as_str(), je["info"]["status"].as_str()), (Some(&*job), Some("PENDING")), "{je}");
    assert!(je.get("job_template_id").is_none() && je.get("extra").is_none(), "{je}");
    let execution = je["id"].as_str().expect("id").to_string();
    let done = wait_for(&app, P, &execution, &["SUCCEEDED", "FAILED", "KILLED"]).await;
    assert_eq!(done["info"]["status"], "SUCCEEDED", "{done}");
    assert!(done["engine_job_id"].is_string() && done["oozie_job_id"] == done["engine_job_id"], "{done}");
    assert_eq!(done["return_code"], 0);

    // Listed under `job_executions`, filtered by v1.1's `job_id`, paged.
    let listed = app.get(&format!("{P}/job-executions?job_id={job}&status=SUCCEEDED&limit=1")).await.expect(200);
    assert_eq!(listed["job_executions"][0]["id"], execution.as_str(), "{listed}");
    assert!(listed["markers"].is_object(), "{listed}");

    // A long one, cancelled with GET .../cancel (200, the execution).
    let sleeper = shell_job(&app, P, "sleeper", "sleep 600\n").await;
    let launched = app.post(&format!("{P}/jobs/{sleeper}/execute"), json!({"cluster_id": local})).await.expect(202);
    let long = id(&launched, "job_execution");
    wait_for(&app, P, &long, &["RUNNING"]).await;
    let cancelled = app.get(&format!("{P}/job-executions/{long}/cancel")).await.expect(200);
    assert!(["TOBEKILLED", "KILLED"].contains(&cancelled["job_execution"]["info"]["status"].as_str().unwrap_or("")));
    wait_for(&app, P, &long, &["KILLED"]).await;

    // Deletes answer 204; the execution is gone.
    assert_eq!(app.delete(&format!("{P}/job-executions/{long}")).await.status, 204);
    assert_refused(&app.get(&format!("{P}/job-executions/{long}")).await, 404, "NOT_FOUND");
}

/// How many objects of each kind project P sees through v1.1.
async fn counts(app: &TestApp) -> Vec<usize> {
    let mut counts = Vec::new();
    for (path, key) in [
        ("clusters", "clusters"),
        ("data-sources", "data_sources"),
        ("job-binary-internals", "binaries"),
        ("job-binaries", "binaries"),
        ("jobs", "jobs"),
        ("job-executions", "job_executions"),
    ] {
        counts.push(app.get(&format!("{P}/{path}")).await.expect(200)[key].as_array().expect("a list").len());
    }
    counts
}

#[tokio::test]
async fn bad_input_on_v11_is_refused_in_saharas_shape_and_writes_nothing() {
    let app = spawn().await;
    let job = shell_job(&app, P, "ok", "true\n").await;
    let local = local_cluster(&app, P).await;
    let source =
        app.post(&format!("{P}/data-sources"), json!({"name": "in", "type": "hdfs", "url": "hdfs://nn/in"})).await;
    let source = id(&source.expect(202), "data_source");
    let before = counts(&app).await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // Malformed or misnamed bodies.
    let reply = app.send_raw(Method::POST, &format!("{P}/data-sources"), b"{\"name\": ".to_vec()).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply =
        app.post(&format!("{P}/jobs/{job}/execute"), json!({"cluster_id": local, "job_template_id": job})).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply = app.post(&format!("{P}/jobs/{job}/execute"), json!({"job_configs": {}})).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply = app
        .post(&format!("{P}/clusters"), json!({"name": "c", "plugin_name": "local", "plugin_version": "0.1.0"}))
        .await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply =
        app.send_raw(Method::PUT, &format!("{P}/data-sources/{source}"), b"{\"colour\": \"red\"}".to_vec()).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
    let reply = app.post(&format!("{P}/jobs"), json!({"name": "bad name!", "type": "Shell"})).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");

    // Unknown ids: in the path, 404; named in a body, 400.
    assert_refused(
        &app.post(&format!("{P}/jobs/{unknown}/execute"), json!({"cluster_id": local})).await,
        404,
        "NOT_FOUND",
    );
    assert_refused(&app.get(&format!("{P}/job-executions/{unknown}/cancel")).await, 404, "NOT_FOUND");
    assert_refused(&app.get(&format!("{P}/job-executions/{unknown}/refresh-status")).await, 404, "NOT_FOUND");
    assert_refused(&app.delete(&format!("{P}/job-binary-internals/{unknown}")).await, 404, "NOT_FOUND");
    let reply = app.post(&format!("{P}/jobs/{job}/execute"), json!({"cluster_id": unknown})).await;
    assert_refused(&reply, 400, "INVALID_REFERENCE");

    // Query strings: unknown parameters, bad paging, bad sorting.
    assert_refused(&app.get(&format!("{P}/job-executions?cluster.name=x")).await, 400, "INVALID_PARAMS_ON_REQUEST");
    assert_refused(&app.get(&format!("{P}/clusters?plugin_version=0.1.0")).await, 400, "INVALID_PARAMS_ON_REQUEST");
    assert_refused(&app.get(&format!("{P}/data-sources?limit=0")).await, 400, "VALIDATION_ERROR");
    assert_refused(&app.get(&format!("{P}/jobs?limit=ten")).await, 400, "INVALID_PARAMS_ON_REQUEST");
    assert_refused(&app.get(&format!("{P}/job-binaries?sort_by=url")).await, 400, "VALIDATION_ERROR");
    assert_refused(&app.get(&format!("{P}/job-binaries?marker={unknown}")).await, 400, "VALIDATION_ERROR");
    assert_refused(
        &app.get(&format!("{P}/job-types?version=1&plugin_version=2")).await,
        400,
        "INVALID_PARAMS_ON_REQUEST",
    );
    assert_refused(&app.get(&format!("{P}/job-types?hints=maybe")).await, 400, "INVALID_PARAMS_ON_REQUEST");

    // v2's paths and verbs are not v1.1's; unknown routes alike.
    assert_refused(&app.get(&format!("{P}/job-templates")).await, 404, "NOT_FOUND");
    assert_refused(&app.post(&format!("{P}/job-executions"), json!({})).await, 405, "METHOD_NOT_ALLOWED");
    assert_refused(&app.patch(&format!("{P}/job-binaries/{unknown}"), json!({})).await, 405, "METHOD_NOT_ALLOWED");

    assert_eq!(counts(&app).await, before, "a refused request wrote something");
}

/// A v1.1 client for one project with its token.
struct Tenant<'a> {
    app: &'a TestApp,
    token: &'static str,
    prefix: String,
}

impl<'a> Tenant<'a> {
    fn new(app: &'a TestApp, token: &'static str, project: &str) -> Self {
        Self { app, token, prefix: format!("/v1.1/{project}") }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{}{path}", self.app.base, self.prefix);
        self.app.http.request(method, url).header("X-Auth-Token", self.token)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let request = self.request(method, path);
        self.app
            .send(match body {
                Some(body) => request.json(&body),
                None => request,
            })
            .await
    }

    async fn upload(&self, name: &str, bytes: &[u8]) -> Reply {
        self.app.send(self.request(Method::PUT, &format!("/job-binary-internals/{name}")).body(bytes.to_vec())).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
}

#[tokio::test]
async fn v11_keeps_projects_apart() {
    let toml = "[auth]\ntokens = { \"token-a\" = \"project-a\", \"token-b\" = \"project-b\", \
                \"token-ops\" = { project = \"ops\", admin = true } }\n";
    let app = TestApp::builder().file("edp.toml", toml).start().await;
    let a = Tenant::new(&app, "token-a", "project-a");
    let b = Tenant::new(&app, "token-b", "project-b");

    // Project A builds everything through v1.1 and runs a job.
    let internal = a.upload("a.sh", b"true\n").await;
    let internal = id(&internal.expect(202), "job_binary_internal");
    let binary = a
        .call(Method::POST, "/job-binaries", Some(json!({"name": "a.sh", "url": format!("internal-db://{internal}")})))
        .await;
    let binary = id(&binary.expect(202), "job_binary");
    let job = a.call(Method::POST, "/jobs", Some(json!({"name": "a", "type": "Shell", "mains": [binary]}))).await;
    let job = id(&job.expect(202), "job");
    let source =
        a.call(Method::POST, "/data-sources", Some(json!({"name": "a", "type": "hdfs", "url": "hdfs://nn/a"}))).await;
    let source = id(&source.expect(202), "data_source");
    // A cluster of the local engine runs processes on edpd's host: an admin
    // registers it, for project A.
    let ops = Tenant::new(&app, "token-ops", "project-a");
    let cluster = ops
        .call(Method::POST, "/clusters", Some(json!({"name": "a", "plugin_name": "local", "hadoop_version": "0.1.0"})))
        .await;
    let cluster = id(&cluster.expect(202), "cluster");
    let execution = a.call(Method::POST, &format!("/jobs/{job}/execute"), Some(json!({"cluster_id": cluster}))).await;
    let execution = execution.expect(202);
    assert_eq!(execution["job_execution"]["tenant_id"], "project-a", "{execution}");
    let execution = id(&execution, "job_execution");

    // Project B sees none of it: not in its lists, 404 by id, and nothing to
    // change, run, cancel or delete.
    for (path, key) in [
        ("/data-sources", "data_sources"),
        ("/job-binary-internals", "binaries"),
        ("/job-binaries", "binaries"),
        ("/jobs", "jobs"),
        ("/job-executions", "job_executions"),
    ] {
        assert_eq!(b.get(path).await.expect(200)[key], json!([]), "{path}");
    }
    let clusters = b.get("/clusters").await.expect(200);
    let names: Vec<&str> =
        clusters["clusters"].as_array().expect("list").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["local"], "only the public declared cluster: {clusters}");
    for path in [
        format!("/clusters/{cluster}"),
        format!("/data-sources/{source}"),
        format!("/job-binary-internals/{internal}"),
        format!("/job-binary-internals/{internal}/data"),
        format!("/job-binaries/{binary}"),
        format!("/job-binaries/{binary}/data"),
        format!("/jobs/{job}"),
        format!("/job-executions/{execution}"),
        format!("/job-executions/{execution}/refresh-status"),
        format!("/job-executions/{execution}/cancel"),
    ] {
        assert_refused(&b.get(&path).await, 404, "NOT_FOUND");
    }
    let reply = b.call(Method::PUT, &format!("/data-sources/{source}"), Some(json!({"description": "mine"}))).await;
    assert_refused(&reply, 404, "NOT_FOUND");
    let reply = b.call(Method::POST, &format!("/jobs/{job}/execute"), Some(json!({"cluster_id": cluster}))).await;
    assert_refused(&reply, 404, "NOT_FOUND");
    assert_refused(&b.call(Method::DELETE, &format!("/job-executions/{execution}"), None).await, 404, "NOT_FOUND");
    assert_refused(&b.call(Method::DELETE, &format!("/jobs/{job}"), None).await, 404, "NOT_FOUND");

    // An Idempotency-Key is its project's own: B sending A's key with A's
    // job gets its own refusal (A's template is not B's to run), never A's
    // job answered back.
    let keyed = a.request(Method::POST, &format!("/jobs/{job}/execute")).header("Idempotency-Key", "nightly");
    app.send(keyed.json(&json!({"cluster_id": cluster}))).await.expect(202);
    let keyed = b.request(Method::POST, &format!("/jobs/{job}/execute")).header("Idempotency-Key", "nightly");
    assert_refused(&app.send(keyed.json(&json!({"cluster_id": cluster}))).await, 404, "NOT_FOUND");
    let through_v2 = app
        .http
        .post(format!("{}/v2/jobs", app.base))
        .header("X-Auth-Token", "token-b")
        .header("Idempotency-Key", "nightly")
        .json(&json!({"job_template_id": job, "cluster_id": cluster}));
    assert_refused(&app.send(through_v2).await, 400, "INVALID_REFERENCE");

    // B's token with A's project in the URL is refused outright.
    let impostor = Tenant::new(&app, "token-b", "project-a");
    assert_refused(&impostor.get("/jobs").await, 403, "FORBIDDEN");

    // A still has all of it.
    assert_eq!(a.get(&format!("/jobs/{job}")).await.expect(200)["job"]["name"], "a");
    let mine = a.get(&format!("/job-executions/{execution}")).await.expect(200);
    assert_eq!(mine["job_execution"]["job_id"], job.as_str(), "{mine}");
}

#[tokio::test]
async fn uploads_page_and_are_renamed_through_v11() {
    let app = spawn().await;
    uploads_page_and_rename(&app).await;
}

/// v1.1's uploads list pages in SQL and PATCH renames one without touching
/// its bytes. Shared with the Postgres test.
pub async fn uploads_page_and_rename(app: &TestApp) {
    // Named apart from what else the project holds (the same test runs after
    // the lifecycle on Postgres).
    let mut ids = Vec::new();
    for name in ["upl-c.sh", "upl-a.sh", "upl-b.sh"] {
        let path = format!("{P}/job-binary-internals/{name}");
        let reply = app.send_raw(Method::PUT, &path, format!("echo {name}\n").into_bytes()).await;
        ids.push(id(&reply.expect(202), "job_binary_internal"));
    }
    let names = |body: &Value| -> Vec<String> {
        body["binaries"]
            .as_array()
            .expect("list")
            .iter()
            .map(|b| b["name"].as_str().expect("name").to_string())
            .collect()
    };
    let first = app.get(&format!("{P}/job-binary-internals?sort_by=name&limit=2&name=upl-")).await.expect(200);
    assert_eq!(names(&first), ["upl-a.sh", "upl-b.sh"], "{first}");
    let next = first["markers"]["next"].as_str().expect("a next marker");
    let second =
        app.get(&format!("{P}/job-binary-internals?sort_by=name&limit=2&name=upl-&marker={next}")).await.expect(200);
    assert_eq!(names(&second), ["upl-c.sh"], "{second}");
    assert_eq!(second["markers"]["next"], Value::Null);
    let filtered = app.get(&format!("{P}/job-binary-internals?name=upl-b.")).await.expect(200);
    assert_eq!(names(&filtered), ["upl-b.sh"], "{filtered}");

    let c = &ids[0];
    let renamed = app.patch(&format!("{P}/job-binary-internals/{c}"), json!({"name": "z.sh", "is_public": true})).await;
    let renamed = renamed.expect(202);
    assert_eq!(
        (renamed["job_binary_internal"]["name"].as_str(), renamed["job_binary_internal"]["is_public"].as_bool()),
        (Some("z.sh"), Some(true))
    );
    assert_eq!(renamed["job_binary_internal"]["datasize"], 14, "{renamed}");
    let data = app.http.get(format!("{}{P}/job-binary-internals/{c}/data", app.base)).send().await.expect("data");
    assert_eq!(data.text().await.expect("bytes"), "echo upl-c.sh\n", "the bytes survive a rename");
    let reply = app.patch(&format!("{P}/job-binary-internals/{c}"), json!({"datasize": 1})).await;
    assert_refused(&reply, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn execute_with_an_idempotency_key_launches_once_and_shares_keys_with_v2() {
    let app = spawn().await;
    let local = local_cluster(&app, P).await;
    let job = shell_job(&app, P, "once", "echo once\n").await;
    let execute = |key: &'static str, args: Value| {
        let (app, path) = (&app, format!("{}{P}/jobs/{job}/execute", app.base));
        let body = json!({"cluster_id": local, "job_configs": {"args": args}});
        async move { app.send(app.http.post(path).header("Idempotency-Key", key).json(&body)).await }
    };
    let first = execute("nightly-1", json!(["a"])).await.expect(202);
    let again = execute("nightly-1", json!(["a"])).await.expect(202);
    assert_eq!(id(&first, "job_execution"), id(&again, "job_execution"), "a repeated execute made a second job");
    let executions = app.get(&format!("{P}/job-executions")).await.expect(200);
    assert_eq!(executions["job_executions"].as_array().map_or(0, Vec::len), 1, "{executions}");

    // The key with another job: v1.1's conflict, in Sahara's shape.
    assert_refused(&execute("nightly-1", json!(["b"])).await, 409, "CONFLICT");
    assert_refused(&execute("has a space", json!(["a"])).await, 400, "VALIDATION_ERROR");

    // The same job through v2 with the key is the same job.
    let v2 = json!({"job_template_id": job, "cluster_id": local, "job_configs": {"args": ["a"]}});
    let through_v2 =
        app.send(app.http.post(format!("{}/v2/jobs", app.base)).header("Idempotency-Key", "nightly-1").json(&v2)).await;
    assert_eq!(id(&through_v2.expect(202), "job"), id(&first, "job_execution"));
    wait_for(&app, P, &id(&first, "job_execution"), &["SUCCEEDED"]).await;
}
