//! The OpenAPI document at `/openapi.json`, checked against the running
//! service by schemathesis (PyPI; `scripts/setup-schemathesis` installs it
//! into target/): every operation the document lists, with generated valid
//! and invalid input, must never answer a 5xx, and must answer only the
//! statuses, content types and bodies the document promises.
//!
//! The objects that paths name (`{id}`) are made first and handed to
//! schemathesis per operation, so that it reaches the handlers behind an
//! id, not only their 404s. The run is bounded (examples per operation, a
//! time budget) to about a minute and a half.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use edp_tests::{TestApp, build};
use serde_json::{Value, json};

use crate::helpers::{TERMINAL, launch, local_cluster, shell_template, wait_for};

/// The checks: no 5xx, and conformance of status, content type and body.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";
/// Test cases per operation and phase, and the whole run's time budget.
/// One worker: with two, schemathesis 4.32 sometimes fails on its own
/// shared cache (a KeyError inside its generator), not on edpd.
const EXAMPLES: &str = "10";
const BUDGET_SECS: u64 = 75;

/// schemathesis: `EDP_TEST_SCHEMATHESIS` (scripts/test sets it), else what
/// `scripts/setup-schemathesis` installs (idempotent, fast when installed).
fn schemathesis() -> PathBuf {
    if let Some(exe) = std::env::var_os("EDP_TEST_SCHEMATHESIS") {
        return PathBuf::from(exe);
    }
    let setup = build::workspace_root().join("scripts/setup-schemathesis");
    let out = Command::new(&setup).stderr(Stdio::inherit()).output().expect("scripts/setup-schemathesis runs");
    assert!(out.status.success(), "{} failed", setup.display());
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().expect("the setup script names the executable").trim())
}

#[tokio::test]
async fn every_operation_answers_as_documented_and_never_5xx() {
    let exe = schemathesis();
    let app = TestApp::spawn().await;

    // The document is OpenAPI 3.1 and lists every route group.
    let document = app.get("/openapi.json").await.expect(200);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    for path in ["/v2/jobs/{id}/output", "/v2/events", "/v2/engines/rescan", "/v1.1/{project_id}/job-executions/{id}"]
        .into_iter()
        .chain(["/healthz", "/readyz", "/metrics", "/openapi.json"])
    {
        assert!(paths.contains_key(path), "{path} is not in the document");
    }
    // An API request may find the database gone: a 503 to retry, in the
    // error shape. Not the version documents.
    let api = |path: &str| path.starts_with("/v2/") && path != "/v2/" || path.starts_with("/v1.1/{project_id}/");
    for (path, item) in paths.iter().filter(|(path, _)| api(path)) {
        for (method, operation) in item.as_object().expect("a path item") {
            assert_eq!(
                operation["responses"]["503"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} does not document its 503"
            );
        }
    }

    // What the paths' ids name: a finished job and everything it used.
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "documented", "echo documented\n").await;
    let job = launch(&app, &template, &cluster, json!({})).await;
    wait_for(&app, &job, TERMINAL, Duration::from_secs(60)).await;
    let template_row = app.get(&format!("/v2/job-templates/{template}")).await.expect(200);
    let binary = template_row["job_template"]["mains"][0]["id"].as_str().expect("binary id").to_string();
    let internal = template_row["job_template"]["mains"][0]["url"]
        .as_str()
        .and_then(|url| url.strip_prefix("internal-db://"))
        .expect("an internal binary")
        .to_string();
    let source = app
        .post("/v2/data-sources", json!({"name": "documented-out", "type": "file", "url": "/tmp/edp-documented"}))
        .await
        .expect(202)["data_source"]["id"]
        .as_str()
        .expect("data source id")
        .to_string();

    let ids = [
        (r"^/(v2|v1\.1/\{project_id\})/clusters/\{id\}$", &cluster),
        (r"^/(v2|v1\.1/\{project_id\})/data-sources/\{id\}$", &source),
        (r"^/(v2|v1\.1/\{project_id\})/job-binaries/\{id\}", &binary),
        (r"^/(v2|v1\.1/\{project_id\})/job-binary-internals/\{(id|key)\}", &internal),
        (r"^/v2/job-templates/\{id\}$", &template),
        (r"^/v1\.1/\{project_id\}/jobs/\{id\}", &template),
        (r"^/v2/jobs/\{id\}", &job),
        (r"^/v1\.1/\{project_id\}/job-executions/\{id\}", &job),
    ];
    let mut config = String::from(
        "# Written by tests/tests/api/openapi.rs.\n\
         # Server-sent event streams (/v2/events) are read this far.\n\
         max-stream-events = 3\n\
         [parameters]\n\
         \"path.project_id\" = \"default\"\n",
    );
    for (path, id) in ids {
        config.push_str(&format!(
            "[[operations]]\ninclude-path-regex = {}\nparameters = {{ \"path.id\" = \"{id}\", \"path.key\" = \"{id}\" }}\n",
            Value::String(path.to_string())
        ));
    }
    let config_file = app.root.path().join("schemathesis.toml");
    std::fs::write(&config_file, config).expect("write schemathesis.toml");

    let started = std::time::Instant::now();
    let run = Command::new(&exe)
        .arg("--config-file")
        .arg(&config_file)
        .args(["run", &format!("{}/openapi.json", app.base)])
        .args(["--checks", CHECKS, "--max-examples", EXAMPLES, "--max-time", &BUDGET_SECS.to_string()])
        .args(["--phases", "examples,coverage,fuzzing", "--seed", "1313", "--workers", "1"])
        .args(["--request-timeout", "20", "--warnings", "off", "--no-color"])
        .current_dir(app.root.path())
        .env("HOME", app.root.path())
        .stdin(Stdio::null())
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&run.stdout);
    eprintln!("schemathesis ran for {:?}", started.elapsed());
    assert!(
        run.status.success(),
        "schemathesis found failures ({}):\n{report}\n{}\nedpd's log:\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr),
        app.log()
    );
    // The summary, for whoever reads the test's output.
    eprintln!("{}", report.lines().skip_while(|l| !l.contains("SUMMARY")).collect::<Vec<_>>().join("\n"));
    // It reached the operations, not just the document.
    assert!(report.contains("Tested:"), "{report}");
    assert!(!app.log().contains("panicked"), "a handler panicked:\n{}", app.log());
}
