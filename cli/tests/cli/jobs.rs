//! Submitting, watching, cancelling and reading the logs of jobs on the
//! local engine.

use edp_tests::TestApp;
use serde_json::Value;

use crate::support::{Edp, GATED, submit, wait_status};

#[tokio::test]
async fn submit_wait_of_a_local_script_exits_0_and_logs_show_its_stdout() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let script = edp.write("hello.sh", "echo \"hello, $1\"\necho to stderr >&2\n");
    let script = script.to_str().unwrap();

    let run = edp
        .run(&["--json", "submit", "-t", "shell", "-n", "hello", "--main", script, "--arg", "world", "--wait"])
        .await;
    let job = run.expect_code(0).json();
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    let id = job["id"].as_str().unwrap();

    let logs = edp.run(&["logs", id]).await;
    assert_eq!(logs.expect_code(0).stdout, "hello, world\n");
    let errs = edp.run(&["logs", id, "--stream", "stderr"]).await;
    assert_eq!(errs.expect_code(0).stdout, "to stderr\n");
    let chunk = edp.run(&["--json", "logs", id]).await.expect_code(0).json();
    assert_eq!(chunk["data"], "hello, world\n");

    // The same submission again, for people: the upload and the template
    // are reused, nothing piles up.
    let again = edp.run(&["submit", "-t", "Shell", "-n", "hello", "--main", script, "--wait", "--", "again"]).await;
    again.expect_code(0);
    assert!(again.stdout.contains("SUCCEEDED"), "{}", again.stdout);
    assert!(!again.stderr.contains("uploaded"), "nothing should be uploaded again: {}", again.stderr);
    let binaries = app.get("/v2/job-binaries").await.expect(200);
    assert_eq!(binaries["binaries"].as_array().unwrap().len(), 1, "{binaries}");
    let templates = app.get("/v2/job-templates").await.expect(200);
    assert_eq!(templates["job_templates"].as_array().unwrap().len(), 1, "{templates}");
}

#[tokio::test]
async fn a_failing_job_makes_submit_wait_exit_1() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let script = edp.write("fail.sh", "echo about to fail\nexit 3\n");
    let run = edp.run(&["submit", "-t", "Shell", "-n", "fail", "--main", script.to_str().unwrap(), "--wait"]).await;
    run.expect_code(1);
    assert!(run.stdout.contains("FAILED") && run.stdout.contains("return code 3"), "{}", run.stdout);
}

#[tokio::test]
async fn changed_binaries_get_a_new_binary_and_a_new_template_version() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let template_of = |job: &Value| job["job_template_id"].as_str().unwrap().to_string();
    let script = edp.write("job.sh", "echo one\n");
    let path = script.to_str().unwrap();
    let submit = |path: String| {
        let edp = &edp;
        async move {
            edp.run(&["--json", "submit", "-t", "Shell", "-n", "etl", "--main", &path]).await.expect_code(0).json()
        }
    };
    let first = submit(path.to_string()).await;
    edp.write("job.sh", "echo two\n");
    let second = submit(path.to_string()).await;
    assert_ne!(template_of(&first), template_of(&second));
    edp.write("job.sh", "echo one\n");
    let third = submit(path.to_string()).await;
    assert_eq!(template_of(&first), template_of(&third), "the first template should be reused");

    let mut names: Vec<String> = app.get("/v2/job-templates").await.expect(200)["job_templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["etl", "etl-v2"]);
    let binaries = app.get("/v2/job-binaries").await.expect(200)["binaries"].clone();
    let binaries: Vec<&str> = binaries.as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(binaries.len(), 2, "{binaries:?}");
    assert!(binaries.contains(&"job.sh"), "{binaries:?}");
    assert!(binaries.iter().any(|n| n.starts_with("job-") && n.ends_with(".sh")), "{binaries:?}");
}

#[tokio::test]
async fn monitor_shows_a_long_job_running_and_exits_with_its_outcome() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let gate = edp.dir().join("gate");
    let id = submit(&edp, "gated", GATED, &[gate.to_str().unwrap()]).await;

    let mut monitor = edp.spawn(&["monitor", &id]);
    let running = monitor.line("a RUNNING line", |l| l.contains("RUNNING")).await;
    // `HH:MM:SS  RUNNING     3s`: the status and the elapsed time.
    assert!(running.trim_end().ends_with('s'), "no elapsed time in {running:?}");
    std::fs::write(&gate, "").unwrap();
    let run = monitor.finish().await;
    run.expect_code(0);
    assert!(run.stdout.contains(&format!("job {id} SUCCEEDED")), "{}", run.stdout);
    assert!(run.stdout.contains("return code 0"), "{}", run.stdout);
}

#[tokio::test]
async fn monitor_shows_the_progress_of_a_streaming_job() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let input = edp.dir().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a"), "x\n").unwrap();
    std::fs::write(input.join("b"), "y\n").unwrap();
    let output = edp.dir().join("out");
    let gate = edp.dir().join("gate");
    for (name, path) in [("in", &input), ("out", &output)] {
        edp.run(&["data-sources", "add", name, path.to_str().unwrap()]).await.expect_code(0);
    }
    // Mappers that wait for the gate: the maps stay undone while we look.
    let mapper = format!("edp.streaming.mapper=sh -c 'while [ ! -e {} ]; do sleep 0.05; done; cat'", gate.display());
    let submitted = edp
        .run(&[
            "--json",
            "submit",
            "-t",
            "MapReduce.Streaming",
            "-n",
            "gated-mr",
            "--input",
            "in",
            "--output",
            "out",
            "--conf",
            &mapper,
            "--conf",
            "edp.streaming.reducer=cat",
        ])
        .await
        .expect_code(0)
        .json();
    let id = submitted["id"].as_str().unwrap().to_string();

    let mut monitor = edp.spawn(&["monitor", &id]);
    monitor.line("the maps' progress", |l| l.contains("maps 0/2, reduces 0/1")).await;
    std::fs::write(&gate, "").unwrap();
    let run = monitor.finish().await;
    run.expect_code(0);
    assert!(run.stdout.contains("maps 2/2, reduces 1/1"), "{}", run.stdout);
    // One line for the end, even when new progress came with it.
    let ended = run.stdout.lines().filter(|l| l.contains("  SUCCEEDED ")).count();
    assert_eq!(ended, 1, "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(output.join("part-00000")).unwrap(), "x\ny\n");
}

#[tokio::test]
async fn cancel_wait_kills_a_long_job() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let id = submit(&edp, "sleeper", "sleep 600\n", &[]).await;
    wait_status(&app, &id, &["RUNNING"]).await;

    let run = edp.run(&["cancel", &id, "--wait"]).await;
    run.expect_code(0);
    assert!(run.stdout.contains(&format!("job {id} KILLED")), "{}", run.stdout);
    let job = edp.run(&["--json", "status", &id]).await.expect_code(0).json();
    assert_eq!(job["info"]["status"], "KILLED");
    // Watching a killed job reports its outcome: not a success.
    edp.run(&["monitor", &id]).await.expect_code(1);
    // Cancelling what has ended changes nothing.
    let again = edp.run(&["cancel", &id]).await;
    again.expect_code(0);
}

#[tokio::test]
async fn logs_follow_prints_lines_as_the_job_writes_them() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let gate = edp.dir().join("gate");
    let id = submit(&edp, "talker", GATED, &[gate.to_str().unwrap()]).await;

    let mut follow = edp.spawn(&["logs", "--follow", &id]);
    follow.line("the first line", |l| l == "first\n").await;
    // The job cannot have ended: it waits for the gate we have not opened.
    let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
    assert_eq!(job["job"]["info"]["status"], "RUNNING", "{job}");
    std::fs::write(&gate, "").unwrap();
    let run = follow.finish().await;
    run.expect_code(0);
    assert_eq!(run.stdout, "first\nsecond\n");
}

#[tokio::test]
async fn list_and_status_show_jobs() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let id = submit(&edp, "quick", "echo hi\n", &[]).await;
    wait_status(&app, &id, &["SUCCEEDED"]).await;

    let table = edp.run(&["list"]).await;
    table.expect_code(0);
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(table.stdout.contains(&id) && table.stdout.contains("quick"), "{}", table.stdout);
    let jobs = edp.run(&["--json", "list", "--status", "succeeded", "--cluster", "local", "--limit", "5"]).await;
    let jobs = jobs.expect_code(0).json();
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    let none = edp.run(&["--json", "list", "--status", "RUNNING,PENDING"]).await.expect_code(0).json();
    assert_eq!(none, serde_json::json!([]));

    let status = edp.run(&["status", &id]).await;
    status.expect_code(0);
    assert!(status.stdout.contains("SUCCEEDED") && status.stdout.contains("quick ("), "{}", status.stdout);
}

#[tokio::test]
async fn rerun_launches_the_same_job_again_and_exits_with_its_outcome() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let script = edp.write("greet.sh", "echo \"hello, $1\"\n");
    let first = edp
        .run(&[
            "--json",
            "submit",
            "-t",
            "Shell",
            "-n",
            "greet",
            "--main",
            script.to_str().unwrap(),
            "--arg",
            "again",
            "--wait",
        ])
        .await
        .expect_code(0)
        .json();
    let first_id = first["id"].as_str().unwrap();

    let second = edp.run(&["--json", "rerun", first_id, "--wait"]).await.expect_code(0).json();
    assert_eq!(second["info"]["status"], "SUCCEEDED", "{second}");
    assert_ne!(second["id"], first["id"], "a rerun is a new job: {second}");
    for same in ["job_template_id", "cluster_id"] {
        assert_eq!(second[same], first[same], "{same}: {second}");
    }
    assert_eq!(second["job_configs"]["args"], serde_json::json!(["again"]), "{second}");
    let logs = edp.run(&["logs", second["id"].as_str().unwrap()]).await;
    assert_eq!(logs.expect_code(0).stdout, "hello, again\n");

    // Without --wait, stdout is the new job's id alone (for scripts).
    let third = edp.run(&["rerun", first_id]).await;
    let third_id = third.expect_code(0).stdout.trim().to_string();
    assert!(third.stderr.contains(&format!("submitted again from {first_id}")), "{}", third.stderr);
    wait_status(&app, &third_id, &["SUCCEEDED"]).await;
    assert_eq!(app.get("/v2/jobs").await.expect(200)["jobs"].as_array().unwrap().len(), 3);

    // A job that fails fails again: --wait says so.
    let fails = edp.write("fails.sh", "exit 3\n");
    let failed =
        edp.run(&["--json", "submit", "-t", "Shell", "-n", "fails", "--main", fails.to_str().unwrap(), "--wait"]).await;
    let failed_id = failed.expect_code(1).json()["id"].as_str().unwrap().to_string();
    let again = edp.run(&["rerun", &failed_id, "--wait"]).await;
    again.expect_code(1);
    assert!(again.stdout.contains("FAILED"), "{}", again.stdout);

    let unknown = edp.run(&["rerun", "00000000-0000-4000-8000-000000000000"]).await;
    unknown.expect_code(3);
}

#[tokio::test]
async fn submit_with_an_idempotency_key_twice_launches_one_job() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let script = edp.write("once.sh", "echo once\n");
    let script = script.to_str().unwrap();
    let submit = |key: &'static str, arg: &'static str| {
        let edp = &edp;
        async move {
            edp.run(&["submit", "-t", "Shell", "-n", "once", "--main", script, "--idempotency-key", key, "--arg", arg])
                .await
        }
    };
    let first = submit("nightly-2026-12-06", "a").await;
    let id = first.expect_code(0).stdout.trim().to_string();
    // A retry (after a timeout, say) answers the same job.
    let retry = submit("nightly-2026-12-06", "a").await;
    assert_eq!(retry.expect_code(0).stdout.trim(), id);
    wait_status(&app, &id, &["SUCCEEDED"]).await;
    assert_eq!(app.get("/v2/jobs").await.expect(200)["jobs"].as_array().unwrap().len(), 1);

    // The same key for a different job is refused, with edpd's reason.
    let other = submit("nightly-2026-12-06", "b").await;
    other.expect_code(3);
    assert!(other.stderr.contains("was used for a different request"), "{}", other.stderr);
    // Keys edpd refuses, with its reason.
    for bad in ["has a space", "clé"] {
        let refused = submit(bad, "a").await;
        refused.expect_code(3);
        assert!(refused.stderr.contains("Idempotency-Key must be"), "{bad}: {}", refused.stderr);
    }
    assert_eq!(app.get("/v2/jobs").await.expect(200)["jobs"].as_array().unwrap().len(), 1);
}
