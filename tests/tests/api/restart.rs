//! edpd dies while jobs run: they keep running and are re-attached.

use std::time::Duration;

use edp_tests::{TestApp, eventually};
use serde_json::json;

use crate::helpers::{TERMINAL, launch, local_cluster, read_log, shell_template, wait_for};

#[tokio::test]
async fn a_job_running_when_edpd_is_killed_is_reattached_and_started_exactly_once() {
    let mut app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let starts = app.root.path().join("starts");
    let release = app.root.path().join("release");
    // The job records each start, then waits until the test lets it finish.
    let script = "echo started >> \"$1\"\nwhile [ ! -e \"$2\" ]; do sleep 0.1; done\necho finished\n";
    let template = shell_template(&app, "survivor", script).await;
    let args = json!({"args": [starts.display().to_string(), release.display().to_string()]});
    let id = launch(&app, &template, &cluster, args).await;
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;

    app.kill();
    assert!(!app.is_running());
    // While edpd is down the job goes on, and finishes.
    std::fs::write(&release, "").expect("release the job");
    eventually("the job to finish while edpd is down", Duration::from_secs(10), || async {
        app.job_dir(&id).join("exit").exists().then_some(())
    })
    .await;

    app.start().await;
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["return_code"], 0);
    assert_eq!(read_log(&app, &id, "stdout").await, "finished\n");
    let started = std::fs::read_to_string(&starts).expect("starts file");
    assert_eq!(started.lines().count(), 1, "the job was started {} times", started.lines().count());
}

#[tokio::test]
async fn a_job_still_running_after_restart_is_followed_to_its_end() {
    let mut app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let release = app.root.path().join("release");
    let template = shell_template(&app, "waiter", "while [ ! -e \"$1\" ]; do sleep 0.1; done\nexit 4\n").await;
    let id = launch(&app, &template, &cluster, json!({"args": [release.display().to_string()]})).await;
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;

    app.kill();
    app.start().await;
    // Re-attached: still RUNNING, not mistaken for lost.
    let job = app.get(&format!("/v2/jobs/{id}?refresh_status=true")).await.expect(200);
    assert_eq!(job["job"]["info"]["status"], "RUNNING", "{job}");
    std::fs::write(&release, "").expect("release the job");
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "FAILED", "{job}");
    assert_eq!(job["return_code"], 4);
}
