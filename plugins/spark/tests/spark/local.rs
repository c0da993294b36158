//! spark-submit with `local[2]`: the spark-submit process is the job,
//! under edp-supervisor in the engine's job directory.

use serde_json::{Value, json};

use crate::common::*;

fn local_configs() -> Value {
    let mut configs = json!({
        "spark_home": spark_home().display().to_string(),
        "master": "local[2]",
        "env": spark_env(),
    });
    configs.as_object_mut().expect("object").extend(base_properties().as_object().expect("object").clone());
    configs
}

#[tokio::test]
async fn spark_submit_in_local_mode_runs_fails_cancels_and_survives_a_restart() {
    let t0 = std::time::Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", t0.elapsed().as_secs_f64());
    let mut app = start_app().await;
    let cluster = active_cluster(&app, "local-spark", local_configs()).await;
    let work = app.root.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");

    // Side by side: a wordcount on `file` data sources, named in its args
    // (Sahara's rule), a failing app, and two long ones.
    let words = work.join("words.txt");
    std::fs::write(&words, "the quick brown fox\nthe lazy dog\nspark spark rust\nthe end\n").expect("input");
    let output = work.join("counts");
    let input_id = data_source(&app, "words", &format!("file://{}", words.display())).await;
    let output_id = data_source(&app, "counts", &format!("file://{}", output.display())).await;
    let wordcount = template(&app, "wordcount.py", WORDCOUNT_PY.as_bytes()).await;
    let wc_body = job_body(
        &wordcount,
        &cluster,
        json!({"configs": {"edp.substitute_data_source_for_name": true, "spark.default.parallelism": 2},
               "args": ["datasource://words", "datasource://counts"]}),
        json!({"input_id": input_id, "output_id": output_id}),
    );
    let planned = dry_run(&app, &wc_body).await;
    let wc = launch(&app, &wc_body).await;
    let failing = template(&app, "failing.py", FAILING_PY.as_bytes()).await;
    let failing_job = launch(&app, &job_body(&failing, &cluster, json!({}), json!({}))).await;
    // And two long apps: one to cancel, one to outlive an edpd restart.
    let waiter = template(&app, "waiter.py", WAITER_PY.as_bytes()).await;
    let never = work.join("never");
    let args = json!({"args": [work.join("starts-cancelled").display().to_string(), never.display().to_string()]});
    let long = launch(&app, &job_body(&waiter, &cluster, args, json!({}))).await;
    let starts = work.join("starts");
    let release = work.join("release");
    let args = json!({"args": [starts.display().to_string(), release.display().to_string()]});
    let survivor = launch(&app, &job_body(&waiter, &cluster, args, json!({}))).await;

    step("four apps launched");
    let done = wait_for(&app, &wc, &["SUCCEEDED"]).await;
    assert_eq!(done["return_code"], 0, "{done}");
    let mut counted = std::collections::BTreeMap::new();
    for part in std::fs::read_dir(&output).expect("the output directory").flatten() {
        if part.file_name().to_string_lossy().starts_with("part-") {
            for line in std::fs::read_to_string(part.path()).expect("a part file").lines() {
                let (word, count) = line.split_once('\t').expect("word<TAB>count");
                counted.insert(word.to_string(), count.parse::<u32>().expect("a count"));
            }
        }
    }
    let expected: std::collections::BTreeMap<String, u32> = [
        ("the", 3),
        ("quick", 1),
        ("brown", 1),
        ("fox", 1),
        ("lazy", 1),
        ("dog", 1),
        ("spark", 2),
        ("rust", 1),
        ("end", 1),
    ]
    .into_iter()
    .map(|(w, c)| (w.to_string(), c))
    .collect();
    assert_eq!(counted, expected);
    let stdout = read_log(&app, &wc, "stdout").await;
    assert!(stdout.contains("the\t3\n"), "stdout: {stdout}");

    // The dry run showed exactly what ran (its execution id aside).
    assert_eq!(planned["kind"], "spark-submit", "{planned}");
    let planned_id = planned["request"]["execution_id"].as_str().expect("the dry run's execution id").to_string();
    let ran: Value =
        serde_json::from_slice(&std::fs::read(spark_job_dir(&app, &wc).join("job.json")).expect("job.json"))
            .expect("job.json is JSON");
    let planned = with_execution_id(&planned["request"], &planned_id, &wc);
    assert_eq!(planned["argv"], ran["argv"], "dry run vs job.json");
    assert_eq!(planned["env"], ran["env"]);
    let argv: Vec<&str> = ran["argv"].as_array().expect("argv").iter().filter_map(Value::as_str).collect();
    assert!(argv[0].ends_with("/bin/spark-submit") && argv[1..3] == ["--master", "local[2]"], "{argv:?}");
    assert!(
        argv.ends_with(&[&format!("file://{}", words.display()), &format!("file://{}", output.display())]),
        "{argv:?}"
    );

    let failed = wait_for(&app, &failing_job, &["FAILED"]).await;
    let reason = failed["info"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("RuntimeError: edp-spark-failure-marker"), "reason: {failed}");
    assert_eq!(failed["return_code"], 1, "{failed}");
    step("wordcount SUCCEEDED, failing app FAILED");

    // A long app, cancelled while it sleeps in Python: nothing of it is left.
    wait_for_log(&app, &long, "stdout", "ready").await;
    assert!(!processes_with(&long).is_empty(), "the job's processes carry its execution id");
    cancel(&app, &long).await;
    let killed = wait_for(&app, &long, &["KILLED"]).await;
    assert_eq!(killed["info"]["status"], "KILLED", "{killed}");
    no_process_left("spark-submit, driver or Python", &long).await;
    step("long app KILLED, nothing left");

    // edpd dies while a job runs: the job goes on, is re-attached, and is
    // not started again.
    wait_for_log(&app, &survivor, "stdout", "ready").await;
    app.kill();
    app.start().await;
    let job = app.get(&format!("/v2/jobs/{survivor}?refresh_status=true")).await.expect(200);
    assert_eq!(job["job"]["info"]["status"], "RUNNING", "{job}");
    std::fs::write(&release, "").expect("release the job");
    let done = wait_for(&app, &survivor, &["SUCCEEDED"]).await;
    assert_eq!(done["return_code"], 0, "{done}");
    assert!(read_log(&app, &survivor, "stdout").await.contains("released"));
    let started = std::fs::read_to_string(&starts).expect("starts file");
    assert_eq!(started.lines().count(), 1, "the job was started {} times", started.lines().count());
    step("long app survived an edpd restart");
}

#[tokio::test]
async fn clusters_are_checked_when_registered() {
    let app = start_app().await;
    // Malformed configs are the user's error.
    let reply = app
        .post("/v2/clusters", json!({"name": "bad", "plugin_name": "spark", "cluster_configs": {"master": "local[2]"}}))
        .await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert!(reply.body["error_message"].as_str().unwrap_or_default().contains("spark_home"), "{:?}", reply.body);
    // Well-formed, but nothing there: registered in Error, with the reason.
    let cluster = register(&app, "nowhere", json!({"spark_home": "/nonexistent/spark", "master": "local[2]"})).await;
    assert_eq!(cluster["status"], "Error", "{cluster}");
    let rest = register(
        &app,
        "no-master",
        json!({"submit_mode": "rest", "rest_url": "http://127.0.0.1:9", "rest_auth_token": "secret-token"}),
    )
    .await;
    assert_eq!(rest["status"], "Error", "{rest}");
    assert!(!rest.to_string().contains("secret-token"), "the token leaked: {rest}");
}
