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

/// The local engine's host supervisor: its state directory and the pid a
/// process of it recorded (`keeper.pid`, `worker.pid`).
fn supervisor_pid(app: &TestApp, which: &str) -> i32 {
    let file = app.data_dir().join("engines/local/supervisor").join(which);
    std::fs::read_to_string(&file).expect("pid file").trim().parse().expect("a pid")
}

fn kill(pid: i32) {
    let pid = rustix::process::Pid::from_raw(pid).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill");
}

async fn wait_gone(pid: i32) {
    let pid = rustix::process::Pid::from_raw(pid).expect("a pid");
    eventually("the process to be gone", Duration::from_secs(10), || async {
        rustix::process::test_kill_process(pid).is_err().then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_exit_code_is_read_after_edpd_is_killed_whenever_its_job_ended() {
    let mut app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let gates = app.root.path().join("gates");
    std::fs::create_dir(&gates).expect("gates");
    // Each job records its start, then waits for its gate and exits with
    // its code.
    let script = "echo started >> \"$1/$2.starts\"\nwhile [ ! -e \"$1/$2\" ]; do sleep 0.05; done\nexit \"$2\"\n";
    let template = shell_template(&app, "coded", script).await;
    let mut ids = Vec::new();
    for code in [0, 3, 5] {
        let args = json!({"args": [gates.display().to_string(), code.to_string()]});
        ids.push((code, launch(&app, &template, &cluster, args).await));
    }
    for (_, id) in &ids {
        wait_for(&app, id, &["RUNNING"], Duration::from_secs(30)).await;
    }

    app.kill();
    // Two end while edpd is down, one after it is back.
    for code in [0, 3] {
        std::fs::write(gates.join(code.to_string()), "").expect("gate");
    }
    for (code, id) in &ids[..2] {
        eventually(&format!("job {code} to end while edpd is down"), Duration::from_secs(10), || async {
            app.job_dir(id).join("exit").exists().then_some(())
        })
        .await;
    }
    app.start().await;
    std::fs::write(gates.join("5"), "").expect("gate");
    for (code, id) in &ids {
        let job = wait_for(&app, id, TERMINAL, Duration::from_secs(30)).await;
        let expected = if *code == 0 { "SUCCEEDED" } else { "FAILED" };
        assert_eq!(job["info"]["status"], expected, "{job}");
        assert_eq!(job["return_code"], *code, "{job}");
        let starts = std::fs::read_to_string(gates.join(format!("{code}.starts"))).expect("starts");
        assert_eq!(starts.lines().count(), 1, "job {code} started {} times", starts.lines().count());
    }
}

#[tokio::test]
async fn a_killed_supervisor_worker_loses_no_exit_code() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let release = app.root.path().join("release");
    let template = shell_template(&app, "waiter", "while [ ! -e \"$1\" ]; do sleep 0.05; done\nexit 6\n").await;
    let id = launch(&app, &template, &cluster, json!({"args": [release.display().to_string()]})).await;
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;

    let worker = supervisor_pid(&app, "worker.pid");
    kill(worker);
    wait_gone(worker).await;
    std::fs::write(&release, "").expect("release the job");
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "FAILED", "{job}");
    assert_eq!(job["return_code"], 6, "{job}");

    // Another worker took over.
    let quick = shell_template(&app, "quick", "exit 0\n").await;
    let next = launch(&app, &quick, &cluster, json!({})).await;
    let job = wait_for(&app, &next, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_ne!(supervisor_pid(&app, "worker.pid"), worker);
}

#[tokio::test]
async fn a_job_that_outlived_its_whole_supervisor_ends_failed_with_its_exit_status_lost() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let release = app.root.path().join("release");
    let template = shell_template(&app, "orphaned", "while [ ! -e \"$1\" ]; do sleep 0.05; done\nexit 6\n").await;
    let id = launch(&app, &template, &cluster, json!({"args": [release.display().to_string()]})).await;
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;

    let (keeper, worker) = (supervisor_pid(&app, "keeper.pid"), supervisor_pid(&app, "worker.pid"));
    kill(keeper);
    kill(worker);
    wait_gone(worker).await;
    wait_gone(keeper).await;
    // The job runs on, and is still RUNNING.
    let job = app.get(&format!("/v2/jobs/{id}?refresh_status=true")).await.expect(200);
    assert_eq!(job["job"]["info"]["status"], "RUNNING", "{job}");
    std::fs::write(&release, "").expect("release the job");
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "FAILED", "{job}");
    assert!(job["return_code"].is_null(), "{job}");
    let reason = job["info"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("exit status is lost"), "{job}");

    // Launches go on under a new supervisor.
    let quick = shell_template(&app, "quick", "exit 0\n").await;
    let next = launch(&app, &quick, &cluster, json!({})).await;
    let job = wait_for(&app, &next, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
}
