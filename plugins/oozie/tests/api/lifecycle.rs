//! A job's life through the API: success with Oozie's details and log,
//! an action's failure, a user's cancel, suspend and resume, a workflow
//! Oozie no longer knows, and deletion.

use std::time::Duration;

use edp_oozie_server::Outcome;
use edp_tests::eventually;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_successful_job_shows_oozies_details_and_its_log() {
    let env = start(FAST).await;
    let template = shell_template(&env, "ok").await;
    let id = launch(&env, &template, json!({})).await;
    let view = workflow_of(&env, &id).await;
    let running = wait_status(&env, &id, "RUNNING", DEADLINE).await;
    assert_eq!(running["info"]["oozie_job_id"], view.id.as_str(), "{running}");

    env.oozie.finish(&view.id, Outcome::Succeeded).unwrap();
    let job = wait_status(&env, &id, "SUCCEEDED", DEADLINE).await;
    let info = &job["info"];
    assert_eq!(job["return_code"], 0);
    assert_eq!(info["oozie_status"], "SUCCEEDED");
    assert!(info["console_url"].as_str().unwrap().ends_with(&format!("/oozie?job={}", view.id)), "{info}");
    assert_eq!(info["actions"][0]["name"], "job-node");
    assert_eq!(info["actions"][0]["status"], "OK");
    assert!(info["actions"][0]["external_id"].as_str().unwrap().starts_with("job_"), "{info}");
    assert!(info["end_time"].as_str().unwrap().len() == 19, "edp's time format: {info}");
    assert!(info.get("conf").is_none() && info.get("reason").is_none(), "{info}");
    assert!(job["end_time"].is_string());

    // Oozie's log for the job, whole and by chunks.
    let whole = env.app.get(&format!("/v2/jobs/{id}/logs")).await.expect(200)["log"].clone();
    assert_eq!(whole["stream"], "oozie");
    assert_eq!(whole["streams"], json!(["oozie"]));
    assert_eq!(whole["complete"], true, "{whole}");
    let text = whole["data"].as_str().unwrap();
    assert!(text.contains(&format!("JOB[{}]", view.id)), "{text}");
    let chunk = env.app.get(&format!("/v2/jobs/{id}/logs?offset=5&limit=10")).await.expect(200)["log"].clone();
    assert_eq!(chunk["data"].as_str().unwrap(), &text[5..15]);
    assert_eq!((chunk["next_offset"].as_u64(), chunk["complete"].as_bool()), (Some(15), Some(false)));
    let wrong = env.app.get(&format!("/v2/jobs/{id}/logs?stream=stdout")).await;
    assert_eq!(wrong.status, 400, "{:?}", wrong.body);
}

#[tokio::test]
async fn an_action_error_is_failed_with_the_actions_code_and_message() {
    let env = start(FAST).await;
    let template = shell_template(&env, "broken").await;
    let id = launch(&env, &template, json!({})).await;
    let view = workflow_of(&env, &id).await;
    wait_status(&env, &id, "RUNNING", DEADLINE).await;
    env.oozie
        .fail_action(&view.id, "JA018", "Main class [org.apache.oozie.action.hadoop.ShellMain], exit code [3]")
        .unwrap();
    // Oozie says KILLED (the error path ran the kill node); nobody asked.
    let job = wait_status(&env, &id, "FAILED", DEADLINE).await;
    assert_eq!(job["info"]["oozie_status"], "KILLED");
    assert_eq!(
        job["info"]["reason"],
        "action job-node (shell) failed: JA018: Main class [org.apache.oozie.action.hadoop.ShellMain], exit code [3]"
    );
    assert_eq!(job["return_code"], 3);
}

#[tokio::test]
async fn a_workflow_that_fails_outright_is_failed_with_its_error() {
    let env = start(FAST).await;
    let template = shell_template(&env, "el").await;
    let id = launch(&env, &template, json!({})).await;
    let view = workflow_of(&env, &id).await;
    env.oozie
        .finish(
            &view.id,
            Outcome::Failed { code: "EL_ERROR".into(), message: "variable [queue] cannot be resolved".into() },
        )
        .unwrap();
    let job = wait_status(&env, &id, "FAILED", DEADLINE).await;
    assert_eq!(job["info"]["reason"], "action job-node (shell) failed: EL_ERROR: variable [queue] cannot be resolved");
}

#[tokio::test]
async fn a_users_cancel_kills_the_workflow_and_is_killed() {
    let env = start(FAST).await;
    let template = shell_template(&env, "long").await;
    let id = launch(&env, &template, json!({})).await;
    let view = workflow_of(&env, &id).await;
    wait_status(&env, &id, "RUNNING", DEADLINE).await;
    act(&env, &id, "cancel").await;
    let job = wait_status(&env, &id, "KILLED", DEADLINE).await;
    assert!(job["info"].get("reason").is_none(), "a cancel is no failure: {job}");
    assert_eq!(env.oozie.job(&view.id).unwrap().status, "KILLED");
    let kills = env.oozie.requests().iter().filter(|r| r.method == "PUT" && r.query.contains("action=kill")).count();
    assert!(kills >= 1);
}

#[tokio::test]
async fn a_job_suspended_then_resumed_runs_to_its_end() {
    let env = start(FAST).await;
    let template = shell_template(&env, "pausable").await;
    let id = launch(&env, &template, json!({})).await;
    let view = workflow_of(&env, &id).await;
    wait_status(&env, &id, "RUNNING", DEADLINE).await;

    act(&env, &id, "suspend").await;
    wait_status(&env, &id, "SUSPENDED", DEADLINE).await;
    assert_eq!(env.oozie.job(&view.id).unwrap().status, "SUSPENDED");
    // A suspended workflow does not move on.
    assert!(env.oozie.finish(&view.id, Outcome::Succeeded).is_err());

    act(&env, &id, "resume").await;
    wait_status(&env, &id, "RUNNING", DEADLINE).await;
    assert_eq!(env.oozie.job(&view.id).unwrap().status, "RUNNING");
    env.oozie.finish(&view.id, Outcome::Succeeded).unwrap();
    wait_status(&env, &id, "SUCCEEDED", DEADLINE).await;
}

#[tokio::test]
async fn a_workflow_oozie_no_longer_knows_is_failed_with_e0604() {
    let env = start(FAST).await;
    let template = shell_template(&env, "purged").await;
    let id = launch(&env, &template, json!({})).await;
    let view = workflow_of(&env, &id).await;
    wait_status(&env, &id, "RUNNING", DEADLINE).await;
    env.oozie.forget(&view.id);
    let job = wait_status(&env, &id, "FAILED", DEADLINE).await;
    let reason = job["info"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("E0604") && reason.contains(&view.id), "{job}");
}

#[tokio::test]
async fn deleting_a_finished_job_removes_its_app_directory() {
    let env = start(FAST).await;
    let template = shell_template(&env, "tidy").await;
    let id = launch(&env, &template, json!({})).await;
    let view = workflow_of(&env, &id).await;
    let dir = app_dir(&view);
    env.oozie.finish(&view.id, Outcome::Succeeded).unwrap();
    wait_status(&env, &id, "SUCCEEDED", DEADLINE).await;
    assert!(env.oozie.file(&format!("{dir}/workflow.xml")).is_some());
    env.app.delete(&format!("/v2/jobs/{id}")).await.expect(204);
    eventually("the app directory to go", Duration::from_secs(10), || async {
        (!env.oozie.paths().iter().any(|p| p.starts_with(&dir))).then_some(())
    })
    .await;
}
