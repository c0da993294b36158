//! Oozie unreachable for a while: a job keeps its last known state and
//! ends right once Oozie is back; a launch whose reply was lost or that
//! found Oozie down is never submitted twice.

use std::time::Duration;

use edp_oozie_server::Outcome;
use edp_tests::eventually;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn oozie_down_mid_run_keeps_the_state_and_the_job_ends_right_once_it_is_back() {
    let env = start(FAST).await;
    let template = shell_template(&env, "weathered").await;
    let id = launch(&env, &template, json!({})).await;
    let view = workflow_of(&env, &id).await;
    wait_status(&env, &id, "RUNNING", DEADLINE).await;

    env.oozie.set_down(true);
    // The workflow ends while nobody can ask (its notifications fail too).
    env.oozie.finish(&view.id, Outcome::Succeeded).unwrap();
    let refused = env.oozie.refused();
    eventually("edpd to poll and be refused a few times", DEADLINE, || async {
        (env.oozie.refused() >= refused + 3).then_some(())
    })
    .await;
    let during = job(&env, &id).await;
    assert_eq!(during["info"]["status"], "RUNNING", "a network error never ends a job: {during}");
    assert!(during["info"]["poll_error"].as_str().is_some_and(|e| e.contains("Oozie")), "{during}");

    env.oozie.set_down(false);
    let job = wait_status(&env, &id, "SUCCEEDED", DEADLINE).await;
    assert!(job["info"].get("poll_error").is_none(), "{job}");
    assert_eq!(env.oozie.submissions(), 1, "no duplicate submission");
}

#[tokio::test]
async fn a_lost_submit_reply_finds_the_workflow_instead_of_submitting_again() {
    let env = start(FAST).await;
    let template = shell_template(&env, "once").await;
    env.oozie.lose_next_submit_reply();
    let id = launch(&env, &template, json!({})).await;
    // The first launch hears nothing back; the retry finds the workflow.
    let job = wait_status(&env, &id, "RUNNING", DEADLINE).await;
    assert_eq!(env.oozie.submissions(), 1);
    let view = workflow_of(&env, &id).await;
    assert_eq!(job["engine_job_id"], view.id.as_str());
    let lookups = env.oozie.requests().iter().filter(|r| r.method == "GET" && r.path.ends_with("/v2/jobs")).count();
    assert!(lookups >= 2, "each launch looks for its workflow first");

    env.oozie.finish(&view.id, Outcome::Succeeded).unwrap();
    wait_status(&env, &id, "SUCCEEDED", DEADLINE).await;
    assert_eq!(env.oozie.submissions(), 1);
}

#[tokio::test]
async fn a_launch_while_oozie_is_down_waits_and_submits_once_it_is_back() {
    let env = start(FAST).await;
    let template = shell_template(&env, "patient").await;
    env.oozie.set_down(true);
    let id = launch(&env, &template, json!({})).await;
    let pending = eventually("the launch to fail once", DEADLINE, || async {
        let job = job(&env, &id).await;
        job["info"]["launch_error"].is_string().then_some(job)
    })
    .await;
    assert_eq!(pending["info"]["status"], "PENDING", "{pending}");
    env.oozie.set_down(false);
    wait_status(&env, &id, "RUNNING", Duration::from_secs(40)).await;
    assert_eq!(env.oozie.submissions(), 1);
}

#[tokio::test]
async fn oozie_in_safe_mode_refuses_the_submission_until_it_is_back_to_normal() {
    let env = start(FAST).await;
    let template = shell_template(&env, "safe").await;
    env.oozie.set_system_mode("SAFEMODE");
    let id = launch(&env, &template, json!({})).await;
    let pending = eventually("the launch to be refused once", DEADLINE, || async {
        let job = job(&env, &id).await;
        job["info"]["launch_error"].is_string().then_some(job)
    })
    .await;
    // 503 with E0002: Oozie's headers read, the error taken as passing.
    assert_eq!(pending["info"]["status"], "PENDING", "{pending}");
    let error = pending["info"]["launch_error"].as_str().unwrap();
    assert!(error.contains("E0002: System is in safe mode"), "{error}");
    env.oozie.set_system_mode("NORMAL");
    wait_status(&env, &id, "RUNNING", Duration::from_secs(40)).await;
    assert_eq!(env.oozie.submissions(), 1);
}
