//! Oozie's notifications through edpd's callback endpoint. Polling is set
//! to 30 s and more, so a change seen within a second is the callback's
//! doing; a callback with a wrong secret changes nothing.

use std::time::{Duration, Instant};

use edp_oozie_server::Outcome;
use edp_tests::eventually;
use serde_json::json;

use crate::common::*;

/// How often edpd asked Oozie for a status.
fn polls(env: &Env) -> usize {
    env.oozie.requests().iter().filter(|r| r.query.contains("show=status")).count()
}

/// Launches with Oozie's notifications failing, until the one for RUNNING
/// has given up: from then on edpd has no reason to look at the job for
/// 30 s (its first poll), so whatever it learns sooner is a callback's.
async fn launch_quietly(env: &Env, name: &str) -> (String, String) {
    env.oozie.mute_notifications(true);
    let template = shell_template(env, name).await;
    let id = launch(env, &template, json!({})).await;
    let view = workflow_of(env, &id).await;
    wait_status(env, &id, "RUNNING", DEADLINE).await;
    eventually("the RUNNING notification to give up", DEADLINE, || async {
        let n = env.oozie.notifications();
        n.iter().any(|n| n.job_id == view.id && n.status == "RUNNING" && n.attempts == 4).then_some(())
    })
    .await;
    assert_eq!(polls(env), 0, "nothing made edpd poll yet");
    (id, view.id)
}

#[tokio::test]
async fn a_notification_shows_the_new_status_within_a_second() {
    let env = start(SLOW).await;
    let (id, oozie_id) = launch_quietly(&env, "notified").await;
    env.oozie.mute_notifications(false);

    let asked = Instant::now();
    env.oozie.finish(&oozie_id, Outcome::Succeeded).unwrap();
    let job = eventually("SUCCEEDED, from the callback", Duration::from_secs(1), || async {
        let job = job(&env, &id).await;
        (job["info"]["status"] == "SUCCEEDED").then_some(job)
    })
    .await;
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert_eq!(job["info"]["oozie_status"], "SUCCEEDED");
    let notified = env.oozie.notifications();
    let done =
        notified.iter().find(|n| n.job_id == oozie_id && n.status == "SUCCEEDED").expect("a SUCCEEDED notification");
    assert_eq!(done.answer, Some(200), "edpd accepted the notification: {done:?}");
    assert!(
        done.url.contains(&format!("/v2/jobs/{id}/callback?token=")) && done.url.ends_with("&status=SUCCEEDED"),
        "{}",
        done.url
    );
}

#[tokio::test]
async fn a_forged_callback_changes_nothing_and_the_real_one_does() {
    let env = start(SLOW).await;
    let (id, oozie_id) = launch_quietly(&env, "guarded").await;
    // The workflow ends, but Oozie's notification never gets through.
    env.oozie.finish(&oozie_id, Outcome::Succeeded).unwrap();

    for forged in [
        format!("/v2/jobs/{id}/callback?token=not-the-secret&status=SUCCEEDED"),
        format!("/v2/jobs/{id}/callback?status=SUCCEEDED"),
        "/v2/jobs/00000000-0000-4000-8000-000000000000/callback?token=x".to_string(),
    ] {
        let reply = env.app.get(&forged).await;
        assert!(matches!(reply.status, 401 | 404), "{forged}: {} {}", reply.status, reply.body);
    }
    // Nothing may happen, so there is no condition to wait for: watch for
    // longer than a callback takes to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(polls(&env), 0, "a forged callback made edpd ask Oozie");
    assert_eq!(job(&env, &id).await["info"]["status"], "RUNNING");

    // The URL Oozie was given, as Oozie would call it.
    let view = env.oozie.job(&oozie_id).unwrap();
    let url = view.conf["oozie.wf.workflow.notification.url"].replace("$status", "SUCCEEDED");
    let path = url.split_once("/v2/").map(|(_, rest)| format!("/v2/{rest}")).expect("a /v2/ URL");
    let asked = Instant::now();
    env.app.get(&path).await.expect(200);
    eventually("SUCCEEDED after the real callback", Duration::from_secs(1), || async {
        (job(&env, &id).await["info"]["status"] == "SUCCEEDED").then_some(())
    })
    .await;
    assert!(asked.elapsed() < Duration::from_secs(1));
}
