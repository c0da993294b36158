//! Secrets never leave: planted values (a token, passwords, a keytab path,
//! a callback secret) are looked for in every response body of a run that
//! uses them all, and in edpd's whole log at debug level.

use std::time::Duration;

use edp_oozie_server::{JOB_TRACKER, NAME_NODE, OozieServer, Options, Outcome};
use edp_tests::{TestApp, build, eventually};
use serde_json::{Value, json};

const TOKEN: &str = "tok-planted-7f3a9c2e";
const DS_PASSWORD: &str = "pw-planted-ds-51c2";
const BINARY_PASSWORD: &str = "pw-planted-bin-8d4e";
const GATEWAY_PASSWORD: &str = "gw-planted-9a0b77";
const INTERFACE_SECRET: &str = "db-planted-3c5f11";
const CONFIG_SECRET: &str = "s3-planted-e2a948";
const KEYTAB: &str = "/secret/keytab-planted-7e1d.keytab";

fn plugin(id: &str) -> std::path::PathBuf {
    build::engine_plugin(id)
}

#[tokio::test]
async fn planted_secrets_never_appear_in_a_response_or_the_log() {
    let oozie =
        OozieServer::start_with(Options { notification_interval: Duration::from_millis(100), ..Options::default() })
            .await;
    let config = format!("[auth]\ntokens = {{ \"{TOKEN}\" = {{ project = \"team-a\", admin = true }} }}\n");
    let mut app = TestApp::builder()
        .plugin(plugin("oozie"))
        .plugin(plugin("spark"))
        .file("edp.toml", &config)
        .env("RUST_LOG", "debug")
        .env("EDP__ENGINES__OOZIE__POLL_INITIAL_MS", "200")
        .env("EDP__ENGINES__OOZIE__POLL_MAX_MS", "1000")
        .start()
        .await;
    let me = app.with_token(TOKEN);
    let mut seen: Vec<Value> = Vec::new();
    let mut keep = |reply: edp_tests::Reply, status: u16| -> Value {
        let body = reply.expect(status);
        seen.push(body.clone());
        body
    };

    // Credentials of a data source and a binary.
    let ds = keep(
        me.post(
            "/v2/data-sources",
            json!({"name": "in", "type": "hdfs", "url": "/user/edp/in", "credentials": {"user": "u", "password": DS_PASSWORD}}),
        )
        .await,
        202,
    );
    let script =
        me.send_raw(reqwest::Method::PUT, "/v2/job-binary-internals/run.sh", b"echo run\n".to_vec()).await.expect(202);
    let internal = script["job_binary_internal"]["id"].as_str().expect("id").to_string();
    let binary = keep(
        me.post(
            "/v2/job-binaries",
            json!({"name": "run.sh", "url": format!("internal-db://{internal}"), "extra": {"user": "u", "password": BINARY_PASSWORD}}),
        )
        .await,
        202,
    );
    let binary = binary["job_binary"]["id"].as_str().expect("id").to_string();

    // An Oozie cluster behind a gateway whose password is write-only.
    let cluster = keep(
        me.post(
            "/v2/clusters",
            json!({"name": "hadoop", "plugin_name": "oozie", "cluster_configs": {
                "oozie_url": oozie.oozie_url(), "webhdfs_url": oozie.webhdfs_url(), "name_node": NAME_NODE,
                "job_tracker": JOB_TRACKER, "hdfs_user": "edp", "gateway_user": "knox", "gateway_password": GATEWAY_PASSWORD}}),
        )
        .await,
        202,
    );
    assert_eq!(cluster["cluster"]["status"], "Active", "{cluster}");
    let cluster = cluster["cluster"]["id"].as_str().expect("id").to_string();

    // A template whose interface has a secret argument; a launch giving it,
    // and a secret config.
    let template = keep(
        me.post(
            "/v2/job-templates",
            json!({"name": "shell", "type": "Shell", "mains": [binary], "interface": [
                {"name": "db_password", "mapping_type": "params", "location": "DB", "value_type": "string"}]}),
        )
        .await,
        202,
    );
    let template = template["job_template"]["id"].as_str().expect("id").to_string();
    let launch = json!({"job_template_id": template, "cluster_id": cluster, "input_id": ds["data_source"]["id"],
        "interface": {"db_password": INTERFACE_SECRET},
        "job_configs": {"configs": {"fs.s3a.secret.key": CONFIG_SECRET}, "args": ["--password", CONFIG_SECRET]}});
    keep(me.post("/v2/jobs/dry-run", launch.clone()).await, 200);
    let job = keep(me.post("/v2/jobs", launch).await, 202);
    let job = job["job"]["id"].as_str().expect("id").to_string();

    // The callback secret exists only in the URL handed to Oozie.
    let workflow = eventually("the workflow to be submitted", Duration::from_secs(30), || async {
        oozie.workflow_ids().first().cloned()
    })
    .await;
    let view = oozie.job(&workflow).expect("the workflow");
    let callback_url = view.conf.get("oozie.wf.workflow.notification.url").expect("a notification URL").clone();
    let callback_secret = callback_url.split("token=").nth(1).expect("a token").split('&').next().unwrap().to_string();
    assert!(callback_secret.len() >= 16, "{callback_url}");
    oozie.finish(&workflow, Outcome::Succeeded).expect("finish");
    eventually("the job to succeed", Duration::from_secs(30), || async {
        let body = me.get(&format!("/v2/jobs/{job}")).await.expect(200);
        (body["job"]["info"]["status"] == "SUCCEEDED").then_some(())
    })
    .await;

    // A Spark cluster with a keytab, dry-run on it.
    let spark = keep(
        me.post(
            "/v2/clusters",
            json!({"name": "spark", "plugin_name": "spark", "cluster_configs": {
                "spark_home": edp_tests::spark::home(), "master": "local[1]",
                "principal": "edp@EXAMPLE.COM", "keytab": KEYTAB}}),
        )
        .await,
        202,
    );
    let spark = spark["cluster"]["id"].as_str().expect("id").to_string();
    let app_py =
        me.send_raw(reqwest::Method::PUT, "/v2/job-binary-internals/app.py", b"print(1)\n".to_vec()).await.expect(202);
    let app_py = me
        .post(
            "/v2/job-binaries",
            json!({"name": "app.py", "url": format!("internal-db://{}", app_py["job_binary_internal"]["id"].as_str().unwrap())}),
        )
        .await
        .expect(202)["job_binary"]["id"]
        .clone();
    let spark_template = me
        .post("/v2/job-templates", json!({"name": "pi", "type": "Spark", "mains": [app_py]}))
        .await
        .expect(202)["job_template"]["id"]
        .clone();
    let dry =
        keep(me.post("/v2/jobs/dry-run", json!({"job_template_id": spark_template, "cluster_id": spark})).await, 200);
    assert!(dry.to_string().contains("--keytab"), "the dry run shows where the keytab goes: {dry}");

    // Everything readable.
    for path in ["/v2/clusters", "/v2/data-sources", "/v2/job-binaries", "/v2/job-templates", "/v2/jobs", "/v2/engines"]
    {
        keep(me.get(path).await, 200);
    }
    keep(me.get(&format!("/v2/clusters/{cluster}")).await, 200);
    keep(me.get(&format!("/v2/clusters/{spark}")).await, 200);
    keep(me.get(&format!("/v2/jobs/{job}?refresh_status=true")).await, 200);
    keep(me.get(&format!("/v2/jobs/{job}/logs")).await, 200);
    keep(me.patch(&format!("/v2/jobs/{job}"), json!({"is_public": true})).await, 202);
    // A wrong token is refused without being echoed.
    let wrong = app.with_token("tok-wrong-planted-0000").get("/v2/jobs").await;
    assert_eq!(wrong.status, 401);
    seen.push(wrong.body);

    app.kill();
    let log = app.log();
    assert!(log.lines().count() > 50, "the debug log is suspiciously short:\n{log}");
    let planted = [
        TOKEN,
        DS_PASSWORD,
        BINARY_PASSWORD,
        GATEWAY_PASSWORD,
        INTERFACE_SECRET,
        CONFIG_SECRET,
        KEYTAB,
        callback_secret.as_str(),
        "tok-wrong-planted-0000",
    ];
    for body in &seen {
        let text = body.to_string();
        for secret in planted {
            assert!(!text.contains(secret), "{secret} leaked in a response: {text}");
        }
        assert!(!text.contains("\"extra\"") && !text.contains("\"credentials\""), "internal fields leaked: {text}");
    }
    for secret in planted {
        if let Some(line) = log.lines().find(|l| l.contains(secret)) {
            panic!("{secret} reached edpd's log: {line}");
        }
    }
}
