//! Job policies on the local engine, with real processes: retries,
//! timeouts, a cluster's job limit with its queue, idempotent submits,
//! re-runs, retention, and all of it across a SIGKILL of edpd.

use std::path::Path;
use std::time::{Duration, Instant};

use edp_tests::{TestApp, eventually};
use serde_json::{Value, json};

use crate::helpers::{TERMINAL, group_alive, launch, local_cluster, read_log, shell_template, wait_for};
use crate::postgres::database;

/// Appends a line to `$1` per run, then fails with 7 while it has run fewer
/// than `$2` times.
const FLAKY: &str = "echo run >> \"$1\"\nn=$(wc -l < \"$1\")\necho \"run $n\"\n[ \"$n\" -ge \"$2\" ] || exit 7\n";

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().count()).unwrap_or(0)
}

fn policy(max_attempts: u32, delay: u64, extra: Value) -> Value {
    let mut configs = json!({"edp.job.max_attempts": max_attempts, "edp.job.retry_delay_secs": delay});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        configs[k] = v;
    }
    configs
}

#[tokio::test]
async fn a_job_that_fails_twice_then_succeeds_runs_three_times_and_succeeds() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "flaky", FLAKY).await;
    let runs = app.root.path().join("runs");
    let args = json!([runs.display().to_string(), "3"]);
    let id = launch(&app, &template, &cluster, json!({"configs": policy(5, 0, json!({})), "args": args})).await;

    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(lines(&runs), 3, "the job ran {} times", lines(&runs));
    assert_eq!((job["info"]["attempt"].clone(), job["info"]["max_attempts"].clone()), (json!(3), json!(5)), "{job}");
    assert_eq!(job["return_code"], 0);
    // Each attempt's log stays readable, and is its own.
    assert_eq!(read_log(&app, &id, "stdout").await, "run 3\n");
    for attempt in 1..=2 {
        let log = app.get(&format!("/v2/jobs/{id}/logs?stream=stdout&attempt={attempt}")).await.expect(200);
        assert_eq!(log["log"]["data"], format!("run {attempt}\n"), "attempt {attempt}: {log}");
    }
    let reply = app.get(&format!("/v2/jobs/{id}/logs?attempt=9")).await;
    assert_eq!((reply.status, reply.error_name()), (400, "VALIDATION_ERROR"), "{}", reply.body);
    // One work directory per attempt: each attempt was its own submission.
    for dir in [id.clone(), format!("{id}-a2"), format!("{id}-a3")] {
        assert!(app.job_dir(&dir).join("exit").exists(), "no work directory {dir}");
    }
    // An operator sees the two retries, as log lines and on /metrics.
    let metrics =
        app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.lines().any(|l| l == "edp_job_retries_total{engine=\"local\"} 2"), "{metrics}");
    assert_eq!(app.log().matches("job retried").count(), 2, "{}", app.log());
}

#[tokio::test]
async fn a_job_that_always_fails_runs_exactly_max_attempts_times_and_fails_with_its_code() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "hopeless", FLAKY).await;
    let runs = app.root.path().join("runs");
    let args = json!([runs.display().to_string(), "1000"]);
    let id = launch(&app, &template, &cluster, json!({"configs": policy(3, 2, json!({})), "args": args})).await;

    // Between attempts: PENDING, saying when the next one starts.
    let waiting = eventually("the job waiting for its second attempt", Duration::from_secs(30), || async {
        let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200)["job"].clone();
        let reason = job["info"]["reason"].as_str().unwrap_or_default().to_string();
        (job["status"] == "PENDING" && reason.contains("attempt 2 starts at")).then_some(job)
    })
    .await;
    assert!(waiting["info"]["reason"].as_str().unwrap().contains("attempt 1 of 3 failed (return code 7)"), "{waiting}");
    assert_eq!(waiting["info"]["attempt"], 2, "{waiting}");

    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(job["info"]["status"], "FAILED", "{job}");
    assert_eq!(job["return_code"], 7, "{job}");
    assert_eq!(job["info"]["attempt"], 3, "{job}");
    assert_eq!(lines(&runs), 3);
    // Nothing more comes: FAILED is final.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(lines(&runs), 3, "the job ran again after its last attempt");
}

#[tokio::test]
async fn a_killed_job_is_not_retried() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "sleeper", "sleep 600\n").await;
    let id = launch(&app, &template, &cluster, json!({"configs": policy(3, 0, json!({}))})).await;
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;
    app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "KILLED", "{job}");
    assert_eq!(job["info"]["attempt"], 1, "{job}");
    assert!(!app.job_dir(&format!("{id}-a2")).exists(), "a killed job was launched again");
}

#[tokio::test]
async fn a_job_past_its_timeout_is_killed_within_seconds_with_no_process_left() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "forever", "sleep 600 &\nsleep 600\n").await;
    let id = launch(&app, &template, &cluster, json!({"configs": {"edp.job.timeout_secs": 2}})).await;
    let running = wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;
    let started = Instant::now();
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    let took = started.elapsed();
    assert_eq!(job["info"]["status"], "KILLED", "{job}");
    assert_eq!(job["info"]["reason"], "timed out after 2 s", "{job}");
    assert!(took < Duration::from_secs(8), "killed {took:?} after it was seen running ({running})");
    eventually("the job's process group to be gone", Duration::from_secs(10), || async {
        (!group_alive(&app, &id)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn unknown_or_out_of_range_policies_are_refused_naming_the_valid_ones() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "true", "true\n").await;
    let before = job_count(&app).await;
    for (configs, mentions) in [
        (json!({"edp.job.retries": 2}), "edp.job.max_attempts, edp.job.retry_delay_secs, edp.job.timeout_secs"),
        (json!({"edp.job.max_attempts": 0}), "edp.job.max_attempts"),
        (json!({"edp.job.max_attempts": "many"}), "edp.job.max_attempts"),
        (json!({"edp.job.retry_delay_secs": 7200}), "edp.job.retry_delay_secs"),
        (json!({"edp.job.timeout_secs": -1}), "edp.job.timeout_secs"),
    ] {
        let body = json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"configs": configs}});
        let reply = app.post("/v2/jobs", body).await;
        assert_eq!(reply.status, 400, "{configs}: {}", reply.body);
        assert_eq!(reply.body["error_code"], 400);
        assert!(reply.body["error_message"].as_str().unwrap_or_default().contains(mentions), "{}", reply.body);
    }
    assert_eq!(job_count(&app).await, before, "a refused launch stored a job");
    let reply =
        app.post("/v2/clusters", json!({"name": "zero", "plugin_name": "local", "max_concurrent_jobs": 0})).await;
    assert_eq!((reply.status, reply.error_name()), (400, "VALIDATION_ERROR"), "{}", reply.body);
}

async fn job_count(app: &TestApp) -> usize {
    app.get("/v2/jobs").await.expect(200)["jobs"].as_array().map_or(0, Vec::len)
}

/// Prints the job's own start and end (nanoseconds since the epoch).
const STAMPED: &str = "date +%s%N\nsleep \"$1\"\ndate +%s%N\n";

/// The most jobs whose [start, end] overlap at one instant.
fn most_at_once(spans: &[(u128, u128)]) -> usize {
    let mut events: Vec<(u128, i32)> = spans.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    // An end before a start at the same instant.
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    most as usize
}

async fn spans(app: &TestApp, ids: &[String]) -> Vec<(u128, u128)> {
    let mut spans = Vec::new();
    for id in ids {
        let log = read_log(app, id, "stdout").await;
        let stamps: Vec<u128> = log.lines().map(|l| l.trim().parse().expect("a stamp")).collect();
        assert_eq!(stamps.len(), 2, "job {id} printed {log:?}");
        spans.push((stamps[0], stamps[1]));
    }
    spans
}

async fn limited_cluster(app: &TestApp, limit: u32) -> String {
    let body = json!({"name": "limited", "plugin_name": "local", "max_concurrent_jobs": limit});
    let cluster = app.post("/v2/clusters", body).await.expect(202);
    assert_eq!(cluster["cluster"]["max_concurrent_jobs"], limit, "{cluster}");
    cluster["cluster"]["id"].as_str().expect("id").to_string()
}

async fn six_jobs_on_a_cluster_limited_to_two(app: &TestApp) {
    let cluster = limited_cluster(app, 2).await;
    let template = shell_template(app, "stamped", STAMPED).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(launch(app, &template, &cluster, json!({"args": ["1"]})).await);
    }
    // The queued ones wait PENDING, saying why.
    let waiting = eventually("a job waiting for a slot", Duration::from_secs(20), || async {
        let job = app.get(&format!("/v2/jobs/{}", ids[5])).await.expect(200)["job"].clone();
        let reason = job["info"]["reason"].as_str().unwrap_or_default().to_string();
        (job["status"] == "PENDING" && reason.starts_with("waiting for a slot on cluster limited (")).then_some(reason)
    })
    .await;
    assert!(waiting.ends_with(" running)"), "{waiting}");
    for id in &ids {
        let job = wait_for(app, id, TERMINAL, Duration::from_secs(60)).await;
        assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    }
    let spans = spans(app, &ids).await;
    assert_eq!(most_at_once(&spans), 2, "the jobs' own stamps: {spans:?}");
    // In submission order: each job started no later than the next one's.
    let first_starts: Vec<u128> = spans.iter().map(|s| s.0).collect();
    assert!(first_starts[..2].iter().all(|&s| first_starts[2..].iter().all(|&t| s <= t)), "{spans:?}");
    // Lifting the limit (PATCH null) shows as no field.
    let cluster = app.patch(&format!("/v2/clusters/{cluster}"), json!({"max_concurrent_jobs": null})).await.expect(202);
    assert!(cluster["cluster"].get("max_concurrent_jobs").is_none(), "{cluster}");
}

#[tokio::test]
async fn six_jobs_on_a_cluster_limited_to_two_never_run_more_than_two_at_once() {
    let app = TestApp::spawn().await;
    six_jobs_on_a_cluster_limited_to_two(&app).await;
}

#[tokio::test]
async fn six_jobs_on_a_cluster_limited_to_two_on_postgres() {
    let db = database();
    let app = TestApp::builder().env("EDP__DATABASE__URL", &db.url()).start().await;
    six_jobs_on_a_cluster_limited_to_two(&app).await;
}

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> edp_tests::Reply {
    app.send(app.http.post(format!("{}{path}", app.base)).header("Idempotency-Key", key).json(body)).await
}

#[tokio::test]
async fn the_same_idempotency_key_answers_the_first_job_and_another_body_is_a_conflict() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "once", "echo once\n").await;
    let body = json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"args": ["a"]}});
    let first = post_with_key(&app, "/v2/jobs", "retry-1", &body).await.expect(202);
    let again = post_with_key(&app, "/v2/jobs", "retry-1", &body).await.expect(202);
    assert_eq!(first["job"]["id"], again["job"]["id"], "a repeated submit made a second job");
    let jobs = app.get("/v2/jobs").await.expect(200)["jobs"].as_array().map_or(0, Vec::len);
    assert_eq!(jobs, 1);

    let other = json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"args": ["b"]}});
    let reply = post_with_key(&app, "/v2/jobs", "retry-1", &other).await;
    assert_eq!((reply.status, reply.error_name()), (409, "CONFLICT"), "{}", reply.body);
    assert_eq!(reply.body["error_code"], 409);
    assert!(reply.body["error_message"].as_str().unwrap_or_default().contains("retry-1"), "{}", reply.body);
    // Another key, or none, is another job.
    let second = post_with_key(&app, "/v2/jobs", "retry-2", &body).await.expect(202);
    assert_ne!(second["job"]["id"], first["job"]["id"]);
    let jobs = app.get("/v2/jobs").await.expect(200)["jobs"].as_array().map_or(0, Vec::len);
    assert_eq!(jobs, 2);
    // A refused submit does not take the key.
    let bad = json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"configs": {"edp.job.x": 1}}});
    assert_eq!(post_with_key(&app, "/v2/jobs", "retry-3", &bad).await.status, 400);
    post_with_key(&app, "/v2/jobs", "retry-3", &body).await.expect(202);

    // Flows too.
    let flow = json!({"name": "f", "jobs": [{"key": "a", "job_template_id": template, "cluster_id": cluster}]});
    let first = post_with_key(&app, "/v2/flows", "flow-1", &flow).await.expect(202);
    let again = post_with_key(&app, "/v2/flows", "flow-1", &flow).await.expect(202);
    assert_eq!(first["flow"]["id"], again["flow"]["id"]);
    let renamed = json!({"name": "g", "jobs": flow["jobs"]});
    assert_eq!(post_with_key(&app, "/v2/flows", "flow-1", &renamed).await.status, 409);
}

#[tokio::test]
async fn a_rerun_is_a_new_job_from_the_same_request() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "echo", "printf '%s\\n' \"$1\" \"$GREETING\"\n").await;
    let configs = json!({"args": ["hello"], "params": {"GREETING": "hi"}});
    let id = launch(&app, &template, &cluster, configs).await;
    wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    let rerun = app.post(&format!("/v2/jobs/{id}/rerun"), json!({})).await.expect(202);
    let new = rerun["job"]["id"].as_str().expect("id").to_string();
    assert_ne!(new, id);
    assert_eq!(rerun["job"]["status"], "PENDING");
    let job = wait_for(&app, &new, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(read_log(&app, &new, "stdout").await, "hello\nhi\n");
    let reply = app.post("/v2/jobs/no-such-job/rerun", json!({})).await;
    assert_eq!((reply.status, reply.error_name()), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn finished_jobs_past_retention_are_purged_with_their_work_directories() {
    // 0.00003 days: about 2.6 s.
    let app = TestApp::builder()
        .env("EDP__RETENTION__FINISHED_JOBS_DAYS", "0.00003")
        .env("EDP__RETENTION__INTERVAL_SECS", "1")
        .start()
        .await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "flaky", FLAKY).await;
    let runs = app.root.path().join("runs");
    let args = json!([runs.display().to_string(), "2"]);
    let old = launch(&app, &template, &cluster, json!({"configs": policy(2, 0, json!({})), "args": args})).await;
    let job = wait_for(&app, &old, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert!(app.job_dir(&old).exists() && app.job_dir(&format!("{old}-a2")).exists());
    // A finished flow goes too, and its job after it.
    let quick = shell_template(&app, "quick", "true\n").await;
    let one = json!({"name": "one", "jobs": [{"key": "a", "job_template_id": quick, "cluster_id": cluster}]});
    let flow = app.post("/v2/flows", one).await.expect(202)["flow"]["id"].as_str().expect("flow id").to_string();
    let flow_job = eventually("the flow to end", Duration::from_secs(30), || async {
        let flow = app.get(&format!("/v2/flows/{flow}")).await.expect(200)["flow"].clone();
        (flow["status"] == "SUCCEEDED").then(|| flow["jobs"][0]["execution_id"].as_str().map(str::to_string)).flatten()
    })
    .await;
    // A running job is never purged, however old.
    let sleeper = shell_template(&app, "sleeper", "sleep 600\n").await;
    let running = launch(&app, &sleeper, &cluster, json!({})).await;
    wait_for(&app, &running, &["RUNNING"], Duration::from_secs(30)).await;

    eventually("the finished job to be purged", Duration::from_secs(30), || async {
        (app.get(&format!("/v2/jobs/{old}")).await.status == 404).then_some(())
    })
    .await;
    eventually("its work directories to be gone", Duration::from_secs(10), || async {
        (!app.job_dir(&old).exists() && !app.job_dir(&format!("{old}-a2")).exists()).then_some(())
    })
    .await;
    eventually("the finished flow and its job to be purged", Duration::from_secs(30), || async {
        let flow_gone = app.get(&format!("/v2/flows/{flow}")).await.status == 404;
        (flow_gone && app.get(&format!("/v2/jobs/{flow_job}")).await.status == 404).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let job = app.get(&format!("/v2/jobs/{running}")).await.expect(200);
    assert_eq!(job["job"]["status"], "RUNNING", "{job}");
    app.patch(&format!("/v2/jobs/{running}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    wait_for(&app, &running, TERMINAL, Duration::from_secs(30)).await;
}

async fn retries_and_limits_survive_a_sigkill(mut app: TestApp) {
    // Retries: killed while the job waits for its second attempt.
    let cluster = local_cluster(&app).await;
    let flaky = shell_template(&app, "flaky", FLAKY).await;
    let runs = app.root.path().join("runs");
    let args = json!([runs.display().to_string(), "1000"]);
    let retried = launch(&app, &flaky, &cluster, json!({"configs": policy(3, 3, json!({})), "args": args})).await;
    eventually("the first attempt to fail", Duration::from_secs(30), || async {
        let job = app.get(&format!("/v2/jobs/{retried}")).await.expect(200)["job"].clone();
        (job["status"] == "PENDING" && job["info"]["attempt"] == 2).then_some(())
    })
    .await;

    // Limits: one slot, three jobs; killed while the first runs.
    let limited = limited_cluster(&app, 1).await;
    let stamped = shell_template(&app, "stamped", STAMPED).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(launch(&app, &stamped, &limited, json!({"args": ["2"]})).await);
    }
    wait_for(&app, &ids[0], &["RUNNING"], Duration::from_secs(30)).await;
    app.kill();
    app.start().await;

    let job = wait_for(&app, &retried, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!((job["info"]["status"].clone(), job["return_code"].clone()), (json!("FAILED"), json!(7)), "{job}");
    assert_eq!(lines(&runs), 3, "attempts across the restart");
    for id in &ids {
        let job = wait_for(&app, id, TERMINAL, Duration::from_secs(60)).await;
        assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    }
    let spans = spans(&app, &ids).await;
    assert_eq!(most_at_once(&spans), 1, "the jobs' own stamps: {spans:?}");
}

#[tokio::test]
async fn retries_and_limits_survive_a_sigkill_of_edpd() {
    retries_and_limits_survive_a_sigkill(TestApp::spawn().await).await;
}

#[tokio::test]
async fn retries_and_limits_survive_a_sigkill_of_edpd_on_postgres() {
    let db = database();
    retries_and_limits_survive_a_sigkill(TestApp::builder().env("EDP__DATABASE__URL", &db.url()).start().await).await;
}

#[tokio::test]
async fn a_projects_limit_holds_over_its_jobs_on_an_unlimited_cluster() {
    let app = TestApp::builder().env("EDP__AUTH__MAX_CONCURRENT_JOBS_PER_PROJECT", "1").start().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "stamped", STAMPED).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(launch(&app, &template, &cluster, json!({"args": ["1"]})).await);
    }
    let reason = eventually("a job waiting for its project's slot", Duration::from_secs(20), || async {
        let job = app.get(&format!("/v2/jobs/{}", ids[2])).await.expect(200)["job"].clone();
        let reason = job["info"]["reason"].as_str().unwrap_or_default().to_string();
        (job["status"] == "PENDING" && !reason.is_empty()).then_some(reason)
    })
    .await;
    assert_eq!(reason, "waiting for a slot of project default (1 running, at most 1)");
    for id in &ids {
        let job = wait_for(&app, id, TERMINAL, Duration::from_secs(60)).await;
        assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    }
    let spans = spans(&app, &ids).await;
    assert_eq!(most_at_once(&spans), 1, "the jobs' own stamps: {spans:?}");
}
