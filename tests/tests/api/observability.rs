//! What an operator sees: at the default level (`info`) a start-up summary
//! and one log line per lifecycle event, each naming the execution, the
//! engine and the cluster; the same events counted on `/metrics`
//! (Prometheus text, parsed here); JSON lines for log shippers; `/healthz`
//! and `/readyz`; and none of it showing a secret or another project's
//! names.

use std::collections::BTreeMap;
use std::time::Duration;

use edp_oozie_server::{JOB_TRACKER, NAME_NODE, OozieServer, Options};
use edp_tests::{TestApp, build, eventually};
use serde_json::{Value, json};

use crate::helpers::{TERMINAL, launch, local_cluster, shell_template, wait_for};

const DEADLINE: Duration = Duration::from_secs(60);
const SECRET: &str = "pw-observed-4f1e9a";

/// One scrape: every sample with its labels.
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    async fn of(app: &TestApp) -> (Self, String) {
        let response = app.http.get(format!("{}/metrics", app.base)).send().await.expect("GET /metrics");
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"].to_str().unwrap_or_default().to_string();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        let text = response.text().await.expect("text");
        (Self::parse(&text), text)
    }

    /// The text exposition format: `name{label="value",...} number`.
    fn parse(text: &str) -> Self {
        let mut samples = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number in: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, labels(rest.strip_suffix('}').expect("labels end with }"))),
                None => (series, BTreeMap::new()),
            };
            samples.push((name.to_string(), labels, value));
        }
        Self(samples)
    }

    /// The sum of the samples of `name` whose labels include `with`.
    fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, labels, _)| {
                n == name && with.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _, _)| n == name)
    }
}

fn labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| if c == 'n' { '\n' } else { c })),
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    labels
}

/// The log's lines for one event: the message and `key=value` of each field.
fn lines_of<'a>(log: &'a str, message: &str, fields: &[(&str, &str)]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(&format!(" {message} ")) || l.ends_with(&format!(" {message}")))
        .filter(|l| fields.iter().all(|(k, v)| l.contains(&format!(" {k}={v}"))))
        .collect()
}

#[track_caller]
fn one_line<'a>(log: &'a str, message: &str, fields: &[(&str, &str)]) -> &'a str {
    let found = lines_of(log, message, fields);
    assert_eq!(found.len(), 1, "wanted one '{message}' line with {fields:?}, found {found:?}; the log:\n{log}");
    found[0]
}

/// Jobs that succeed, fail and are cancelled on `local`; a launch retried
/// while Oozie is down; clusters registered Active and in Error. Each
/// event is one line at the default level and a counter on `/metrics`.
#[tokio::test]
async fn lifecycle_events_are_one_log_line_and_one_count_each() {
    let oozie = OozieServer::start_with(Options::default()).await;
    let app = TestApp::builder().plugin(build::engine_plugin("oozie")).env("RUST_LOG", "info").start().await;
    let local = local_cluster(&app).await;
    let ok = shell_template(&app, "ok", "true\n").await;
    let fails = shell_template(&app, "fails", "exit 3\n").await;
    let sleeps = shell_template(&app, "sleeps", "sleep 600\n").await;

    let succeeded = launch(&app, &ok, &local, json!({"configs": {"db.password": SECRET}})).await;
    let failed = launch(&app, &fails, &local, json!({})).await;
    let killed = launch(&app, &sleeps, &local, json!({})).await;
    assert_eq!(wait_for(&app, &succeeded, TERMINAL, DEADLINE).await["info"]["status"], "SUCCEEDED");
    assert_eq!(wait_for(&app, &failed, TERMINAL, DEADLINE).await["info"]["status"], "FAILED");
    wait_for(&app, &killed, &["RUNNING"], DEADLINE).await;
    app.patch(&format!("/v2/jobs/{killed}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    assert_eq!(wait_for(&app, &killed, TERMINAL, DEADLINE).await["info"]["status"], "KILLED");
    // A callback's token travels in its query string: never logged.
    app.get(&format!("/v2/jobs/{succeeded}/callback?token={SECRET}")).await;

    // Oozie: one cluster registered while it answers, one while it is down
    // (in Error), and a launch that finds it down (retried).
    let configs = |name: &str| {
        json!({"name": name, "plugin_name": "oozie", "cluster_configs": {"oozie_url": oozie.oozie_url(),
            "webhdfs_url": oozie.webhdfs_url(), "name_node": NAME_NODE, "job_tracker": JOB_TRACKER}})
    };
    let hadoop = app.post("/v2/clusters", configs("hadoop")).await.expect(202)["cluster"].clone();
    assert_eq!(hadoop["status"], "Active", "{hadoop}");
    let hadoop = hadoop["id"].as_str().expect("id").to_string();
    oozie.set_down(true);
    let down = app.post("/v2/clusters", configs("hadoop-down")).await.expect(202)["cluster"].clone();
    assert_eq!(down["status"], "Error", "{down}");
    let down = down["id"].as_str().expect("id").to_string();
    let on_oozie = shell_template(&app, "on-oozie", "true\n").await;
    let retried = launch(&app, &on_oozie, &hadoop, json!({})).await;
    eventually("the launch on Oozie to fail once", DEADLINE, || async {
        let job = app.get(&format!("/v2/jobs/{retried}")).await.expect(200);
        job["job"]["info"]["launch_error"].is_string().then_some(())
    })
    .await;

    let log = app.log();
    let local_job = |id: &str| [("execution", id.to_string()), ("engine", "local".into()), ("cluster", local.clone())];
    let fields = |f: &[(&'static str, String)]| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let check = |message: &str, f: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        one_line(&log, message, &f).to_string()
    };
    for id in [&succeeded, &failed, &killed] {
        check("job launched", fields(&local_job(id)));
    }
    check("job ended", [fields(&local_job(&succeeded)), vec![("status", "SUCCEEDED".into())]].concat());
    check("job ended", [fields(&local_job(&failed)), vec![("status", "FAILED".into())]].concat());
    check("job cancelled", fields(&local_job(&killed)));
    check("job ended", [fields(&local_job(&killed)), vec![("status", "KILLED".into())]].concat());
    let retry = check(
        "job launch failed; will retry",
        vec![("execution", retried.clone()), ("engine", "oozie".into()), ("cluster", hadoop.clone())],
    );
    assert!(retry.contains(" WARN "), "{retry}");
    assert!(lines_of(&log, "job launched", &[("execution", &retried)]).is_empty(), "it never launched");
    check("cluster registered", vec![("cluster", hadoop.clone()), ("engine", "oozie".into())]);
    let error = check("cluster registered, in Error", vec![("cluster", down.clone()), ("engine", "oozie".into())]);
    assert!(error.contains(" WARN ") && error.contains("reason="), "{error}");
    check("cluster declared", vec![("cluster", local.clone()), ("engine", "local".into())]);
    check("plugin loaded", vec![("engine", "oozie".into())]);
    // The start-up summary.
    for (message, part) in [
        ("edpd starting", "version="),
        ("database ready", "url=sqlite://"),
        ("engines", "loaded=local 0.1.0, oozie 0.1.0"),
        ("auth", "mode=single user"),
        ("clusters", "declared=local (Active)"),
    ] {
        let line = one_line(&log, message, &[]);
        assert!(line.contains(part), "{line}");
    }
    // Only the default level's lines; no secret, no query string.
    assert!(!log.contains(" DEBUG "), "debug lines at the default level:\n{log}");
    assert!(!log.contains(SECRET), "a secret in the log:\n{log}");
    assert!(!log.contains("token="), "a query string in the log:\n{log}");

    let (scrape, text) = Scrape::of(&app).await;
    let local_engine = [("engine", "local")];
    assert_eq!(scrape.sum("edp_job_launches_total", &local_engine), 3.0, "{text}");
    assert_eq!(scrape.sum("edp_job_failures_total", &local_engine), 1.0, "{text}");
    assert_eq!(scrape.sum("edp_job_cancels_total", &local_engine), 1.0, "{text}");
    assert!(scrape.sum("edp_job_launch_retries_total", &[("engine", "oozie")]) >= 1.0, "{text}");
    assert_eq!(scrape.sum("edp_job_launches_total", &[("engine", "oozie")]), 0.0, "{text}");
    for status in ["SUCCEEDED", "FAILED", "KILLED"] {
        let series = [("engine", "local"), ("cluster_id", local.as_str()), ("status", status)];
        assert_eq!(scrape.sum("edp_jobs", &series), 1.0, "{status}: {text}");
        assert_eq!(scrape.sum("edp_jobs_ended_total", &[("engine", "local"), ("status", status)]), 1.0, "{text}");
    }
    // A registered cluster that is not public is counted, not named.
    let pending = [("engine", "oozie"), ("cluster_id", "private"), ("status", "PENDING")];
    assert_eq!(scrape.sum("edp_jobs", &pending), 1.0, "{text}");
    assert_eq!(scrape.sum("edp_cluster_checks_total", &[("engine", "oozie"), ("status", "Error")]), 1.0, "{text}");
    assert_eq!(scrape.sum("edp_clusters", &[("engine", "oozie")]), 2.0, "{text}");
    let run_job = [("engine", "local"), ("operation", "run_job")];
    assert_eq!(scrape.sum("edp_engine_call_duration_seconds_count", &run_job), 3.0, "{text}");
    assert!(scrape.sum("edp_engine_call_duration_seconds_sum", &run_job) > 0.0, "{text}");
    let polls = [("engine", "local"), ("operation", "get_job_status")];
    assert!(scrape.sum("edp_engine_call_duration_seconds_count", &polls) >= 1.0, "{text}");
    let cancels = [("engine", "local"), ("operation", "cancel_job")];
    assert!(scrape.sum("edp_engine_call_duration_seconds_count", &cancels) >= 1.0, "{text}");
    // Every pass that claimed work recorded its lag; nothing waits now but
    // the retried launch (its retry is a minute or so away, not overdue).
    assert!(scrape.sum("edp_scheduler_lag_seconds_count", &[]) >= 3.0, "{text}");
    assert!(scrape.has("edp_scheduler_overdue_seconds"), "{text}");
    assert_eq!(scrape.sum("edp_db_pool_max_connections", &[]), 1.0, "{text}");
    assert!(scrape.sum("edp_db_pool_connections", &[("state", "idle")]) >= 0.0, "{text}");
    assert_eq!(scrape.sum("edp_engines_loaded", &[]), 2.0, "{text}");
    // Labels are engines, statuses and ids: no name a user chose.
    for name in ["hadoop", "sleeps", "fails", SECRET] {
        assert!(!text.contains(&format!("\"{name}")), "'{name}' in /metrics:\n{text}");
    }

    // A job that ends changes the gauges, not the counters of others.
    oozie.set_down(false);
    let second = launch(&app, &ok, &local, json!({})).await;
    wait_for(&app, &second, TERMINAL, DEADLINE).await;
    let (scrape, text) = Scrape::of(&app).await;
    assert_eq!(scrape.sum("edp_job_launches_total", &local_engine), 4.0, "{text}");
    let succeeded_now = [("engine", "local"), ("cluster_id", local.as_str()), ("status", "SUCCEEDED")];
    assert_eq!(scrape.sum("edp_jobs", &succeeded_now), 2.0, "{text}");
    app.delete(&format!("/v2/jobs/{failed}")).await.expect(204);
    let (scrape, text) = Scrape::of(&app).await;
    let failed_now = [("engine", "local"), ("cluster_id", local.as_str()), ("status", "FAILED")];
    assert_eq!(scrape.sum("edp_jobs", &failed_now), 0.0, "a deleted job leaves the gauge: {text}");
}

/// Work that comes due while its cluster's slots are all taken (three
/// launches hung in a silent Oozie) waits: the overdue gauge shows it
/// waiting, and once the slots free, the scheduler's lag histogram records
/// how late it was picked up.
#[tokio::test]
async fn scheduler_lag_is_how_late_due_work_is_picked_up() {
    let oozie = OozieServer::start_with(Options::default()).await;
    let app = TestApp::builder()
        .plugin(build::engine_plugin("oozie"))
        // Three slots per cluster (the fewest: polls leave two for actions).
        .env("EDP__JOBS__CLUSTER_CONCURRENCY", "3")
        .start()
        .await;
    let cluster = app
        .post(
            "/v2/clusters",
            json!({"name": "hadoop", "plugin_name": "oozie", "cluster_configs": {"oozie_url": oozie.oozie_url(),
                "webhdfs_url": oozie.webhdfs_url(), "name_node": NAME_NODE, "job_tracker": JOB_TRACKER}}),
        )
        .await
        .expect(202)["cluster"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let template = shell_template(&app, "on-oozie", "true\n").await;
    oozie.set_hung(true);
    let mut jobs = Vec::new();
    for _ in 0..5 {
        jobs.push(launch(&app, &template, &cluster, json!({})).await);
    }
    let waited = Duration::from_millis(1500);
    eventually("a due launch to wait for a slot", DEADLINE, || async {
        let (scrape, _) = Scrape::of(&app).await;
        (scrape.sum("edp_scheduler_overdue_seconds", &[]) >= waited.as_secs_f64()).then_some(())
    })
    .await;
    oozie.set_hung(false);
    for id in &jobs {
        wait_for(&app, id, &["RUNNING", "SUCCEEDED"], DEADLINE).await;
    }

    let (scrape, text) = Scrape::of(&app).await;
    let count = scrape.sum("edp_scheduler_lag_seconds_count", &[]);
    let one_second = |(name, labels, _): &&(String, BTreeMap<String, String>, f64)| {
        name == "edp_scheduler_lag_seconds_bucket" && labels.get("le").is_some_and(|le| le == "1")
    };
    assert!(scrape.0.iter().any(|sample| one_second(&sample)), "no 1 s bucket: {text}");
    let under_a_second = scrape.sum("edp_scheduler_lag_seconds_bucket", &[("le", "1")]);
    assert!(count > under_a_second, "no pass recorded the wait as lag: {text}");
    assert!(scrape.sum("edp_scheduler_lag_seconds_sum", &[]) >= waited.as_secs_f64(), "{text}");
    // Nothing is left waiting (the launched jobs' polls are not yet due, or
    // are picked up at once).
    eventually("nothing to be overdue", DEADLINE, || async {
        let (scrape, _) = Scrape::of(&app).await;
        (scrape.sum("edp_scheduler_overdue_seconds", &[]) < 1.0).then_some(())
    })
    .await;
}

/// `[log] format = "json"`: every line is one JSON object, the events'
/// fields as fields.
#[tokio::test]
async fn json_logs_carry_each_events_fields() {
    let app = TestApp::builder().env("RUST_LOG", "info").env("EDP__LOG__FORMAT", "json").start().await;
    let local = local_cluster(&app).await;
    let ok = shell_template(&app, "ok", "echo hi\n").await;
    let id = launch(&app, &ok, &local, json!({})).await;
    wait_for(&app, &id, TERMINAL, DEADLINE).await;

    let log = app.log();
    let lines: Vec<Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect();
    let event = |message: &str| -> Vec<&Value> {
        lines.iter().filter(|l| l["fields"]["message"] == message && l["fields"]["execution"] == id.as_str()).collect()
    };
    for message in ["job launched", "job ended"] {
        let found = event(message);
        assert_eq!(found.len(), 1, "{message}: {found:?}\n{log}");
        let line = found[0];
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["fields"]["engine"], "local", "{line}");
        assert_eq!(line["fields"]["cluster"], local.as_str(), "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
    }
    assert_eq!(event("job ended")[0]["fields"]["status"], "SUCCEEDED");
    assert!(lines.iter().any(|l| l["fields"]["message"] == "edpd starting"), "{log}");
}

/// `/healthz` and `/readyz` answer without a token; `/metrics` too, unless
/// `[server] metrics_admin_only`; none of them shows a project's names.
#[tokio::test]
async fn probes_and_metrics_are_open_and_show_no_project_data() {
    let config = r#"
[server]
metrics_admin_only = true
[auth]
tokens = { "tok-a" = "team-a", "tok-admin" = { project = "ops", admin = true } }
"#;
    let app = TestApp::builder().file("edp.toml", config).start().await;
    assert_eq!(app.get("/healthz").await.expect(200), json!({"status": "ok"}));
    let ready = app.get("/readyz").await.expect(200);
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["database"], "ok", "{ready}");
    assert_eq!(ready["plugins"], json!({"scanned": true, "loaded": 1, "refused": 0}));
    // A wrong token changes nothing for the probes.
    app.with_token("nope").get("/healthz").await.expect(200);

    let reply = app.get("/metrics").await;
    assert_eq!((reply.status, reply.error_name()), (403, "FORBIDDEN"), "{}", reply.body);
    let reply = app.with_token("tok-a").get("/metrics").await;
    assert_eq!((reply.status, reply.error_name()), (403, "FORBIDDEN"), "{}", reply.body);

    // team-a's named objects and a job; the admin's scrape shows none of
    // their names or the project.
    let admin = app.with_token("tok-admin");
    let cluster = admin
        .post("/v2/team-a/clusters", json!({"name": "team-a-private-cluster", "plugin_name": "local"}))
        .await
        .expect(202)["cluster"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = app.with_token("tok-a");
    let internal =
        a.send_raw(reqwest::Method::PUT, "/v2/job-binary-internals/private-script.sh", b"true\n".to_vec()).await;
    let internal = internal.expect(202)["job_binary_internal"]["id"].as_str().expect("id").to_string();
    let binary = a
        .post("/v2/job-binaries", json!({"name": "private-script.sh", "url": format!("internal-db://{internal}")}))
        .await
        .expect(202)["job_binary"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let template = a
        .post("/v2/job-templates", json!({"name": "private-template", "type": "Shell", "mains": [binary]}))
        .await
        .expect(202)["job_template"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let job = a.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": cluster})).await.expect(202)["job"]
        ["id"]
        .as_str()
        .expect("id")
        .to_string();
    crate::helpers::wait_as(&a, &job, TERMINAL, DEADLINE).await;

    let scrape =
        app.http.get(format!("{}/metrics", app.base)).header("X-Auth-Token", "tok-admin").send().await.expect("scrape");
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.expect("text");
    let parsed = Scrape::parse(&text);
    // team-a's private cluster: its job counted, its id not shown.
    assert_eq!(parsed.sum("edp_jobs", &[("cluster_id", "private"), ("status", "SUCCEEDED")]), 1.0, "{text}");
    for name in ["team-a", "private-", "tok-", &cluster, &job, &template, &binary, &internal] {
        assert!(!text.contains(name), "'{name}' in /metrics:\n{text}");
    }
    for path in ["/healthz", "/readyz"] {
        let body = app.get(path).await.expect(200).to_string();
        assert!(!body.contains("team-a") && !body.contains("private"), "{path}: {body}");
    }
}

/// `/readyz` says 503 while the database refuses connections, and ready
/// again once it takes them; `/healthz` stays 200 throughout; an API request
/// meanwhile is a 503 `DATABASE_UNAVAILABLE`. On Postgres, where a database
/// can be closed to connections while edpd runs.
#[tokio::test]
async fn readyz_follows_the_database_on_postgres() {
    let db = crate::postgres::database();
    let app = TestApp::builder().env("EDP__DATABASE__URL", &db.url()).start().await;
    app.get("/readyz").await.expect(200);
    // Every connection counts: sqlx's pool's 8, and core's `pg_direct`'s
    // 8 each for the reads, the job manager's writes, and its writes that
    // do not wait for the log's flush (core's `db::Commit`).
    let (scrape, text) = Scrape::of(&app).await;
    assert_eq!(scrape.sum("edp_db_pool_max_connections", &[]), 32.0, "{text}");
    let log = app.log();
    let line = one_line(&log, "database ready", &[]);
    assert!(line.contains("url=postgres://***@") && !line.contains("edp_test:"), "credentials shown: {line}");

    db.refuse_connections(true);
    let refused = eventually("/readyz to say not ready", DEADLINE, || async {
        let reply = app.get("/readyz").await;
        (reply.status == 503).then_some(reply)
    })
    .await;
    assert_eq!(refused.error_name(), "NOT_READY", "{}", refused.body);
    assert_eq!(refused.body["error_code"], 503);
    app.get("/healthz").await.expect(200);
    // A request meanwhile is told to try again, not that edpd failed, and
    // sees nothing of the database.
    let listed = app.get("/v2/jobs").await;
    assert_eq!((listed.status, listed.error_name()), (503, "DATABASE_UNAVAILABLE"), "{}", listed.body);
    assert_eq!(listed.body["error_code"], 503);
    let said = listed.body["error_message"].as_str().unwrap_or_default();
    assert!(said.contains("try again") && !said.contains(db.name()) && !said.contains("postgres"), "{said}");

    db.refuse_connections(false);
    eventually("/readyz to say ready again", DEADLINE, || async {
        (app.get("/readyz").await.status == 200).then_some(())
    })
    .await;
}
