//! A hung cluster delays nobody else. One Oozie answers its registration
//! checks but no job call; a thousand jobs wait on it for longer than a
//! lease, while jobs on a second, healthy Oozie cluster and on `local`
//! launch, are polled, end and are cancelled at their usual pace.

use std::time::{Duration, Instant};

use edp_oozie_server::{OozieServer, Options, Outcome};
use edp_tests::{TestApp, build, eventually};
use serde_json::json;

use crate::common::{binary, cluster_configs, register, template};

/// Every engine call is bounded by these (seconds), so a lease lasts
/// 3 * 1.5 + 10 = 14.5 s.
const CALL: &str = "2";
const LAUNCH: &str = "3";
const CANCEL: &str = "3";
const LEASE: Duration = Duration::from_millis(14_500);
/// What a healthy job's step may take here, on a busy machine.
const PROMPT: Duration = Duration::from_secs(5);

async fn within<T, F, Fut>(what: &str, f: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    let value = eventually(what, PROMPT, f).await;
    (value, started.elapsed())
}

#[tokio::test]
async fn a_hung_cluster_delays_no_other_cluster_of_its_engine_or_another() {
    build::ensure_package_built("edp-engine-oozie");
    let plugin = build::artifact(&format!("libedp_engine_oozie.{}", std::env::consts::DLL_EXTENSION));
    let fast = Options { notification_interval: Duration::from_millis(100), ..Options::default() };
    let (hung, healthy) = (OozieServer::start_with(fast.clone()).await, OozieServer::start_with(fast).await);
    let app = TestApp::builder()
        .plugin(plugin)
        .env("EDP__JOBS__CALL_TIMEOUT_SECS", CALL)
        .env("EDP__JOBS__LAUNCH_TIMEOUT_SECS", LAUNCH)
        .env("EDP__JOBS__CANCEL_TIMEOUT_SECS", CANCEL)
        .env("EDP__ENGINES__OOZIE__POLL_INITIAL_MS", "200")
        .env("EDP__ENGINES__OOZIE__POLL_MAX_MS", "1000")
        .env("RUST_LOG", "info")
        .start()
        .await;
    let stuck = register(&app, "stuck", cluster_configs(&hung)).await;
    let fine = register(&app, "fine", cluster_configs(&healthy)).await;
    assert_eq!((stuck["status"].as_str(), fine["status"].as_str()), (Some("Active"), Some("Active")));
    let (stuck, fine) = (stuck["id"].as_str().unwrap().to_string(), fine["id"].as_str().unwrap().to_string());
    let script = binary(&app, "hello.sh", b"#!/bin/sh\necho hello\n").await;
    let shell = template(&app, "hello", "Shell", &[&script], &[]).await;
    let local = app.get("/v2/clusters?name=local").await.expect(200)["clusters"][0]["id"].as_str().unwrap().to_string();
    let sleeper = {
        let main = binary(&app, "sleep.sh", b"exec sleep 600\n").await;
        template(&app, "sleeper", "Shell", &[&main], &[]).await
    };

    // A thousand jobs on the cluster whose every job call hangs.
    hung.set_hung(true);
    let hang_started = Instant::now();
    for _ in 0..1000 {
        app.post("/v2/jobs", json!({"job_template_id": shell, "cluster_id": stuck})).await.expect(202);
    }

    // Round after round, until the hung jobs have waited longer than a
    // lease: the healthy cluster and `local` keep their pace.
    let mut rounds = 0;
    let mut slowest = Duration::ZERO;
    while hang_started.elapsed() < LEASE + Duration::from_secs(5) || rounds < 2 {
        rounds += 1;
        // Healthy Oozie: launched, polled to its end, and a second one cancelled.
        let job = app.post("/v2/jobs", json!({"job_template_id": shell, "cluster_id": fine})).await.expect(202);
        let id = job["job"]["id"].as_str().unwrap().to_string();
        let (workflow, took) = within("the healthy cluster's job to be submitted", || async {
            healthy.workflow_ids().into_iter().find(|w| healthy.job(w).is_some_and(|v| v.app_name.ends_with(&id)))
        })
        .await;
        slowest = slowest.max(took);
        healthy.finish(&workflow, Outcome::Succeeded).expect("finish");
        let (_, took) = within("the healthy cluster's job to be seen SUCCEEDED", || async {
            let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
            (job["job"]["info"]["status"] == "SUCCEEDED").then_some(())
        })
        .await;
        slowest = slowest.max(took);
        let job = app.post("/v2/jobs", json!({"job_template_id": shell, "cluster_id": fine})).await.expect(202);
        let id = job["job"]["id"].as_str().unwrap().to_string();
        within("the second healthy job to run", || async {
            let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
            (job["job"]["info"]["status"] == "RUNNING").then_some(())
        })
        .await;
        app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
        let (_, took) = within("the healthy cluster's job to be KILLED", || async {
            let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
            (job["job"]["info"]["status"] == "KILLED").then_some(())
        })
        .await;
        slowest = slowest.max(took);

        // Local: a job launched and cancelled.
        let job = app.post("/v2/jobs", json!({"job_template_id": sleeper, "cluster_id": local})).await.expect(202);
        let id = job["job"]["id"].as_str().unwrap().to_string();
        let (_, took) = within("a local job to run", || async {
            let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
            (job["job"]["info"]["status"] == "RUNNING").then_some(())
        })
        .await;
        slowest = slowest.max(took);
        app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
        let (_, took) = within("a local job to be KILLED", || async {
            let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
            (job["job"]["info"]["status"] == "KILLED").then_some(())
        })
        .await;
        slowest = slowest.max(took);
    }
    eprintln!("fairness: {rounds} rounds over {:?}; the slowest step took {slowest:?}", hang_started.elapsed());

    // Meanwhile the hung cluster's jobs are still waiting, not failed.
    let waiting = app.get(&format!("/v2/jobs?cluster_id={stuck}&status=PENDING&limit=1000")).await.expect(200);
    assert_eq!(waiting["jobs"].as_array().map(Vec::len), Some(1000), "the hung cluster's jobs wait as they were");
    // And once it answers again, its jobs go on.
    hung.set_hung(false);
    eventually("the hung cluster's jobs to be submitted again", Duration::from_secs(60), || async {
        (hung.submissions() > 0).then_some(())
    })
    .await;
}
