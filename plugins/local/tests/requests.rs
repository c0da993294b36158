//! What the engine refuses, and how it describes and checks itself. No job
//! runs here.

mod common;

use common::*;
use edp_engine_api::abi::ErrorKind;
use edp_engine_api::plugin::{Engine, Error};
use edp_engine_api::wire::{DataSource, JobRequest};
use edp_engine_local::LocalEngine;
use serde_json::json;

const ID: &str = "6f1c2d3e-0000-4000-8000-000000000002";

async fn refused(engine: &LocalEngine, job: JobRequest) -> Error {
    let err = engine.validate(job.clone()).await.expect_err("validate refuses");
    let again = engine.run_job(job.clone()).await.expect_err("run_job refuses");
    assert_eq!((err.kind, &err.message), (again.kind, &again.message));
    // What edpd is answered: none of these needs more than the request.
    let now = engine.validate_now(&job).expect("decided from the request").expect_err("validate_now refuses");
    assert_eq!((err.kind, &err.message), (now.kind, &now.message));
    err
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_is_written() {
    let env = Env::new();
    let (engine, _) = env.engine();
    let shell = env.shell_job(ID, "exit 0\n", &[]);
    let jar = env.binary("app.jar", "jar");

    let mut java = request(ID, "Java");
    java.libs = vec![jar.clone()];
    let err = refused(&engine, java.clone()).await;
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
    assert!(err.message.contains("edp.java.main_class"), "{}", err.message);

    let mut java_with_main = java.clone();
    java_with_main.configs = object(json!({ "edp.java.main_class": "Main" }));
    java_with_main.mains = vec![jar.clone()];
    assert_eq!(refused(&engine, java_with_main).await.kind, ErrorKind::INVALID_INPUT);

    let mut java_no_libs = request(ID, "Java");
    java_no_libs.configs = object(json!({ "edp.java.main_class": "Main" }));
    assert_eq!(refused(&engine, java_no_libs).await.kind, ErrorKind::INVALID_INPUT);

    let mut no_main = shell.clone();
    no_main.mains.clear();
    assert!(refused(&engine, no_main).await.message.contains("exactly one main"));

    let mut two_mains = shell.clone();
    two_mains.mains.push(env.binary("other.sh", "exit 0"));
    assert_eq!(refused(&engine, two_mains).await.kind, ErrorKind::INVALID_INPUT);

    let mut pig = shell.clone();
    pig.job_type = "Pig".into();
    assert_eq!(refused(&engine, pig).await.kind, ErrorKind::UNSUPPORTED);

    for params in [json!({ "1BAD": "x" }), json!({ "A-B": "x" }), json!({ "OK": [1] }), json!({ "OK": null })] {
        let mut job = shell.clone();
        job.params = object(params.clone());
        assert_eq!(refused(&engine, job).await.kind, ErrorKind::INVALID_INPUT, "{params}");
    }
    let mut reserved = shell.clone();
    reserved.params = object(json!({ "EDP_JOB_DIR": "/elsewhere" }));
    assert_eq!(refused(&engine, reserved).await.kind, ErrorKind::INVALID_INPUT);

    let mut hdfs = shell.clone();
    hdfs.input =
        Some(DataSource { id: "d".into(), name: "logs-in".into(), kind: "hdfs".into(), url: "hdfs://nn/x".into() });
    let err = refused(&engine, hdfs).await;
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
    assert!(err.message.contains("logs-in"), "{}", err.message);

    let mut unstaged = shell.clone();
    unstaged.mains[0].path = None;
    assert_eq!(refused(&engine, unstaged).await.kind, ErrorKind::INVALID_INPUT);

    for name in ["../evil.sh", "a/b.sh", "..", "job.json", "stdout"] {
        let mut job = shell.clone();
        job.mains[0].name = name.into();
        assert_eq!(refused(&engine, job).await.kind, ErrorKind::INVALID_INPUT, "{name}");
    }

    let mut bad_id = shell.clone();
    bad_id.execution_id = "../../etc".into();
    assert_eq!(refused(&engine, bad_id).await.kind, ErrorKind::INVALID_INPUT);

    let mut bad_cluster = shell.clone();
    bad_cluster.cluster.configs = object(json!({ "work_dir": "relative/dir" }));
    assert_eq!(refused(&engine, bad_cluster).await.kind, ErrorKind::INVALID_INPUT);
    let mut typo = shell.clone();
    typo.cluster.configs = object(json!({ "shel": "/bin/bash" }));
    assert_eq!(refused(&engine, typo).await.kind, ErrorKind::INVALID_INPUT);

    let mut nul_arg = shell.clone();
    nul_arg.args = vec!["a\0b".into()];
    assert_eq!(refused(&engine, nul_arg).await.kind, ErrorKind::INVALID_INPUT);

    assert!(!env.work_dir().join(ID).exists(), "a refused request left a job directory");
    assert!(engine.validate_now(&shell).is_some_and(|v| v.is_ok()));
    assert!(engine.validate(shell).await.is_ok());
}

#[tokio::test]
async fn a_missing_supervisor_refuses_the_engine() {
    let env = Env::new();
    let hints = TestHost::new();
    let ctx = env.context(json!({ "supervisor": "/nonexistent/edp-supervisor" }), &hints);
    let err = LocalEngine::new(ctx).err().expect("refused");
    assert!(err.message.contains("/nonexistent/edp-supervisor"), "{}", err.message);

    // By default it is looked for beside the plugin.
    let err = LocalEngine::new(env.context(json!({}), &hints)).err().expect("refused");
    assert!(err.message.contains(&env.root.path().join("plugins/edp-supervisor").display().to_string()));
}

#[tokio::test]
async fn describe_and_check_cluster() {
    let env = Env::new();
    let (engine, _) = env.engine();
    let description = engine.describe();
    assert_eq!(description.id, "local");
    assert_eq!(description.job_types, ["Shell", "Java", "Python", "MapReduce.Streaming"]);
    assert!(description.capabilities.progress);
    assert!(description.capabilities.logs && description.capabilities.dry_run);
    assert!(!description.capabilities.suspend);
    assert_eq!((description.polling.initial_ms, description.polling.max_ms), (1_000, 10_000));

    let mut cluster = request(ID, "Shell").cluster;
    cluster.configs = object(json!({ "work_dir": env.root.path().join("cluster-jobs"), "java": "no-such-java-here" }));
    let check = engine.check_cluster(cluster.clone()).await.expect("check");
    assert!(check.ok, "{:?}", check.reason);
    assert!(env.root.path().join("cluster-jobs").is_dir());
    assert_eq!(check.info["interpreters"]["java"]["found"], json!(null));
    assert_eq!(check.info["interpreters"]["shell"]["command"], json!("/bin/sh"));
    assert!(check.info["interpreters"]["shell"]["found"].is_string());

    cluster.configs = object(json!({ "work_dir": "/dev/null/jobs" }));
    let check = engine.check_cluster(cluster.clone()).await.expect("check");
    assert!(!check.ok);
    assert!(check.reason.unwrap_or_default().contains("/dev/null/jobs"));

    cluster.configs = object(json!({ "env": { "X": 1 } }));
    let err = engine.check_cluster(cluster).await.expect_err("malformed configs");
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
}
