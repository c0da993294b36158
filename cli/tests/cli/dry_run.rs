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
use serde_json::{Value, json};

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

/// The local engine: the dry run's argv, env and cwd are what the job's
/// process was started with (as it reads them from /proc), once the dry
/// run's made-up execution id is replaced by the real one.
async fn local_case(app: &TestApp, edp: &Edp) {
    let script = edp.write(
        "dry.sh",
        "cat /proc/$$/cmdline > ran.argv\ncat /proc/$$/environ > ran.env\npwd > ran.cwd\necho \"$MODE\" \"$@\"\n",
    );
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
    let dir = app.job_dir(id);
    let nul_separated = |name: &str| -> Vec<String> {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        bytes.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    };
    let env: serde_json::Map<String, Value> = nul_separated("ran.env")
        .into_iter()
        .filter_map(|pair| pair.split_once('=').map(|(k, v)| (k.to_string(), Value::String(v.to_string()))))
        .collect();
    let cwd = std::fs::read_to_string(dir.join("ran.cwd")).expect("ran.cwd").trim_end().to_string();
    let ran = serde_json::json!({"argv": nul_separated("ran.argv"), "env": env, "cwd": cwd});

    let dry_id = dry["request"]["env"]["EDP_EXECUTION_ID"].as_str().expect("the dry run's execution id");
    let expected: Value = serde_json::from_str(&dry["request"].to_string().replace(dry_id, id)).unwrap();
    assert_eq!(expected["argv"], ran["argv"]);
    // Every variable the dry run shows, with its value (the job also
    // inherits edpd's own environment).
    for (name, value) in expected["env"].as_object().expect("the dry run's env") {
        assert_eq!(ran["env"].get(name), Some(value), "{name} in the job's environment");
    }
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

/// Counts of everything a submission could create.
async fn stored(app: &TestApp) -> Vec<(&'static str, usize)> {
    let mut counts = Vec::new();
    for (path, key) in [
        ("/v2/job-templates", "job_templates"),
        ("/v2/job-binaries", "binaries"),
        ("/v2/job-binary-internals", "binaries"),
        ("/v2/data-sources", "data_sources"),
        ("/v2/jobs", "jobs"),
    ] {
        let body = app.get(path).await.expect(200);
        let n = body[key].as_array().unwrap_or_else(|| panic!("{path}: {body}")).len();
        counts.push((path, n));
    }
    counts
}

/// The words bash makes of `line`.
fn shell_words(line: &str) -> Vec<String> {
    let out = std::process::Command::new("bash").arg("-c").arg(format!("printf '%s\\0' {line}")).output().unwrap();
    assert!(out.status.success(), "bash could not read {line}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_terminator('\0').map(str::to_string).collect()
}

/// The human form's command line is the dry run's env and argv, word for
/// word, once a shell has read it (each dry run makes up its execution id:
/// the human one's is the last part of its `# in <job dir>` line).
fn assert_pasteable(human: &str, dry: &Value) {
    let lines: Vec<&str> = human.lines().filter(|l| !l.starts_with('#')).collect();
    let [line] = lines.as_slice() else { panic!("one command line expected:\n{human}") };
    let job_dir = human.lines().find_map(|l| l.strip_prefix("# in ")).expect("the job directory");
    let human_id = job_dir.rsplit('/').next().unwrap();
    let dry_id = dry["request"]["cwd"].as_str().unwrap().rsplit('/').next().unwrap();
    let line = line.replace(human_id, dry_id);
    let mut expected = Vec::new();
    if let Some(env) = dry["request"]["env"].as_object().filter(|e| !e.is_empty()) {
        expected.push("env".to_string());
        expected.extend(env.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())));
    }
    expected.extend(dry["request"]["argv"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_string()));
    assert_eq!(shell_words(&line), expected, "{human}");
}

#[tokio::test]
async fn a_dry_run_creates_nothing_and_prints_a_pasteable_command_line() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let before = stored(&app).await;
    let script = edp.write("fresh.sh", "echo \"$@\"\n");
    let input = edp.write("in.txt", "x\n");
    let output = edp.dir().join("out-%JOB_EXEC_ID%");
    let args = [
        "-t",
        "Shell",
        "-n",
        "fresh",
        "--main",
        script.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--param",
        "SAY=it's",
        "--arg",
        "a b",
        "--arg",
        "$(id)",
    ];
    let dry = edp.run(&[&["--json", "submit"], &args[..], &["--dry-run"]].concat()).await.expect_code(0).json();
    assert_eq!(dry["cluster_status"], "Active", "{dry}");
    assert_eq!(dry["warnings"], json!([]), "{dry}");
    let human = edp.run(&[&["submit"], &args[..], &["--dry-run"]].concat()).await;
    human.expect_code(0);
    assert_pasteable(&human.stdout, &dry);
    assert!(
        human.stdout.contains("# a submission would also upload ")
            && human.stdout.contains("create template `fresh`")
            && human.stdout.contains("as data source `in.txt`"),
        "{}",
        human.stdout
    );
    assert_eq!(stored(&app).await, before, "a dry run must create nothing");

    // A template stored but never launched: its internal binary was never
    // staged, and a dry run does not stage it either.
    let binary = app.upload_binary("kept.sh", b"echo kept\n").await;
    app.post("/v2/job-templates", json!({"name": "kept", "type": "Shell", "mains": [binary]})).await.expect(202);
    let before = stored(&app).await;
    let dry = edp.run(&["--json", "submit", "-t", "Shell", "-n", "kept", "--main", "kept.sh", "--dry-run"]).await;
    let dry = dry.expect_code(0).json();
    assert_eq!(dry["files"].as_object().unwrap().keys().collect::<Vec<_>>(), ["kept.sh"], "{dry}");
    assert_eq!(stored(&app).await, before);
    assert!(!app.data_dir().join("binaries").exists(), "a dry run stages no binary");
    let human = edp.run(&["submit", "-t", "Shell", "-n", "kept", "--main", "kept.sh", "--dry-run"]).await;
    assert!(!human.expect_code(0).stdout.contains("a submission would also"), "all exists: {}", human.stdout);
}

/// A Spark cluster whose master does not answer is registered in Error; a
/// dry run on it still renders the spark-submit command line, and says so.
#[tokio::test]
async fn a_dry_run_on_a_spark_cluster_in_error_prints_the_spark_submit_command_line() {
    let app = TestApp::builder().plugin(edp_tests::build::engine_plugin("spark")).start().await;
    let edp = Edp::new(&app);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let master = format!("spark://127.0.0.1:{port}");
    let configs = json!({"spark_home": edp_tests::spark::home().display().to_string(), "master": master});
    let cluster = app
        .post("/v2/clusters", json!({"name": "down", "plugin_name": "spark", "cluster_configs": configs}))
        .await
        .expect(202);
    assert_eq!(cluster["cluster"]["status"], "Error", "{cluster}");
    let app_py = edp.write("pi.py", "print('pi')\n");
    let args = [
        "submit",
        "-t",
        "Spark",
        "-n",
        "pi",
        "-c",
        "down",
        "--main",
        app_py.to_str().unwrap(),
        "--arg",
        "100",
        "--dry-run",
    ];
    let before = stored(&app).await;

    let dry = edp.run(&[&["--json"], &args[..]].concat()).await.expect_code(0).json();
    assert_eq!(dry["kind"], "spark-submit", "{dry}");
    assert_eq!(dry["cluster_status"], "Error", "{dry}");
    assert!(dry["warnings"][0].as_str().unwrap().contains("cluster `down` is in status Error"), "{dry}");
    let human = edp.run(&args).await;
    human.expect_code(0);
    assert!(human.stderr.contains("edp: warning: cluster `down` is in status Error"), "{}", human.stderr);
    assert_pasteable(&human.stdout, &dry);
    let argv: Vec<&str> = dry["request"]["argv"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(argv[0].ends_with("/bin/spark-submit"), "{argv:?}");
    for pair in [["--master", master.as_str()], ["--name", "pi"]] {
        assert!(argv.windows(2).any(|w| w == pair), "{pair:?} in {argv:?}");
    }
    let execution_id = dry["request"]["execution_id"].as_str().unwrap();
    assert!(argv.contains(&format!("spark.edp.execution_id={execution_id}").as_str()), "{argv:?}");
    assert_eq!(argv.last(), Some(&"100"));
    assert_eq!(stored(&app).await, before, "a dry run must create nothing");
}

/// The endpoint behind `--dry-run`: bad inline input is a 400 in Sahara's
/// shape that says what is wrong, and a good one answers with nothing stored.
#[tokio::test]
async fn the_dry_run_endpoint_takes_an_inline_template_and_refuses_bad_ones() {
    let app = TestApp::spawn().await;
    let local = app.get("/v2/clusters?name=local").await.expect(200)["clusters"][0]["id"].clone();
    let template = json!({"name": "inline", "type": "Shell", "mains": [{"name": "run.sh"}]});
    let before = stored(&app).await;

    let answer = app
        .post(
            "/v2/jobs/dry-run",
            json!({"cluster_id": local, "job_template": template, "job_configs": {"args": ["x"]},
                   "output": {"name": "out", "type": "file", "url": "/tmp/out-%JOB_EXEC_ID%"}}),
        )
        .await
        .expect(200);
    let dry = &answer["dry_run"];
    let id = dry["request"]["env"]["EDP_EXECUTION_ID"].as_str().unwrap();
    assert_eq!(dry["request"]["env"]["EDP_OUTPUT"], format!("/tmp/out-{id}"), "{dry}");
    assert_eq!(dry["request"]["argv"][2], "x", "{dry}");
    assert_eq!(dry["cluster_status"], "Active");
    assert_eq!(stored(&app).await, before);

    let cases = [
        (json!({"cluster_id": local}), "job_template_id"),
        (json!({"cluster_id": local, "job_template": template, "job_template_id": "x"}), "exactly one"),
        (json!({"cluster_id": local, "job_template": {"name": "t", "type": "Shell", "mains": [7]}}), "job binary"),
        (json!({"cluster_id": local, "job_template": {"name": "t", "type": "Shell", "mains": [{"nme": "a"}]}}), "nme"),
        (json!({"cluster_id": local, "job_template": {"name": "t", "type": "Shell", "mains": []}}), "exactly one"),
        (
            json!({"cluster_id": local, "job_template": {"name": "../t", "type": "Shell", "mains": [{"name": "a"}]}}),
            "name",
        ),
        (
            json!({"cluster_id": local, "job_template": {"name": "t", "type": "Shell", "mains": [{"name": "a/b"}]}}),
            "a/b",
        ),
        (json!({"cluster_id": local, "job_template": {"name": "t", "type": "Pig", "mains": [{"name": "a"}]}}), "Pig"),
        (
            json!({"cluster_id": local, "job_template": template, "input": {"name": "i", "type": "s3", "url": "s3://b"}}),
            "supported: file, hdfs",
        ),
        (
            json!({"cluster_id": local, "job_template": {"name": "t", "type": "Shell",
                   "mains": [{"name": "a", "url": "internal-db://00000000-0000-4000-8000-000000000000"}]}}),
            "not found",
        ),
    ];
    for (body, says) in cases {
        let reply = app.post("/v2/jobs/dry-run", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        let message = reply.body["error_message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: expected `{says}` in {}", reply.body);
    }
    assert_eq!(stored(&app).await, before);
}
