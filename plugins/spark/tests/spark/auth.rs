//! A standalone master whose REST server takes only signed requests
//! (Spark 4's `JWSFilter`, pitfall P12): the engine signs every call with
//! the cluster's `rest_auth_token`, and a wrong token is a clear error at
//! registration that never shows the token.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn a_jws_protected_rest_server_is_used_with_the_clusters_token() {
    let (key, token) = jws_key_and_token();
    // No worker: a driver stays SUBMITTED, which is all create, status and
    // kill need.
    let spark = Standalone::master(Some(&key)).await;
    let app = start_app().await;
    let configs = |token: &str| -> Value {
        let mut configs = json!({
            "submit_mode": "rest",
            "rest_url": spark.rest_url(),
            "master_ui_url": spark.ui_url(),
            "master": spark.master_url(),
            "rest_auth_token": token,
            "env": spark_env(),
        });
        configs.as_object_mut().expect("object").extend(base_properties().as_object().expect("object").clone());
        configs
    };

    let wrong = register(&app, "unsigned", configs("not-a-jws")).await;
    assert_eq!(wrong["status"], "Error", "{wrong}");
    let why = wrong["status_description"].as_str().unwrap_or_default();
    assert!(why.contains("rest_auth_token"), "the reason should point at the token: {wrong}");
    assert!(!wrong.to_string().contains("not-a-jws"), "the token leaked: {wrong}");

    let cluster = active_cluster(&app, "signed", configs(&token)).await;
    let shown = app.get(&format!("/v2/clusters/{cluster}")).await.expect(200);
    assert!(!shown.to_string().contains(&token), "the token leaked: {shown}");
    let app_py = template(&app, "waits.py", FAILING_PY.as_bytes()).await;
    let id = launch(&app, &job_body(&app_py, &cluster, json!({}), json!({}))).await;
    // Created (the launch sets PREP), then read back through status.
    let waiting = edp_tests::eventually("the driver's state to be read", JOB_DEADLINE, || async {
        let job = job(&app, &id).await;
        assert!(!TERMINAL.contains(&job["status"].as_str().unwrap_or_default()), "{job}");
        (job["info"]["driver_state"] == "SUBMITTED").then_some(job)
    })
    .await;
    assert_eq!(waiting["status"], "PREP", "{waiting}");
    assert!(waiting["engine_job_id"].as_str().is_some_and(|d| d.starts_with("driver-")), "{waiting}");
    cancel(&app, &id).await;
    let killed = wait_for(&app, &id, &["KILLED"]).await;
    assert_eq!(killed["info"]["driver_state"], "KILLED", "{killed}");
    let drivers = spark.state().await["completeddrivers"].clone();
    assert_eq!(drivers.as_array().map(Vec::len), Some(1), "one driver, killed: {drivers}");
}

/// A JWSFilter key (base64url of 33 random bytes: no `+`, `/` or padding)
/// and an HS256 JWS signed with it, minted by Python's standard library.
fn jws_key_and_token() -> (String, String) {
    const MINT: &str = r#"
import base64, hashlib, hmac, os
b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
key = base64.urlsafe_b64encode(os.urandom(33)).decode()
signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(b'{"sub":"edp-test"}')
signature = hmac.new(base64.urlsafe_b64decode(key), signing.encode(), hashlib.sha256).digest()
print(key)
print(signing + "." + b64(signature))
"#;
    let out = Command::new("python3").args(["-c", MINT]).output().expect("python3 runs");
    assert!(out.status.success(), "minting a JWS: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.lines();
    let (key, token) = (lines.next().expect("a key"), lines.next().expect("a token"));
    (key.to_string(), token.to_string())
}
