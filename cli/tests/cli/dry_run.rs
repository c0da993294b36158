//! `--dry-run` prints what the engine would be asked to run, and that is
//! what a real submission sends. One case per engine: the test fails for an
//! engine edpd loads and no case covers, so a new plugin gets its case.
//!
//! To add an engine: load its plugin in `app()`, write an
//! `async fn <engine>_case(&TestApp, &Edp)` that registers what it needs,
//! calls [`dry_then_real`] and compares the dry run with what the engine
//! (or the fake backend it talked to) really received, and add a row to
//! [`CASES`].

use std::future::Future;
use std::pin::Pin;

use edp_tests::TestApp;
use serde_json::Value;

use crate::support::{Edp, wait_status};

type CaseFn = for<'a> fn(&'a TestApp, &'a Edp) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// engine id → its case.
const CASES: &[(&str, CaseFn)] = &[
    ("local", |app, edp| Box::pin(local_case(app, edp))),
    ("oozie", |app, edp| Box::pin(oozie_case(app, edp))),
    ("spark", |app, edp| Box::pin(spark_case(app, edp))),
];

/// edpd with every engine plugin these tests cover.
async fn app() -> TestApp {
    TestApp::builder()
        .plugin(edp_tests::build::engine_plugin("oozie"))
        .plugin(edp_tests::build::engine_plugin("spark"))
        .start()
        .await
}

#[tokio::test]
async fn dry_run_output_equals_what_a_submission_sends_for_every_loaded_engine() {
    let app = app().await;
    let edp = Edp::new(&app);
    let engines = app.get("/v2/engines").await.expect(200);
    let loaded: Vec<&str> = engines["engines"].as_array().unwrap().iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(!loaded.is_empty(), "no engine loaded: {engines}");
    for engine in loaded {
        let (_, case) = CASES.iter().find(|(id, _)| *id == engine).unwrap_or_else(|| {
            panic!("engine `{engine}` is loaded but has no dry-run case in cli/tests/cli/dry_run.rs")
        });
        case(&app, &edp).await;
    }
}

/// Runs `edp submit ARGS --dry-run --json`, checks nothing was launched,
/// then `edp submit ARGS --json`; returns (the dry run, the launched job).
pub async fn dry_then_real(app: &TestApp, edp: &Edp, args: &[&str]) -> (Value, Value) {
    let jobs_before = app.get("/v2/jobs").await.expect(200)["jobs"].as_array().unwrap().len();
    let dry = edp.run(&[&["--json", "submit"], args, &["--dry-run"]].concat()).await.expect_code(0).json();
    let jobs_after = app.get("/v2/jobs").await.expect(200)["jobs"].as_array().unwrap().len();
    assert_eq!(jobs_before, jobs_after, "a dry run must not launch anything");

    // The human form says the same thing.
    let human = edp.run(&[&["submit"], args, &["--dry-run"]].concat()).await;
    human.expect_code(0);
    assert!(human.stdout.contains(&format!("({})", dry["kind"].as_str().unwrap())), "{}", human.stdout);

    let job = edp.run(&[&["--json", "submit"], args].concat()).await.expect_code(0).json();
    (dry, job)
}

/// The local engine: the dry run's argv, env and cwd are the job.json the
/// supervisor ran, once the dry run's made-up execution id is replaced by
/// the real one.
async fn local_case(app: &TestApp, edp: &Edp) {
    let script = edp.write("dry.sh", "echo \"$MODE\" \"$@\"\n");
    let args = [
        "-t",
        "Shell",
        "-n",
        "dry-local",
        "-c",
        "local",
        "--main",
        script.to_str().unwrap(),
        "--param",
        "MODE=fast",
        "--conf",
        "edp.example=1",
        "--arg",
        "a b",
        "--arg",
        "$(id)",
    ];
    let (dry, job) = dry_then_real(app, edp, &args).await;
    assert_eq!(dry["kind"], "argv", "{dry}");
    let human = edp.run(&[&["submit"], &args[..], &["--dry-run"]].concat()).await;
    assert!(human.stdout.contains("'a b' '$(id)'"), "argv should be shell-quoted: {}", human.stdout);

    let id = job["id"].as_str().unwrap();
    wait_status(app, id, &["SUCCEEDED"]).await;
    let ran: Value =
        serde_json::from_str(&std::fs::read_to_string(app.job_dir(id).join("job.json")).expect("job.json")).unwrap();

    let dry_id = dry["request"]["env"]["EDP_EXECUTION_ID"].as_str().expect("the dry run's execution id");
    let expected: Value = serde_json::from_str(&dry["request"].to_string().replace(dry_id, id)).unwrap();
    assert_eq!(expected["argv"], ran["argv"]);
    assert_eq!(expected["env"], ran["env"]);
    assert_eq!(expected["cwd"], ran["cwd"]);
    let staged: Vec<&String> = dry["files"].as_object().unwrap().keys().collect();
    assert_eq!(staged, ["dry.sh"], "{dry}");
}

/// The Oozie engine, against the Oozie + WebHDFS test server: the dry run's
/// workflow.xml is the definition Oozie received, and its configuration the
/// submitted one (but for the callback URL, whose secret a dry run hides).
async fn oozie_case(app: &TestApp, edp: &Edp) {
    use edp_oozie_server::{JOB_TRACKER, NAME_NODE, OozieServer};
    let oozie = OozieServer::start().await;
    let configs = serde_json::json!({
        "oozie_url": oozie.oozie_url(),
        "name_node": NAME_NODE,
        "job_tracker": JOB_TRACKER,
        "hdfs_user": "edp",
        "webhdfs_url": oozie.webhdfs_url(),
    });
    app.post("/v2/clusters", serde_json::json!({"name": "hadoop", "plugin_name": "oozie", "cluster_configs": configs}))
        .await
        .expect(202);
    let script = edp.write("dry-oozie.sh", "echo \"$MODE\" \"$@\"\n");
    let args = [
        "-t",
        "Shell",
        "-n",
        "dry-oozie",
        "-c",
        "hadoop",
        "--main",
        script.to_str().unwrap(),
        "--param",
        "MODE=fast",
        "--conf",
        "mapreduce.job.queuename=etl",
        "--arg",
        "a b",
    ];
    let (dry, job) = dry_then_real(app, edp, &args).await;
    assert_eq!(dry["kind"], "workflow", "{dry}");
    let id = job["id"].as_str().unwrap();
    let workflow = oozie.wait_for_workflow(1, std::time::Duration::from_secs(30)).await;
    let submitted = oozie.job(&workflow).expect("the submitted workflow");

    // The dry run made up an execution id, which ends the app name (a UUID,
    // 36 characters); the real one replaces it.
    let dry_app_name = dry["request"]["app_name"].as_str().unwrap();
    let dry_id = &dry_app_name[dry_app_name.len() - 36..];
    let expected: Value = serde_json::from_str(&dry["request"].to_string().replace(dry_id, id)).unwrap();
    assert_eq!(expected["workflow_xml"].as_str().unwrap(), submitted.definition, "workflow.xml");
    assert_eq!(expected["app_name"].as_str().unwrap(), submitted.app_name);
    for (key, value) in expected["configuration"].as_object().unwrap() {
        if key == "oozie.wf.workflow.notification.url" {
            continue;
        }
        assert_eq!(submitted.conf.get(key).map(String::as_str), value.as_str(), "configuration {key}");
    }
    assert!(submitted.conf.contains_key("oozie.wf.workflow.notification.url"), "a real submission has a callback");
}

/// The Spark engine, with spark-submit on a real Spark in `local[1]`: the
/// dry run's argv and environment are the job.json the supervisor ran, and
/// the CLI's resource flags became spark-submit's own flags.
async fn spark_case(app: &TestApp, edp: &Edp) {
    let configs = serde_json::json!({
        "spark_home": edp_tests::spark::home().display().to_string(),
        "master": "local[1]",
        "env": {"SPARK_LOCAL_IP": "127.0.0.1"},
        "spark.ui.enabled": "false",
        "spark.pyspark.python": edp_tests::spark::python(),
    });
    app.post("/v2/clusters", serde_json::json!({"name": "spark", "plugin_name": "spark", "cluster_configs": configs}))
        .await
        .expect(202);
    // A PySpark app that needs no SparkContext: the JVM starts, the app
    // prints its arguments and ends.
    let app_py = edp.write("dry_spark.py", "import sys\nprint('args', sys.argv[1:])\n");
    let args = [
        "-t",
        "Spark",
        "-n",
        "dry-spark",
        "-c",
        "spark",
        "--main",
        app_py.to_str().unwrap(),
        "--num-executors",
        "2",
        "--driver-memory",
        "512m",
        "--conf",
        "spark.sql.shuffle.partitions=4",
        "--arg",
        "a b",
        "--arg",
        "$(id)",
    ];
    let (dry, job) = dry_then_real(app, edp, &args).await;
    assert_eq!(dry["kind"], "spark-submit", "{dry}");
    let id = job["id"].as_str().unwrap();
    let done = wait_status(app, id, &["SUCCEEDED", "FAILED"]).await;
    assert_eq!(done["info"]["status"], "SUCCEEDED", "{done}");
    let stdout = edp.run(&["logs", id]).await.expect_code(0).stdout.clone();
    assert!(stdout.contains("args ['a b', '$(id)']"), "the app's arguments arrive verbatim: {stdout}");

    let job_json = app.data_dir().join("engines/spark/jobs").join(id).join("job.json");
    let ran: Value = serde_json::from_str(&std::fs::read_to_string(job_json).expect("job.json")).unwrap();
    let dry_id = dry["request"]["execution_id"].as_str().expect("the dry run's execution id");
    let expected: Value = serde_json::from_str(&dry["request"].to_string().replace(dry_id, id)).unwrap();
    assert_eq!(expected["argv"], ran["argv"]);
    assert_eq!(expected["env"], ran["env"]);
    let argv: Vec<&str> = ran["argv"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for pair in [["--num-executors", "2"], ["--driver-memory", "512m"], ["--conf", "spark.sql.shuffle.partitions=4"]] {
        assert!(argv.windows(2).any(|w| w == pair), "{pair:?} in {argv:?}");
    }
}
