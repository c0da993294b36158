//! A standalone master and worker: jobs submitted through the master's
//! REST server by the engine, and by spark-submit in cluster mode.
//! One test, so that one master and worker serve every case; jobs that do
//! not depend on each other run side by side.

use std::time::Instant;

use edp_engine_api::plugin::Engine as _;
use edp_engine_api::wire::{Binary, ClusterSpec, JobRequest, JobStatus};
use edp_tests::eventually;
use serde_json::{Value, json};

use crate::common::*;
use crate::inprocess;

#[tokio::test]
async fn standalone_master_runs_jar_and_python_drivers_through_rest() {
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", t0.elapsed().as_secs_f64());
    let spark = Standalone::start().await;
    step("master and worker up");
    let mut app = start_app().await;
    let work = app.root.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");

    let mut rest_configs = json!({
        "submit_mode": "rest",
        "rest_url": spark.rest_url(),
        "master_ui_url": spark.ui_url(),
        "master": spark.master_url(),
        "env": spark_env(),
    });
    rest_configs.as_object_mut().expect("object").extend(base_properties().as_object().expect("object").clone());
    let rest = active_cluster(&app, "standalone-rest", rest_configs.clone()).await;
    let mut submit_configs = json!({
        "spark_home": spark_home().display().to_string(),
        "master": spark.master_url(),
        "deploy_mode": "cluster",
        "rest_url": spark.rest_url(),
        "master_ui_url": spark.ui_url(),
        "env": spark_env(),
    });
    submit_configs.as_object_mut().expect("object").extend(base_properties().as_object().expect("object").clone());
    let submitting = active_cluster(&app, "standalone-submit", submit_configs).await;

    // Side by side: a Java app compiled here, through REST; a failing
    // Python app, through REST; the Java app failing, through spark-submit
    // in cluster mode; and the Java app submitted in-process, for the
    // resubmission checks below.
    let jar = smoke_jar(&work);
    let smoke = template(&app, "smoke.jar", &jar).await;
    let smoke_body =
        job_body(&smoke, &rest, json!({"configs": {"edp.java.main_class": "edp.Smoke"}, "args": ["1000"]}), json!({}));
    let planned = dry_run(&app, &smoke_body).await;
    let java = launch(&app, &smoke_body).await;
    let failing = template(&app, "failing.py", FAILING_PY.as_bytes()).await;
    let failing_job = launch(&app, &job_body(&failing, &rest, json!({}), json!({}))).await;
    let body = job_body(
        &smoke,
        &submitting,
        json!({"configs": {"edp.java.main_class": "edp.Smoke"}, "args": ["10", "edp-java-failure-marker"]}),
        json!({}),
    );
    let java_failing = launch(&app, &body).await;
    let engine = inprocess::engine(&work.join("engine"));
    let request = smoke_request(&rest_configs, &work.join("smoke.jar"));
    let first = engine.run_job(request.clone()).await.expect("submitted in-process");
    assert!(first.engine_job_id.starts_with("driver-"), "{first:?}");
    step("four drivers submitted");

    // A launch repeated finds the driver recorded in the job directory;
    // one repeated after the engine lost the master's answer (edpd died
    // between the two) finds it on the master.
    let again = engine.run_job(request.clone()).await.expect("launched again");
    assert_eq!(again.engine_job_id, first.engine_job_id, "a repeated launch submitted again");
    let dir = work.join("engine/jobs").join(&request.execution_id);
    std::fs::rename(dir.join("submission.json"), dir.join("submission.lost")).expect("lose the record");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_millis() as u64;
    std::fs::write(dir.join("submitting"), json!({"at_ms": now_ms - 60_000}).to_string()).expect("an unfinished one");
    let drivers = driver_count(&spark).await;
    let found = eventually("the lost submission to be found", JOB_DEADLINE, || async {
        match engine.run_job(request.clone()).await {
            Ok(launched) => Some(launched),
            // Undecided while the driver waits for a worker.
            Err(e) => {
                assert_eq!(e.kind, edp_engine_api::abi::ErrorKind::TRANSIENT, "{e}");
                None
            }
        }
    })
    .await;
    assert_eq!(found.engine_job_id, first.engine_job_id, "the lost submission was not found");
    assert_eq!(driver_count(&spark).await, drivers, "a driver was submitted again");
    step("resubmissions found the driver");

    let done = wait_for(&app, &java, &["SUCCEEDED"]).await;
    assert_eq!(done["return_code"], 0, "{done}");
    assert_eq!(done["info"]["driver_state"], "FINISHED", "{done}");
    assert!(done["engine_job_id"].as_str().is_some_and(|d| d.starts_with("driver-")), "{done}");
    let stdout = read_log(&app, &java, "stdout").await;
    assert!(stdout.contains("sum of 1..1000 is 500500"), "driver stdout: {stdout}");
    // The dry run showed the exact request body that was sent.
    assert_eq!(planned["kind"], "rest", "{planned}");
    let planned_id = planned["request"]["execution_id"].as_str().expect("the dry run's execution id").to_string();
    let sent: Value = serde_json::from_slice(
        &std::fs::read(spark_job_dir(&app, &java).join("submission.json")).expect("submission.json"),
    )
    .expect("JSON");
    assert_eq!(with_execution_id(&planned["request"]["body"], &planned_id, &java), sent["request"]);
    assert_eq!(sent["request"]["mainClass"], "edp.Smoke");
    step("REST jar app SUCCEEDED");

    let failed = wait_for(&app, &failing_job, &["FAILED"]).await;
    let reason = failed["info"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("RuntimeError: edp-spark-failure-marker"), "reason: {failed}");
    assert_eq!(failed["info"]["driver_state"], "FAILED", "{failed}");
    assert_eq!(failed["return_code"], 1, "{failed}");
    step("REST Python app FAILED");

    let failed = wait_for(&app, &java_failing, &["FAILED"]).await;
    let reason = failed["info"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("java.lang.IllegalStateException: edp-java-failure-marker"), "reason: {failed}");
    assert!(failed["info"]["driver_id"].as_str().is_some_and(|d| d.starts_with("driver-")), "{failed}");
    let submit_log = read_log(&app, &java_failing, "spark-submit.stderr").await;
    assert!(submit_log.contains("submitted as driver-"), "spark-submit's output: {submit_log}");
    step("spark-submit cluster-mode jar app FAILED");

    let handle = inprocess::handle(&request, &first);
    eventually("the in-process job to succeed", JOB_DEADLINE, || async {
        let report = engine.get_job_status(handle.clone()).await.expect("status");
        assert!(!report.status.is_terminal() || report.status == JobStatus::Succeeded, "{report:?}");
        (report.status == JobStatus::Succeeded).then_some(())
    })
    .await;
    drop(engine);

    // Two long Python apps, side by side: one is killed while its Python
    // process sleeps, and nothing of it is left (no driver, executor or
    // Python process: pitfall P7); the other outlives an edpd restart.
    let waiter = template(&app, "waiter.py", WAITER_PY.as_bytes()).await;
    let never = work.join("never");
    let args = json!({"args": [work.join("starts-cancelled").display().to_string(), never.display().to_string()]});
    let long = launch(&app, &job_body(&waiter, &rest, args, json!({}))).await;
    let starts = work.join("starts");
    let release = work.join("release");
    let args = json!({"args": [starts.display().to_string(), release.display().to_string()]});
    let survivor = launch(&app, &job_body(&waiter, &rest, args, json!({}))).await;
    wait_for_log(&app, &long, "stdout", "ready").await;
    let stderr = read_log(&app, &long, "stderr").await;
    let app_id = app_id(&stderr).unwrap_or_else(|| panic!("no app id in the driver's stderr: {stderr}"));
    assert!(!processes_with(&long).is_empty(), "the driver carries the execution id");
    assert!(!processes_with(&app_id).is_empty(), "an executor of {app_id} runs");
    cancel(&app, &long).await;
    let killed = wait_for(&app, &long, &["KILLED"]).await;
    assert_eq!(killed["info"]["driver_state"], "KILLED", "{killed}");
    no_process_left("driver or Python", &long).await;
    no_process_left("executor", &app_id).await;
    step("REST Python app KILLED, nothing left");

    wait_for_log(&app, &survivor, "stdout", "ready").await;
    let drivers_before = driver_count(&spark).await;
    app.kill();
    app.start().await;
    let job = app.get(&format!("/v2/jobs/{survivor}?refresh_status=true")).await.expect(200);
    assert_eq!(job["job"]["info"]["status"], "RUNNING", "{job}");
    std::fs::write(&release, "").expect("release the job");
    let done = wait_for(&app, &survivor, &["SUCCEEDED"]).await;
    assert!(read_log(&app, &survivor, "stdout").await.contains("released"), "{done}");
    assert_eq!(std::fs::read_to_string(&starts).expect("starts file").lines().count(), 1, "started more than once");
    assert_eq!(driver_count(&spark).await, drivers_before, "a driver was submitted again");
    step("REST Python app survived an edpd restart");
}

/// The smoke jar through REST, as edpd would ask the engine.
fn smoke_request(rest_configs: &Value, jar: &std::path::Path) -> JobRequest {
    JobRequest {
        execution_id: "0a1b2c3d-resubmit".into(),
        job_type: "Spark".into(),
        template_name: "smoke".into(),
        cluster: ClusterSpec {
            id: "c".into(),
            name: "c".into(),
            configs: rest_configs.as_object().cloned().unwrap_or_default(),
        },
        mains: vec![Binary {
            id: "b".into(),
            name: "smoke.jar".into(),
            url: format!("file://{}", jar.display()),
            path: Some(jar.to_path_buf()),
        }],
        libs: vec![],
        input: None,
        output: None,
        configs: json!({"edp.java.main_class": "edp.Smoke"}).as_object().cloned().unwrap_or_default(),
        params: Default::default(),
        args: vec!["100".into()],
        callback: None,
    }
}

/// `app-<date>-<n>` from a driver's `Connected to Spark cluster with app ID ...`.
fn app_id(stderr: &str) -> Option<String> {
    let at = stderr.find("app ID app-")? + "app ID ".len();
    let id: String = stderr[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Some(id)
}

async fn driver_count(spark: &Standalone) -> usize {
    let state = spark.state().await;
    ["activedrivers", "completeddrivers"].iter().map(|k| state[*k].as_array().map_or(0, Vec::len)).sum()
}
