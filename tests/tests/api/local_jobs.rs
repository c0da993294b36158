//! Shell jobs on the local engine, through the API.

use std::time::{Duration, Instant};

use edp_tests::{TestApp, eventually};
use serde_json::json;

use crate::helpers::{TERMINAL, group_alive, launch, local_cluster, read_log, shell_template, wait_for};

#[tokio::test]
async fn a_job_that_exits_0_succeeds_with_its_output_readable() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "hello", "echo hello from edp\necho to stderr >&2\nexit 0\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;

    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["return_code"], 0);
    assert!(job["start_time"].is_string() && job["end_time"].is_string(), "{job}");
    assert!(job.get("extra").is_none(), "extra must never be shown: {job}");

    assert_eq!(read_log(&app, &id, "stdout").await, "hello from edp\n");
    assert_eq!(read_log(&app, &id, "stderr").await, "to stderr\n");
    // Paged by offset: the next chunk starts where the last one ended.
    let chunk = app.get(&format!("/v2/jobs/{id}/logs?offset=6&limit=4")).await.expect(200)["log"].clone();
    assert_eq!(chunk["data"], "from");
    assert_eq!(chunk["next_offset"], 10);
    assert_eq!(chunk["streams"], json!(["stdout", "stderr"]));
}

#[tokio::test]
async fn a_job_that_exits_3_fails_with_return_code_3() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "three", "echo about to fail >&2\nexit 3\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;

    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "FAILED", "{job}");
    assert_eq!(job["return_code"], 3);
    let reason = job["info"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains('3'), "the reason should name the exit code: {job}");
}

#[tokio::test]
async fn arguments_and_params_arrive_verbatim_never_through_a_shell() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(
        &app,
        "echo-args",
        "for a in \"$@\"; do printf '%s\\n' \"$a\"; done\nprintf 'GREETING=%s\\n' \"$GREETING\"\n",
    )
    .await;
    let canary = app.root.path().join("x");
    std::fs::create_dir(&canary).expect("canary dir");
    let args = ["; rm -rf x", "$(id)", "`id`", "a b", "*", "'quoted'"];
    let id =
        launch(&app, &template, &cluster, json!({"args": args, "params": {"GREETING": "$(whoami) && echo hi"}})).await;

    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    let mut expected: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    expected.push("GREETING=$(whoami) && echo hi".into());
    assert_eq!(read_log(&app, &id, "stdout").await, expected.join("\n") + "\n");
    assert!(canary.exists(), "an argument was run as a command");
}

#[tokio::test]
async fn cancelling_a_long_job_kills_its_whole_process_group_within_5_seconds() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    // A child of the script too: the whole group must go, not just the shell.
    let template = shell_template(&app, "sleeper", "sleep 600 &\nsleep 600\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;
    eventually("the job's process group", Duration::from_secs(10), || async {
        app.job_dir(&id).join("job.pid").exists().then_some(())
    })
    .await;
    assert!(group_alive(&app, &id));

    let asked = Instant::now();
    let job = app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    assert!(["TOBEKILLED", "KILLED"].contains(&job["job"]["info"]["status"].as_str().unwrap_or_default()), "{job}");

    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(5)).await;
    assert_eq!(job["info"]["status"], "KILLED", "{job}");
    assert!(asked.elapsed() < Duration::from_secs(5), "took {:?}", asked.elapsed());
    eventually("no process left in the job's group", Duration::from_secs(2), || async {
        (!group_alive(&app, &id)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_finished_job_can_be_deleted_and_is_gone() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "quick", "true\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;
    wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;

    app.delete(&format!("/v2/jobs/{id}")).await.expect(204);
    assert_eq!(app.get(&format!("/v2/jobs/{id}")).await.status, 404);
    eventually("the job's work dir to be removed", Duration::from_secs(10), || async {
        (!app.job_dir(&id).exists()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn deleting_a_running_job_cancels_it_then_removes_it() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "long", "sleep 600\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;
    eventually("the job's pid", Duration::from_secs(10), || async {
        app.job_dir(&id).join("job.pid").exists().then_some(())
    })
    .await;

    app.delete(&format!("/v2/jobs/{id}")).await.expect(204);
    eventually("the job to be gone", Duration::from_secs(10), || async {
        (app.get(&format!("/v2/jobs/{id}")).await.status == 404).then_some(())
    })
    .await;
    eventually("its processes to be gone", Duration::from_secs(2), || async {
        (!app.job_dir(&id).exists() || !group_alive(&app, &id)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn what_a_finished_job_leaves_running_is_ended_with_it() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    // Leaves a background process behind and exits at once.
    let template = shell_template(&app, "leaky", "sleep 600 &\necho left one behind\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;

    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    eventually("the leftover `sleep` to be ended", Duration::from_secs(10), || async {
        (!group_alive(&app, &id)).then_some(())
    })
    .await;
    app.delete(&format!("/v2/jobs/{id}")).await.expect(204);
}

#[tokio::test]
async fn cancelling_a_job_ends_its_grandchildren_and_orphans() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    // A child with a grandchild of its own, and an orphan whose parent
    // exited at once.
    let script = "sh -c 'sleep 600 & echo $! > \"$EDP_JOB_DIR/grandchild\"; wait' &\n\
                  sh -c 'sleep 600 & echo $! > \"$EDP_JOB_DIR/orphan\"'\n\
                  wait\n";
    let template = shell_template(&app, "family", script).await;
    let id = launch(&app, &template, &cluster, json!({})).await;
    wait_for(&app, &id, &["RUNNING"], Duration::from_secs(30)).await;
    let pid = |name: &'static str| {
        let dir = app.job_dir(&id);
        async move {
            eventually(name, Duration::from_secs(10), || async {
                std::fs::read_to_string(dir.join(name)).ok().and_then(|p| p.trim().parse::<i32>().ok())
            })
            .await
        }
    };
    let (grandchild, orphan) = (pid("grandchild").await, pid("orphan").await);
    let alive =
        |pid: i32| rustix::process::test_kill_process(rustix::process::Pid::from_raw(pid).expect("pid")).is_ok();
    assert!(alive(grandchild) && alive(orphan));

    app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(10)).await;
    assert_eq!(job["info"]["status"], "KILLED", "{job}");
    eventually("the grandchild and the orphan to be gone", Duration::from_secs(5), || async {
        (!alive(grandchild) && !alive(orphan) && !group_alive(&app, &id)).then_some(())
    })
    .await;
}
