//! Job policies one pass at a time: a retry is a new submission, and a
//! cluster's job limit holds between two nodes claiming at once.

use edp_core::{Edp, catalog, manager};
use edp_engine_api::wire::JobStatus;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{column, node, node_on, objects, pass, scope, set_script, status};
use crate::engine::Script;

async fn launch_with(edp: &Edp, cluster: &str, template: &str, configs: serde_json::Value) -> String {
    let new = serde_json::from_value(
        json!({"job_template_id": template, "cluster_id": cluster, "job_configs": {"configs": configs}}),
    )
    .unwrap();
    manager::launch_job(edp, &scope(), new).await.expect("launch").id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_is_submitted_again_under_a_new_tag_and_a_killed_one_is_not() {
    let script = set_script(Script::default());
    let dir = tempfile::tempdir().unwrap();
    let edp = node(&dir, "n1").await;
    let (cluster, template) = objects(&edp).await;
    // A delay of a second: a due-at-once retry may be launched by the same
    // pass, and the test looks at the job between its attempts.
    let configs = json!({"edp.job.max_attempts": 2, "edp.job.retry_delay_secs": 1});
    let id = launch_with(&edp, &cluster, &template, configs.clone()).await;

    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &id).await, "RUNNING");
    script.jobs.lock().unwrap().get_mut(&id).unwrap().status = JobStatus::Failed;
    pass(&edp, &[&id]).await;
    let job = manager::get(&edp, &scope(), &id, false).await.unwrap();
    assert_eq!(job.status, "PENDING", "{:?}", job.info);
    assert_eq!((job.info["attempt"].clone(), job.info["max_attempts"].clone()), (json!(2), json!(2)));
    assert_eq!(job.engine_job_id, None);
    assert_eq!(column(&edp, &id, "submitted").await.as_deref().map(|s| s == "1" || s == "true"), Some(false));

    // Due a second later: passes until it is launched.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(&edp, &id).await == "PENDING" {
        assert!(std::time::Instant::now() < deadline, "the second attempt never started");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        pass(&edp, &[]).await;
    }
    let second = format!("{id}-a2");
    {
        let jobs = script.jobs.lock().unwrap();
        assert_eq!(jobs.get(&id).map(|j| j.starts), Some(1), "the first attempt was submitted again");
        assert_eq!(jobs.get(&second).map(|j| j.starts), Some(1), "the second attempt was not submitted: {jobs:?}");
    }
    script.jobs.lock().unwrap().get_mut(&second).unwrap().status = JobStatus::Failed;
    pass(&edp, &[&id]).await;
    assert_eq!(status(&edp, &id).await, "FAILED", "the last attempt's FAILED is final");

    // A KILLED end is final whatever attempts are left.
    let killed = launch_with(&edp, &cluster, &template, configs).await;
    pass(&edp, &[]).await;
    script.jobs.lock().unwrap().get_mut(&killed).unwrap().status = JobStatus::Killed;
    pass(&edp, &[&killed]).await;
    assert_eq!(status(&edp, &killed).await, "KILLED");
    pass(&edp, &[]).await;
    assert!(!script.jobs.lock().unwrap().contains_key(&format!("{killed}-a2")));
}

/// The jobs the engine runs now (by submission tag).
fn running(script: &Script) -> Vec<String> {
    let jobs = script.jobs.lock().unwrap();
    jobs.iter().filter(|(_, j)| j.status == JobStatus::Running).map(|(id, _)| id.clone()).collect()
}

/// A cluster's queue runs in submission order, and a restart keeps it: a
/// start makes due what was not, and leaves the due rows their times,
/// which are their places in the queue (were they all made due at the
/// restart's instant, the order would be the ids').
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clusters_queue_runs_in_submission_order_across_a_restart() {
    let script = set_script(Script::default());
    let dir = tempfile::tempdir().unwrap();
    let edp = node(&dir, "n1").await;
    let (cluster, template) = objects(&edp).await;
    catalog::clusters::declare(&edp, "default", "scripted", "scripted", Default::default(), vec![], Some(1))
        .await
        .expect("a limit");
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(launch_with(&edp, &cluster, &template, json!({})).await);
    }
    drop(edp);
    let edp = node(&dir, "n1").await;
    manager::recover(&edp).await.expect("the start's recovery");
    let mut started: Vec<String> = Vec::new();
    for _ in 0..ids.len() {
        pass(&edp, &[]).await;
        let running = running(&script);
        assert_eq!(running.len(), 1, "one slot, one job running: {running:?} after {started:?}");
        let id = running[0].clone();
        script.jobs.lock().unwrap().get_mut(&id).unwrap().status = JobStatus::Succeeded;
        pass(&edp, &[&id]).await;
        assert_eq!(status(&edp, &id).await, "SUCCEEDED");
        started.push(id);
    }
    assert_eq!(started, ids, "the order the jobs ran in");
}

/// Two nodes pass at once over one Postgres database: the engine never has
/// more than the cluster's limit of jobs running, and every job runs. (With
/// the lock on the cluster's row removed, this fails in about half its runs:
/// the race needs two claims within the same few milliseconds.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_postgres_never_run_more_than_a_clusters_limit() {
    let script = set_script(Script::default());
    let admin_url = std::env::var("EDP_TEST_PG_URL")
        .expect("EDP_TEST_PG_URL is not set: run ./scripts/test, which starts Postgres, or point it at one");
    let name = format!("edp_sched_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(&admin_url).await.expect("admin connection");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create database");
    let _dropped_at_the_end = DropDatabase { admin_url: admin_url.clone(), name: name.clone() };
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);

    let dir = tempfile::tempdir().unwrap();
    let n1 = node_on(&url, &dir, "n1").await;
    let n2 = node_on(&url, &dir, "n2").await;
    let (cluster, template) = objects(&n1).await;
    catalog::clusters::declare(&n1, "default", "scripted", "scripted", Default::default(), vec![], Some(2))
        .await
        .expect("a limit");
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(launch_with(&n1, &cluster, &template, json!({})).await);
    }
    for round in 0..100 {
        let wanted: Vec<&str> = ids.iter().map(String::as_str).collect();
        tokio::join!(pass(&n1, &wanted), pass(&n2, &wanted));
        let running = running(&script);
        assert!(running.len() <= 2, "round {round}: {} running: {running:?}", running.len());
        let mut done = 0;
        for id in &ids {
            if status(&n1, id).await == "SUCCEEDED" {
                done += 1;
            }
        }
        if done == ids.len() {
            break;
        }
        // The running ones end; their slots free.
        for id in running {
            script.jobs.lock().unwrap().get_mut(&id).unwrap().status = JobStatus::Succeeded;
        }
    }
    for id in &ids {
        assert_eq!(status(&n1, id).await, "SUCCEEDED", "job {id}");
        assert_eq!(script.jobs.lock().unwrap()[id].starts, 1, "job {id} started more than once");
    }
}

/// Drops a test's database when it goes: also when the test fails.
/// Synchronous (psql), so that it runs while a failed test unwinds too.
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::process::Command::new("psql").arg(&self.admin_url).args(["-c", &sql]).output();
        if !dropped.is_ok_and(|out| out.status.success()) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
