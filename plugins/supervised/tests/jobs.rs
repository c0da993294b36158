//! Jobs launched, observed, cancelled and read as an engine does, as real
//! processes under the real supervisor.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;
use edp_engine_api::abi::ErrorKind;
use edp_engine_api::wire::JobStatus;
use edp_supervised::{JobSpec, LaunchPlan, cancel, launch, layout, logs, status};
use rustix::io::Errno;
use rustix::process::{Pid, test_kill_process_group};
use serde_json::json;

const ID: &str = "6f1c2d3e-0000-4000-8000-000000000101";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_as_specified_and_its_logs_read_in_any_chunks() {
    let env = Env::new();
    let (watcher, hints) = watcher();
    let script = "for a in \"$@\"; do printf '%s\\n' \"$a\"; done\n\
                  printf '%s\\n' \"$GREETING\"\n\
                  pwd\n\
                  cat data.txt\n\
                  printf 'caf\\303\\251 \\342\\202\\254\\n'\n\
                  echo oops >&2\n";
    let mut plan = env.shell(ID, script, &["a  b", "$(id)", ""]);
    plan.spec.env.insert("GREETING".into(), "hello there".into());
    plan.files.push(("data.txt".into(), env.source("data.txt", "staged\n")));
    assert!(start(&plan, &watcher, ID), "a fresh directory gets a supervisor");
    let dir = env.job_dir(ID);

    hints.expect_hint(ID, DEADLINE).await;
    let report = wait_terminal(&dir).await;
    assert_eq!(report.status, JobStatus::Succeeded, "{:?}", report.info);
    assert_eq!(report.return_code, Some(0));
    assert_eq!(report.info["exit_code"], json!(0));
    assert!(report.info["ended_at_ms"].as_u64().is_some_and(|ms| ms > 0));
    assert!(report.info.get("stderr_tail").is_none(), "a success carries no stderr");

    let written: JobSpec =
        serde_json::from_slice(&fs::read(dir.file(layout::JOB_SPEC)).expect("job.json")).expect("job.json parses");
    assert_eq!(written, plan.spec);

    let expected = format!("a  b\n$(id)\n\nhello there\n{}\nstaged\ncafé €\n", dir.path().display());
    // Limits that fall inside `é` (2 bytes) and `€` (3 bytes), and one
    // smaller than `€`.
    for limit in [1, 2, 3, 5, 1 << 20] {
        assert_eq!(read_stream(&dir, "stdout", limit), expected, "limit {limit}");
    }
    assert_eq!(read_stream(&dir, "stderr", 100), "oops\n");

    let default = logs::read(&dir, None, 0, 4).expect("logs");
    assert_eq!((default.stream.as_str(), default.data.as_str(), default.next_offset), ("stdout", "a  b", 4));
    assert!(!default.complete);
    assert_eq!(default.streams, ["stdout", "stderr"]);
    let unknown = logs::read(&dir, Some("syslog"), 0, 10).expect_err("unknown stream");
    assert_eq!(unknown.kind, ErrorKind::INVALID_INPUT);
    let past = logs::read(&dir, Some("stderr"), 100, 10).expect_err("offset past the end");
    assert_eq!(past.kind, ErrorKind::INVALID_INPUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_reports_its_exit_code_and_stderr() {
    let env = Env::new();
    let (watcher, _) = watcher();
    start(&env.shell(ID, "echo 'something broke' >&2\nexit 3\n", &[]), &watcher, ID);
    let report = wait_terminal(&env.job_dir(ID)).await;
    assert_eq!(report.status, JobStatus::Failed);
    assert_eq!(report.return_code, Some(3));
    let reason = report.info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains('3'), "{reason}");
    assert_eq!(report.info["stderr_tail"], json!("something broke"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_killed_by_a_signal_without_a_cancel_fails() {
    let env = Env::new();
    let (watcher, _) = watcher();
    start(&env.shell(ID, "kill -9 $$\n", &[]), &watcher, ID);
    let report = wait_terminal(&env.job_dir(ID)).await;
    assert_eq!(report.status, JobStatus::Failed);
    assert_eq!(report.return_code, Some(128 + 9));
    let reason = report.info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("killed by signal 9 (SIGKILL)"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_cannot_start_fails_with_127() {
    let env = Env::new();
    let (watcher, _) = watcher();
    let mut plan = env.shell(ID, "", &[]);
    plan.spec.argv = vec!["/nonexistent/bin/java".into(), "-version".into()];
    start(&plan, &watcher, ID);
    let dir = env.job_dir(ID);
    let report = wait_terminal(&dir).await;
    assert_eq!(report.status, JobStatus::Failed);
    assert_eq!(report.return_code, Some(127));
    let reason = report.info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("/nonexistent/bin/java"), "{reason}");
    let stderr = read_stream(&dir, "stderr", 1 << 20);
    assert!(stderr.contains("cannot start `/nonexistent/bin/java`"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_argv_fails_without_running_anything() {
    let env = Env::new();
    let (watcher, _) = watcher();
    let mut plan = env.shell(ID, "", &[]);
    plan.spec.argv.clear();
    start(&plan, &watcher, ID);
    let report = wait_terminal(&env.job_dir(ID)).await;
    assert_eq!(report.status, JobStatus::Failed);
    assert_eq!(report.return_code, None);
    let reason = report.info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("empty argv"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_whole_process_group_and_delete_waits_for_it() {
    let env = Env::new();
    let (watcher, hints) = watcher();
    // A background child too: the group, not just the leader, must go.
    start(&env.shell(ID, "sleep 600 &\necho started > started\nsleep 600\n", &[]), &watcher, ID);
    let dir = env.job_dir(ID);
    wait_file(&dir.file("started")).await;
    wait_file(&dir.file(layout::JOB_PID)).await;
    let running = status::observe(&dir).expect("status");
    assert_eq!(running.report.status, JobStatus::Running);
    let pgid = dir.pid(layout::JOB_PID).expect("job.pid").expect("a job pid");
    assert_eq!(running.report.info["job_pid"], json!(pgid));
    let supervisor = dir.pid(layout::SUPERVISOR_PID).expect("supervisor.pid").expect("a supervisor pid");
    assert_eq!(running.live_supervisor, Some(supervisor));
    assert_ne!(pgid, supervisor, "the job has a group of its own");
    assert!(!logs::read(&dir, None, 0, 10).expect("logs").complete, "a running job's log is not complete");

    let refused = dir.delete().expect_err("delete while running");
    assert_eq!(refused.kind, ErrorKind::INVALID_INPUT);

    let start = Instant::now();
    cancel::cancel(&dir, Duration::from_secs(2)).await.expect("cancel");
    assert!(start.elapsed() < Duration::from_secs(5), "cancel took {:?}", start.elapsed());
    let report = status::observe(&dir).expect("status").report;
    assert_eq!(report.status, JobStatus::Killed, "{:?}", report.info);
    assert_eq!(report.info["reason"], json!("cancelled"));
    let group = Pid::from_raw(pgid).expect("pid");
    assert_eq!(test_kill_process_group(group), Err(Errno::SRCH), "processes of the group are left");
    assert!(!cancel::group_exists(pgid));
    hints.expect_hint(ID, DEADLINE).await;

    // Cancelling again changes nothing.
    cancel::cancel(&dir, Duration::from_secs(2)).await.expect("second cancel");
    assert_eq!(status::observe(&dir).expect("status").report.status, JobStatus::Killed);

    dir.delete().expect("delete");
    assert!(!dir.path().exists());
    dir.delete().expect("deleting again");
    let gone = status::observe(&dir).err().expect("status after delete");
    assert_eq!(gone.kind, ErrorKind::NOT_FOUND);
    assert_eq!(cancel::cancel(&dir, Duration::ZERO).await.expect_err("cancel after delete").kind, ErrorKind::NOT_FOUND);
    assert_eq!(logs::read(&dir, None, 0, 1).expect_err("logs after delete").kind, ErrorKind::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_ignoring_sigterm_is_killed_after_the_grace_period() {
    let env = Env::new();
    let (watcher, _) = watcher();
    // Ignored signals stay ignored across exec: the sleep ignores it too.
    start(&env.shell(ID, "trap '' TERM\necho started > started\nsleep 600\n", &[]), &watcher, ID);
    let dir = env.job_dir(ID);
    wait_file(&dir.file("started")).await;
    wait_file(&dir.file(layout::JOB_PID)).await;

    let start = Instant::now();
    cancel::cancel(&dir, Duration::from_millis(300)).await.expect("cancel");
    assert!(start.elapsed() >= Duration::from_millis(300), "SIGKILL came before the grace period ended");
    assert!(start.elapsed() < Duration::from_secs(5), "cancel took {:?}", start.elapsed());
    let report = status::observe(&dir).expect("status").report;
    assert_eq!(report.status, JobStatus::Killed);
    assert_eq!(report.return_code, Some(128 + 9));
    let pgid = dir.pid(layout::JOB_PID).expect("job.pid").expect("a job pid");
    assert_eq!(test_kill_process_group(Pid::from_raw(pgid).expect("pid")), Err(Errno::SRCH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_finished_job_keeps_its_status() {
    let env = Env::new();
    let (watcher, _) = watcher();
    start(&env.shell(ID, "exit 0\n", &[]), &watcher, ID);
    let dir = env.job_dir(ID);
    let ended = wait_terminal(&dir).await;
    assert_eq!(ended.status, JobStatus::Succeeded, "{:?}", ended.info);
    cancel::cancel(&dir, Duration::from_secs(2)).await.expect("cancel");
    assert_eq!(status::observe(&dir).expect("status").report.status, JobStatus::Succeeded);
    assert!(!dir.has(layout::CANCEL_REQUESTED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_before_its_supervisor_starts_never_runs() {
    let env = Env::new();
    let (watcher, hints) = watcher();
    let dir = env.job_dir(ID);
    fs::create_dir_all(dir.path()).expect("dir");
    fs::write(dir.file(layout::CANCEL_REQUESTED), "").expect("marker");
    start(&env.shell(ID, "echo ran > ran\n", &[]), &watcher, ID);
    hints.expect_hint(ID, DEADLINE).await;
    let report = wait_terminal(&dir).await;
    assert_eq!(report.status, JobStatus::Killed, "{:?}", report.info);
    assert!(!dir.has("ran"), "the job ran");
    assert!(!dir.has(layout::JOB_PID));
    assert_eq!(
        dir.exit_record().expect("exit").and_then(|e| e.error).as_deref(),
        Some("cancelled before the job started")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_starts_one_supervisor_however_often_it_is_repeated() {
    let env = Env::new();
    let (watcher, _) = watcher();
    let plan = env.shell(ID, "echo run >> runs\nwhile [ ! -e go ]; do sleep 0.02; done\n", &[]);
    let launches: Vec<_> = (0..4)
        .map(|_| {
            let plan = plan.clone();
            std::thread::spawn(move || launch::launch(&plan).expect("launch"))
        })
        .collect();
    let mut started = 0;
    for handle in launches {
        match handle.join().expect("launch thread") {
            launch::Launch::Started(child) => {
                started += 1;
                watcher.watch_child(ID, child);
            }
            launch::Launch::Existing => {}
        }
    }
    assert_eq!(started, 1, "concurrent launches started {started} supervisors");
    assert!(!start(&plan, &watcher, ID), "a later launch starts nothing");

    let dir = env.job_dir(ID);
    wait_file(&dir.file("runs")).await;
    fs::write(dir.file("go"), "").expect("go");
    assert_eq!(wait_terminal(&dir).await.status, JobStatus::Succeeded);
    assert!(!start(&plan, &watcher, ID), "a launch after the end starts nothing");
    assert_eq!(fs::read_to_string(dir.file("runs")).expect("runs"), "run\n", "the job ran more than once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_that_crashed_before_spawning_is_started_on_retry() {
    let env = Env::new();
    let (watcher, _) = watcher();
    let plan = env.shell(ID, "echo ran\n", &[]);
    // What a crash between creating the directory and spawning leaves.
    let dir = env.job_dir(ID);
    fs::create_dir_all(dir.path()).expect("dir");
    fs::write(dir.file(layout::LOCK), "").expect("lock");
    fs::write(dir.file("job.sh"), "half a scr").expect("partial binary");
    assert!(start(&plan, &watcher, ID));
    assert_eq!(wait_terminal(&dir).await.status, JobStatus::Succeeded);
    assert_eq!(read_stream(&dir, "stdout", 100), "ran\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_refuses_files_that_would_escape_or_overwrite_and_writes_nothing() {
    let env = Env::new();
    let source = env.source("x", "x");
    for name in ["../evil.sh", "a/b", "..", "", layout::JOB_SPEC, layout::EXIT, "exit.tmp"] {
        let plan = LaunchPlan { files: vec![(name.into(), source.clone())], ..env.shell(ID, "", &[]) };
        let err = launch::launch(&plan).err().expect("refused");
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT, "{name:?}");
    }
    assert!(!env.job_dir(ID).path().exists(), "a refused launch left a job directory");

    let plan = LaunchPlan { supervisor: "/nonexistent/edp-supervisor".into(), ..env.shell(ID, "", &[]) };
    let err = launch::launch(&plan).err().expect("no supervisor");
    assert!(err.message.contains("/nonexistent/edp-supervisor"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_that_is_not_our_child_is_watched_through_its_pid() {
    let env = Env::new();
    let (first, first_hints) = watcher();
    start(&env.shell(ID, "echo up > up\nwhile [ ! -e go ]; do sleep 0.02; done\n", &[]), &first, ID);
    let dir = env.job_dir(ID);
    wait_file(&dir.file("up")).await;

    // As after an edpd restart: a watcher that did not spawn it.
    let (second, second_hints) = watcher();
    let observed = status::observe(&dir).expect("status");
    assert_eq!(observed.report.status, JobStatus::Running);
    let pid = observed.live_supervisor.expect("a live supervisor");
    second.watch_pid(ID, pid);
    second.watch_pid(ID, pid);
    fs::write(dir.file("go"), "").expect("go");
    second_hints.expect_hint(ID, DEADLINE).await;
    assert_eq!(status::observe(&dir).expect("status").report.status, JobStatus::Succeeded);
    first_hints.expect_hint(ID, DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_job_leaves_running_is_ended_after_it() {
    let env = Env::new();
    let (watcher, hints) = watcher();
    // The background sleep outlives the job's shell, in the job's group.
    start(&env.shell(ID, "sleep 600 &\necho $! > bg\n", &[]), &watcher, ID);
    let dir = env.job_dir(ID);
    assert_eq!(wait_terminal(&dir).await.status, JobStatus::Succeeded);
    // The supervisor exits (the hint) once the leftovers are gone.
    hints.expect_hint(ID, DEADLINE).await;
    assert!(!dir.locked().expect("lock"), "the supervisor still holds the lock");
    let pgid = dir.pid(layout::JOB_PID).expect("job.pid").expect("a job pid");
    assert!(!cancel::group_exists(pgid), "the job's leftovers still run");
}
