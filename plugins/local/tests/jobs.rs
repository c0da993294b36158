//! The engine's jobs run as real processes under the real supervisor:
//! job types, settings and the engine's operations end to end. What the
//! supervisor, launch, status, cancel and logs do for any job is tested in
//! edp-supervised.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;
use edp_engine_api::abi::ErrorKind;
use edp_engine_api::plugin::Engine;
use edp_engine_api::wire::{DataSource, JobStatus, LogRequest};
use edp_supervised::layout;
use rustix::io::Errno;
use rustix::process::{Pid, test_kill_process_group};
use serde_json::json;

const ID: &str = "6f1c2d3e-0000-4000-8000-000000000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_job_succeeds_with_readable_logs_and_a_hint() {
    let env = Env::new();
    let (engine, hints) = env.engine();
    let job = env.shell_job(ID, "echo hello\nprintf 'caf\\303\\251 \\342\\202\\254\\n'\necho oops >&2\n", &[]);
    let launched = engine.run_job(job.clone()).await.expect("run");
    assert_eq!(launched.status, JobStatus::Running);
    assert!(launched.engine_job_id.parse::<u32>().is_ok(), "{}", launched.engine_job_id);
    assert_eq!(launched.info["work_dir"], json!(env.job_dir(ID)));
    let handle = handle(&job, &launched);

    hints.expect_hint(ID, DEADLINE).await;
    let report = wait_terminal(&engine, &handle).await;
    assert_eq!(report.status, JobStatus::Succeeded, "{:?}", report.info);
    assert_eq!(report.return_code, Some(0));

    // Chunking at any limit is edp-supervised's (tests/jobs.rs there).
    let expected = "hello\ncafé €\n";
    assert_eq!(read_stream(&engine, &handle, "stdout", 1 << 20).await, expected);
    assert_eq!(read_stream(&engine, &handle, "stdout", 3).await, expected);
    assert_eq!(read_stream(&engine, &handle, "stderr", 100).await, "oops\n");

    let default = engine
        .fetch_logs(LogRequest { handle: handle.clone(), stream: None, offset: 6, limit: 4 })
        .await
        .expect("logs");
    assert_eq!((default.stream.as_str(), default.data.as_str(), default.next_offset), ("stdout", "caf", 9));
    assert!(!default.complete);
    assert_eq!(default.streams, ["stdout", "stderr"]);

    let unknown = engine
        .fetch_logs(LogRequest { handle: handle.clone(), stream: Some("syslog".into()), offset: 0, limit: 10 })
        .await
        .expect_err("unknown stream");
    assert_eq!(unknown.kind, ErrorKind::INVALID_INPUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_arrive_verbatim_and_params_as_environment() {
    let env = Env::new();
    let (engine, _) = env.engine();
    let args = ["; rm -rf x", "$(id)", "a  b", "*", "`whoami`", ""];
    let script = "for a in \"$@\"; do printf '%s\\n' \"$a\"; done\n\
                  printf '%s|%s|%s|%s\\n' \"$GREETING\" \"$COUNT\" \"$FLAG\" \"$FROM_CLUSTER\"\n\
                  printf '%s|%s|%s|%s\\n' \"$EDP_EXECUTION_ID\" \"$EDP_JOB_DIR\" \"$EDP_INPUT\" \"$EDP_OUTPUT\"\n\
                  pwd\n";
    let mut job = env.shell_job(ID, script, &args);
    job.params = object(json!({ "GREETING": "$(id); x", "COUNT": 3, "FLAG": true }));
    job.cluster.configs = object(json!({ "env": { "FROM_CLUSTER": "yes" } }));
    job.input =
        Some(DataSource { id: "i".into(), name: "in".into(), kind: "file".into(), url: "file:///tmp/in%20put".into() });
    job.output = Some(DataSource { id: "o".into(), name: "out".into(), kind: "file".into(), url: "/tmp/out".into() });
    let launched = engine.run_job(job.clone()).await.expect("run");
    let handle = handle(&job, &launched);
    let report = wait_terminal(&engine, &handle).await;
    assert_eq!(report.status, JobStatus::Succeeded, "{:?}", report.info);

    let dir = env.job_dir(ID).display().to_string();
    let mut expected: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    expected.push("$(id); x|3|true|yes".into());
    expected.push(format!("{ID}|{dir}|/tmp/in put|/tmp/out"));
    expected.push(dir);
    let stdout = read_stream(&engine, &handle, "stdout", 1 << 20).await;
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_whole_process_group() {
    let env = Env::new();
    let (engine, hints) = env.engine();
    // A background child too: the group, not just the leader, must go.
    let job = env.shell_job(ID, "sleep 600 &\necho started > started\nsleep 600\n", &[]);
    let launched = engine.run_job(job.clone()).await.expect("run");
    let handle = handle(&job, &launched);
    wait_file(&env.job_dir(ID).join("started")).await;
    let pgid = wait_job_pid(&env.job_dir(ID)).await;
    let running = engine.get_job_status(handle.clone()).await.expect("status");
    assert_eq!(running.status, JobStatus::Running);
    assert_eq!(running.info["job_pid"], json!(pgid));
    // The host supervisor starts the job itself: the engine's id is the
    // job's process, the leader of a group of its own.
    assert_eq!(pgid.to_string(), launched.engine_job_id);

    let refused = engine.delete_job(handle.clone()).await.expect_err("delete while running");
    assert_eq!(refused.kind, ErrorKind::INVALID_INPUT);

    let start = Instant::now();
    let report = engine.cancel_job(handle.clone()).await.expect("cancel");
    assert!(start.elapsed() < Duration::from_secs(5), "cancel took {:?}", start.elapsed());
    assert_eq!(report.status, JobStatus::Killed, "{:?}", report.info);
    let group = Pid::from_raw(pgid).expect("pid");
    assert_eq!(test_kill_process_group(group), Err(Errno::SRCH), "processes of the group are left");
    hints.expect_hint(ID, DEADLINE).await;

    // Cancelling again changes nothing.
    let again = engine.cancel_job(handle.clone()).await.expect("second cancel");
    assert_eq!(again.status, JobStatus::Killed);

    engine.delete_job(handle.clone()).await.expect("delete");
    assert!(!env.job_dir(ID).exists());
    let gone = engine.get_job_status(handle).await.expect_err("status after delete");
    assert_eq!(gone.kind, ErrorKind::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_ignoring_sigterm_is_killed_after_the_grace_period() {
    // The grace period is the `kill_grace_ms` setting.
    let env = Env::new();
    let (engine, _) = env.engine_with(json!({ "supervisor": supervisor(), "kill_grace_ms": 300 }));
    // Ignored signals stay ignored across exec: the sleep ignores it too.
    let job = env.shell_job(ID, "trap '' TERM\necho started > started\nsleep 600\n", &[]);
    let launched = engine.run_job(job.clone()).await.expect("run");
    let handle = handle(&job, &launched);
    wait_file(&env.job_dir(ID).join("started")).await;
    wait_file(&env.job_dir(ID).join(layout::JOB_PID)).await;
    let running = engine
        .fetch_logs(LogRequest { handle: handle.clone(), stream: None, offset: 0, limit: 10 })
        .await
        .expect("logs");
    assert!(!running.complete, "a running job's log is not complete");

    let start = Instant::now();
    let report = engine.cancel_job(handle.clone()).await.expect("cancel");
    assert!(start.elapsed() >= Duration::from_millis(300), "SIGKILL came before the grace period ended");
    assert!(start.elapsed() < Duration::from_secs(5), "cancel took {:?}", start.elapsed());
    assert_eq!(report.status, JobStatus::Killed);
    assert_eq!(report.return_code, Some(128 + 9));
    let pgid = layout::read_pid(&env.job_dir(ID), layout::JOB_PID).expect("job.pid").expect("a job pid");
    assert_eq!(test_kill_process_group(Pid::from_raw(pgid).expect("pid")), Err(Errno::SRCH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_job_is_idempotent_on_the_execution_id() {
    let env = Env::new();
    let (engine, _) = env.engine();
    let job = env.shell_job(ID, "echo run >> runs\nwhile [ ! -e go ]; do sleep 0.02; done\n", &[]);
    let (first, second) = tokio::join!(engine.run_job(job.clone()), engine.run_job(job.clone()));
    let (first, second) = (first.expect("first run"), second.expect("second run"));
    assert_eq!(first.engine_job_id, second.engine_job_id);
    let third = engine.run_job(job.clone()).await.expect("third run");
    assert_eq!(third.engine_job_id, first.engine_job_id);
    assert_eq!(third.status, JobStatus::Running);

    let dir = env.job_dir(ID);
    wait_file(&dir.join("runs")).await;
    fs::write(dir.join("go"), "").expect("go");
    let report = wait_terminal(&engine, &handle(&job, &first)).await;
    assert_eq!(report.status, JobStatus::Succeeded);

    let after = engine.run_job(job.clone()).await.expect("run after the end");
    assert_eq!(after.status, JobStatus::Succeeded);
    assert_eq!(after.engine_job_id, first.engine_job_id);
    assert_eq!(fs::read_to_string(dir.join("runs")).expect("runs"), "run\n", "the job ran more than once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_an_engine_restart() {
    let env = Env::new();
    let (first, first_hints) = env.engine();
    let job = env.shell_job(ID, "echo up > up\nwhile [ ! -e go ]; do sleep 0.02; done\necho done\n", &[]);
    let launched = first.run_job(job.clone()).await.expect("run");
    let handle = handle(&job, &launched);
    let dir = env.job_dir(ID);
    wait_file(&dir.join("up")).await;

    // A fresh engine over the same work directory: the supervisor is not
    // its child, and it learns everything from the directory and handle.
    let (second, second_hints) = env.engine();
    assert_eq!(second.get_job_status(handle.clone()).await.expect("status").status, JobStatus::Running);
    fs::write(dir.join("go"), "").expect("go");
    second_hints.expect_hint(ID, DEADLINE).await;
    let report = second.get_job_status(handle.clone()).await.expect("status");
    assert_eq!(report.status, JobStatus::Succeeded);
    assert_eq!(read_stream(&second, &handle, "stdout", 100).await, "done\n");
    first_hints.expect_hint(ID, DEADLINE).await;
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_job_runs_with_its_libs_importable() {
    let env = Env::new();
    let (engine, _) = env.engine();
    let mut job = request(ID, "Python");
    job.mains =
        vec![env.binary("main.py", "import sys, os, helper\nprint(helper.greet(sys.argv[1:]), os.environ['NAME'])\n")];
    job.libs = vec![env.binary("helper.py", "def greet(args):\n    return 'hi ' + ','.join(args)\n")];
    job.args = vec!["a b".into(), "$(id)".into()];
    job.params = object(json!({ "NAME": "py" }));
    let launched = engine.run_job(job.clone()).await.expect("run");
    let handle = handle(&job, &launched);
    let report = wait_terminal(&engine, &handle).await;
    assert_eq!(report.status, JobStatus::Succeeded, "{:?}", report.info);
    assert_eq!(read_stream(&engine, &handle, "stdout", 1 << 20).await, "hi a b,$(id) py\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_exactly_what_runs() {
    let env = Env::new();
    let (engine, _) = env.engine();
    let mut job = env.shell_job(ID, ": > up\nwhile [ ! -e go ]; do sleep 0.02; done\n", &["x", "; y"]);
    job.libs = vec![env.binary("lib.txt", "data")];
    job.params = object(json!({ "P": 1.5 }));
    let dry = engine.dry_run(job.clone()).await.expect("dry run");
    assert_eq!(dry.kind, "argv");
    assert!(!env.job_dir(ID).exists(), "a dry run writes nothing");
    assert_eq!(dry.files.len(), 2);

    // What the job's process runs is what the dry run showed.
    let launched = engine.run_job(job.clone()).await.expect("run");
    let pid: i32 = launched.engine_job_id.parse().expect("the job's pid");
    // Its pid is known from the spawn on; its command line once it has
    // exec'd and runs the script.
    wait_file(&env.job_dir(ID).join("up")).await;
    let proc = |what: &str| fs::read(format!("/proc/{pid}/{what}")).expect("the job's /proc entry");
    let nul_separated = |bytes: Vec<u8>| -> Vec<String> {
        bytes.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    };
    let argv = nul_separated(proc("cmdline"));
    assert_eq!(json!(argv), dry.request["argv"]);
    assert_eq!(argv[0], "/bin/sh");
    assert_eq!(argv[2..], ["x", "; y"]);
    let environ = nul_separated(proc("environ"));
    for (name, value) in dry.request["env"].as_object().expect("env") {
        let value = value.as_str().expect("a string");
        assert!(environ.contains(&format!("{name}={value}")), "{name}={value} is not in {environ:?}");
    }
    assert!(environ.contains(&"P=1.5".to_owned()));
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
    assert_eq!(json!(cwd), dry.request["cwd"]);
    assert!(env.job_dir(ID).join("lib.txt").exists());
    fs::write(env.job_dir(ID).join("go"), "").expect("go");
    wait_terminal(&engine, &handle(&job, &launched)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_job_runs_a_real_class() {
    let env = Env::new();
    let build = env.root.path().join("java");
    fs::create_dir_all(&build).expect("java dir");
    let source = "public class Main { public static void main(String[] a) { \
                  System.out.println(String.join(\"|\", a) + \" \" + System.getProperty(\"edp.test\")); } }";
    fs::write(build.join("Main.java"), source).expect("source");
    // Java 17 is part of this project's environment (Spark needs it too):
    // a missing javac is a broken machine, not a reason to skip.
    let built = std::process::Command::new("javac").arg("Main.java").current_dir(&build).status();
    assert!(built.is_ok_and(|s| s.success()), "javac failed or is missing: install a JDK (17)");
    let jarred = std::process::Command::new("jar").args(["cf", "app.jar", "Main.class"]).current_dir(&build).status();
    assert!(jarred.is_ok_and(|s| s.success()), "jar failed");

    let (engine, _) = env.engine();
    let mut job = request(ID, "Java");
    job.libs = vec![binary_at("app.jar", &build.join("app.jar"))];
    job.configs = object(json!({ "edp.java.main_class": "Main", "edp.java.java_opts": " -Dedp.test=ok\t-Xmx64m " }));
    job.args = vec!["a b".into(), "$(id)".into()];
    let dry = engine.dry_run(job.clone()).await.expect("dry run");
    let jar = env.job_dir(ID).join("app.jar").display().to_string();
    assert_eq!(dry.request["argv"], json!(["java", "-Dedp.test=ok", "-Xmx64m", "-cp", jar, "Main", "a b", "$(id)"]));
    let launched = engine.run_job(job.clone()).await.expect("run");
    let handle = handle(&job, &launched);
    let report = wait_terminal(&engine, &handle).await;
    assert_eq!(report.status, JobStatus::Succeeded, "{:?}", report.info);
    assert_eq!(read_stream(&engine, &handle, "stdout", 1 << 20).await, "a b|$(id) ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_job_answers_what_a_launch_started_and_starts_nothing() {
    let env = Env::new();
    let (engine, hints) = env.engine();
    let job = env.shell_job(ID, "echo run >> runs\nwhile [ ! -e go ]; do sleep 0.02; done\n", &[]);
    // Never launched: nothing, and asking started nothing.
    assert!(engine.find_job(job.clone()).await.expect("find").is_none());
    assert!(!env.job_dir(ID).join("runs").exists());

    let launched = engine.run_job(job.clone()).await.expect("run");
    let found = engine.find_job(job.clone()).await.expect("find").expect("the launched job");
    assert_eq!(found.engine_job_id, launched.engine_job_id);
    assert_eq!(found.status, JobStatus::Running);
    // Whole before the kill: the file alone may be killed before its line.
    edp_supervised::testing::wait_line(&env.job_dir(ID).join("runs"), DEADLINE).await;
    // What it found is what a cancel needs: its handle kills the job.
    let report = engine.cancel_job(handle(&job, &found)).await.expect("cancel");
    assert_eq!(report.status, JobStatus::Killed, "{:?}", report.info);
    hints.expect_hint(ID, DEADLINE).await;
    let found = engine.find_job(job.clone()).await.expect("find").expect("the ended job");
    assert_eq!(found.status, JobStatus::Killed);
    assert_eq!(fs::read_to_string(env.job_dir(ID).join("runs")).expect("runs"), "run\n", "find_job started it again");
}
