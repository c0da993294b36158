//! Several edpd on one database, and edpd killed while it works: every job
//! runs exactly once. Each job appends its execution id to a file outside
//! every data directory, so a job run twice shows twice, whatever edpd
//! believes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edp_tests::{TestApp, eventually};
use serde_json::{Value, json};

use crate::helpers::{TERMINAL, shell_template, wait_for};
use crate::postgres::Database;

/// Appends the execution id to `$1`, in one `write` (`>>` opens with
/// O_APPEND), so concurrent jobs never interleave lines.
const RECORD: &str = "printf '%s\\n' \"$EDP_EXECUTION_ID\" >> \"$1\"\n";

fn replica(db: Option<&Database>, node: &str) -> edp_tests::app::Builder {
    let builder = TestApp::builder().env("EDP__SERVER__NODE_ID", node).env("RUST_LOG", "info");
    match db {
        Some(db) => builder.env("EDP__DATABASE__URL", &db.url()),
        None => builder,
    }
}

/// Every job any replica lists, with its status.
async fn all_jobs(app: &TestApp) -> BTreeMap<String, Value> {
    let mut jobs = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            Some(m) => format!("/v2/jobs?limit=1000&marker={m}"),
            None => "/v2/jobs?limit=1000".to_string(),
        };
        let page = app.get(&path).await.expect(200);
        for job in page["jobs"].as_array().expect("jobs") {
            jobs.insert(job["id"].as_str().expect("id").to_string(), job.clone());
        }
        match page["markers"]["next"].as_str() {
            Some(next) => marker = Some(next.to_string()),
            None => return jobs,
        }
    }
}

/// How many times each execution id was recorded.
fn runs(record: &Path) -> BTreeMap<String, usize> {
    let mut runs = BTreeMap::new();
    for line in std::fs::read_to_string(record).unwrap_or_default().lines() {
        *runs.entry(line.to_string()).or_default() += 1;
    }
    runs
}

/// Launches `total` jobs through the replicas in turn while one replica is
/// killed with SIGKILL after every `kill_every` accepted launches (not on a
/// clock: as launches get faster a timed storm ends before its kills) and
/// restarted; a launch that meets a
/// dead replica goes to the next. Then waits for every job to end and
/// checks that each ran exactly once and that every replica lists the same
/// jobs.
async fn storm(apps: &mut [TestApp], total: usize, kill_every: usize, record: &Path) -> usize {
    let template = shell_template(&apps[0], "record", RECORD).await;
    let cluster = crate::helpers::local_cluster(&apps[0]).await;
    let body = json!({"job_template_id": template, "cluster_id": cluster,
        "job_configs": {"args": [record.display().to_string()]}});
    let started = Instant::now();
    let mut launched = 0;
    let mut kills = 0;
    let mut killed_at = 0;
    let mut victim = 0;
    let mut turn = 0;
    while launched < total {
        if launched >= killed_at + kill_every {
            killed_at = launched;
            let app = &mut apps[victim % apps.len()];
            app.kill();
            kills += 1;
            app.start().await;
            victim += 1;
        }
        turn += 1;
        let app = &apps[turn % apps.len()];
        let sent = app.http.post(format!("{}/v2/jobs", app.base)).json(&body).send().await;
        if sent.is_ok_and(|r| r.status().as_u16() == 202) {
            launched += 1;
        }
    }
    assert!(kills >= 3, "only {kills} kills during the launches: the storm was too short to mean anything");
    eprintln!("storm: {launched} launches, {kills} kills in {:?}", started.elapsed());

    // Every job ends, SUCCEEDED, and ran exactly once.
    let jobs = eventually("every job to end", Duration::from_secs(180), || async {
        let jobs = all_jobs(&apps[0]).await;
        let done = jobs.values().all(|j| TERMINAL.contains(&j["info"]["status"].as_str().unwrap_or_default()));
        done.then_some(jobs)
    })
    .await;
    eprintln!("storm: every job ended after {:?}", started.elapsed());
    assert!(jobs.len() >= total, "{} jobs listed, {total} launches answered 202", jobs.len());
    let failed: Vec<&Value> = jobs.values().filter(|j| j["info"]["status"] != "SUCCEEDED").collect();
    assert!(failed.is_empty(), "{} jobs did not succeed, e.g. {}", failed.len(), failed[0]);
    let runs = runs(record);
    let doubled: Vec<(&String, &usize)> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "{} jobs ran more than once: {:?}", doubled.len(), &doubled[..doubled.len().min(5)]);
    let listed: BTreeSet<&String> = jobs.keys().collect();
    let ran: BTreeSet<&String> = runs.keys().collect();
    assert_eq!(listed, ran, "the jobs listed and the jobs that ran differ");
    // Every replica sees the same jobs.
    for app in &apps[1..] {
        let theirs: BTreeSet<String> = all_jobs(app).await.into_keys().collect();
        assert_eq!(theirs.len(), jobs.len(), "replica {} lists other jobs", app.base);
    }
    jobs.len()
}

fn record_file(app: &TestApp) -> PathBuf {
    // Outside every data directory: each replica's is its own.
    app.root.path().join("runs.txt")
}

#[tokio::test]
async fn three_replicas_on_postgres_run_every_job_exactly_once_while_killed_in_turn() {
    let db = crate::postgres::database();
    let mut apps = Vec::new();
    for node in ["r1", "r2", "r3"] {
        apps.push(replica(Some(&db), node).start().await);
    }
    let record = record_file(&apps[0]);
    let jobs = storm(&mut apps, 600, 150, &record).await;
    assert!(jobs >= 600);
}

#[tokio::test]
async fn one_edpd_killed_ten_times_in_2000_launches_loses_and_doubles_nothing_on_sqlite() {
    let mut apps = vec![replica(None, "solo").start().await];
    let record = record_file(&apps[0]);
    storm(&mut apps, 2000, 190, &record).await;
}

#[tokio::test]
async fn one_edpd_killed_ten_times_in_2000_launches_loses_and_doubles_nothing_on_postgres() {
    let db = crate::postgres::database();
    let mut apps = vec![replica(Some(&db), "solo").start().await];
    let record = record_file(&apps[0]);
    storm(&mut apps, 2000, 190, &record).await;
}

/// A local job belongs to the node that launched it; the others reach it
/// through the database (a cancel) or send the client there (its log).
#[tokio::test]
async fn a_local_job_is_cancelled_and_read_through_a_replica_that_does_not_run_it() {
    let db = crate::postgres::database();
    let a = replica(Some(&db), "node-a").start().await;
    let b = replica(Some(&db), "node-b").start().await;
    let template = shell_template(&a, "sleeper", "echo started\nexec sleep 600\n").await;
    let cluster = crate::helpers::local_cluster(&a).await;
    let id = crate::helpers::launch(&a, &template, &cluster, json!({})).await;
    let job = wait_for(&a, &id, &["RUNNING"], Duration::from_secs(30)).await;
    let owner = job["node_id"].as_str().expect("a local job names its node").to_string();
    let (mine, other) = if owner == "node-a" { (&a, &b) } else { (&b, &a) };
    // Its log, asked of the other node, comes from its own (a redirect the
    // client follows).
    let log = eventually("the job's log through the other node", Duration::from_secs(10), || async {
        let text = other.read_log(&id, "stdout").await;
        (text == "started\n").then_some(text)
    })
    .await;
    assert_eq!(log, "started\n");
    // The cancel goes to the node that does not run it.
    other.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    let ended = wait_for(other, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(ended["info"]["status"], "KILLED", "{ended}");
    assert!(!crate::helpers::group_alive(mine, &id), "the job's processes outlived the cancel");
}

/// A node gone longer than `node_timeout`: its local jobs are not failed,
/// their `info` says the node is lost; back, it re-attaches and follows
/// them to their end.
#[tokio::test]
async fn a_lost_nodes_jobs_say_so_and_it_takes_them_up_again_when_back() {
    let db = crate::postgres::database();
    let lost_after = |b: edp_tests::app::Builder| b.env("EDP__SERVER__NODE_TIMEOUT_SECS", "2");
    let mut a = lost_after(replica(Some(&db), "node-a")).start().await;
    let mut b = lost_after(replica(Some(&db), "node-b")).start().await;
    let release = a.root.path().join("release");
    let script = "while [ ! -e \"$1\" ]; do sleep 0.05; done\necho done\n";
    let template = shell_template(&a, "waiter", script).await;
    let cluster = crate::helpers::local_cluster(&a).await;
    let args = json!({"args": [release.display().to_string()]});
    let id = crate::helpers::launch(&a, &template, &cluster, args).await;
    let job = wait_for(&a, &id, &["RUNNING"], Duration::from_secs(30)).await;
    let owner = job["node_id"].as_str().expect("a local job names its node").to_string();
    let (mine, other) = if owner == "node-a" { (&mut a, &mut b) } else { (&mut b, &mut a) };

    mine.kill();
    let job = eventually("the job to say its node is lost", Duration::from_secs(40), || async {
        let job = other.get(&format!("/v2/jobs/{id}")).await.expect(200)["job"].clone();
        job["info"].get("node_lost").is_some().then_some(job)
    })
    .await;
    assert_eq!(job["info"]["status"], "RUNNING", "a lost node's job is not failed: {job}");
    assert!(job["info"]["node_lost"].to_string().contains(&owner), "{job}");

    mine.start().await;
    std::fs::write(&release, "").expect("release the job");
    let job = wait_for(other, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert!(job["info"].get("node_lost").is_none(), "{job}");
    assert_eq!(mine.read_log(&id, "stdout").await, "done\n");
}

/// SQLite serves one edpd at a time: a second one on the same file refuses
/// to start, saying why, and the first keeps serving.
#[tokio::test]
async fn a_second_edpd_on_the_same_sqlite_file_refuses_to_start() {
    let app = TestApp::spawn().await;
    let out = tokio::task::spawn_blocking({
        let data = app.data_dir();
        let plugins = app.root.path().join("plugins");
        let root = app.root.path().to_path_buf();
        move || {
            std::process::Command::new(edp_tests::build::edpd())
                .env("EDP__SERVER__PORT", "0")
                .env("EDP__PATHS__DATA_DIR", &data)
                .env("EDP__PATHS__PLUGIN_DIR", &plugins)
                .current_dir(&root)
                .output()
        }
    })
    .await
    .expect("join")
    .expect("edpd runs");
    assert!(!out.status.success(), "a second edpd started on the same SQLite file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another edpd") && stderr.contains("SQLite"), "{stderr}");
    app.get("/v2/jobs").await.expect(200);
}
