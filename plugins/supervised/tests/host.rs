//! Jobs run by the host supervisor (`edp-supervisor --serve`), driven as an
//! engine drives them, with real processes: launches at most once, exits
//! recorded and told, and what survives which kill.

mod common;

use std::collections::HashSet;
use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use edp_engine_api::plugin::Result;
use edp_engine_api::wire::JobStatus;
use edp_supervised::protocol::{KEEPER_PID, WORKER_PID};
use edp_supervised::{JobDir, cancel, layout, status};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::json;

const ID: &str = "6f1c2d3e-0000-4000-8000-000000000201";

fn id(n: u32) -> String {
    format!("6f1c2d3e-0000-4000-8000-{n:012}")
}

fn nothing(_: &JobDir) -> Result<()> {
    Ok(())
}

fn kill(pid: i32) {
    kill_process(Pid::from_raw(pid).expect("a pid"), Signal::KILL).expect("kill");
}

/// Starts `ID` with `supervisor`: a job that writes `up`, waits for a `go`
/// file, then exits with `code`. Returns its directory once it is up.
async fn start_held(env: &Env, supervisor: &edp_supervised::HostSupervisor, code: u8) -> JobDir {
    let script = format!("echo up > up\nwhile [ ! -e go ]; do sleep 0.02; done\nexit {code}\n");
    supervisor.start(ID, env.job(ID, &script, &[]), nothing).await.expect("start");
    let dir = env.job_dir(ID);
    wait_file(&dir.file("up")).await;
    dir
}

/// The parent of process `pid`, from /proc.
fn parent(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// The job's pid once the worker has recorded it: the worker claims
/// `job.pid` empty, starts the job, then writes the pid, and the job may
/// run (and write what a test waits for) in between.
fn job_pid(dir: &JobDir) -> i32 {
    let start = Instant::now();
    loop {
        match dir.job_pid().expect("job.pid") {
            layout::JobPid::Pid(pid) => return pid,
            other => assert!(start.elapsed() < DEADLINE, "no job pid recorded: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_with_the_engines_environment_and_its_end_is_told() {
    let env = Env::new();
    let (supervisor, hints) = env.host_supervisor();
    let script = "printf '%s|%s|%s\\n' \"$1\" \"$GREETING\" \"$HOME\"\npwd\necho oops >&2\nexit 3\n";
    let mut plan = env.job(ID, script, &["a  b"]);
    plan.spec.env.insert("GREETING".into(), "hi there".into());
    let (pid, status) = supervisor.start(ID, plan, nothing).await.expect("start");
    assert_eq!(status, JobStatus::Running);
    let dir = env.job_dir(ID);

    hints.expect_hint(ID, DEADLINE).await;
    assert!(supervisor.known_status(ID).is_none(), "a failure's report needs its stderr, from the directory");
    let report = supervisor.observe(ID, &dir).await.expect("status");
    assert_eq!(report.status, JobStatus::Failed, "{:?}", report.info);
    assert_eq!(report.return_code, Some(3));
    assert_eq!(report.info["reason"], json!("exit code 3"));
    assert_eq!(report.info["stderr_tail"], json!("oops"));
    let home = std::env::var("HOME").unwrap_or_default();
    let expected = format!("a  b|hi there|{home}\n{}\n", dir.path().display());
    assert_eq!(read_stream(&dir, "stdout", 1 << 20), expected);
    assert_eq!(pid.map(|p| p as i32), Some(job_pid(&dir)));
    // Nothing more is written than the job needs.
    let mut files: Vec<String> = fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    files.sort();
    assert_eq!(files, ["exit", "job.pid", "job.sh", "stderr", "stdout"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_the_workers_child_with_no_signal_blocked() {
    let env = Env::new();
    let (supervisor, _) = env.host_supervisor();
    let script = "cat /proc/self/status > status\necho $PPID > parent\nwhile [ ! -e go ]; do sleep 0.02; done\n";
    supervisor.start(ID, env.job(ID, script, &[]), nothing).await.expect("start");
    let dir = env.job_dir(ID);
    let job_parent = wait_line(&dir.file("parent")).await;
    // One spawn per job: no supervisor process of its own in between.
    let worker = supervisor_pid(&env.state_dir(), WORKER_PID);
    assert_eq!(job_parent, worker.to_string());
    assert_eq!(parent(job_pid(&dir)), Some(worker));
    let status = fs::read_to_string(dir.file("status")).expect("status");
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).expect("a status field");
        u64::from_str_radix(line.split_whitespace().nth(1).expect("a value"), 16).expect("hex")
    };
    assert_eq!(field("SigBlk:"), 0, "the job starts with signals blocked");
    assert_eq!(field("SigIgn:") & (1 << (13 - 1)), 0, "the job starts with SIGPIPE ignored");
    fs::write(dir.file("go"), "").expect("go");
    assert_eq!(wait_terminal(&dir).await.status, JobStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_launched_many_times_at_once_starts_once() {
    let env = Env::new();
    let (supervisor, _) = env.host_supervisor();
    let supervisor = Arc::new(supervisor);
    let plan = env.job(ID, "echo run >> runs\nwhile [ ! -e go ]; do sleep 0.02; done\n", &[]);
    let launches: Vec<_> = (0..8)
        .map(|_| {
            let (supervisor, plan) = (supervisor.clone(), plan.clone());
            tokio::spawn(async move { supervisor.start(ID, plan, nothing).await })
        })
        .collect();
    let mut pids = HashSet::new();
    for launch in launches {
        let (pid, status) = launch.await.expect("task").expect("start");
        assert_eq!(status, JobStatus::Running);
        pids.insert(pid.expect("every answer names the job's pid"));
    }
    assert_eq!(pids.len(), 1, "the launches name different processes: {pids:?}");

    let dir = env.job_dir(ID);
    wait_file(&dir.file("runs")).await;
    fs::write(dir.file("go"), "").expect("go");
    assert_eq!(wait_terminal(&dir).await.status, JobStatus::Succeeded);
    let (pid, status) = supervisor.start(ID, plan, nothing).await.expect("a launch after the end");
    assert_eq!((pid.map(|p| p as i32), status), (Some(job_pid(&dir)), JobStatus::Succeeded));
    assert_eq!(fs::read_to_string(dir.file("runs")).expect("runs"), "run\n", "the job ran more than once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launches_racing_across_engines_and_supervisors_start_each_job_once() {
    let env = Env::new();
    // Two engines on one data directory share its supervisor; a third,
    // with a data directory of its own, has another one over the same
    // work directory.
    let (first, _) = env.host_supervisor();
    let (second, _) = env.host_supervisor();
    let other_state = env.root.path().join("other-state");
    let (third, _) = env.host_supervisor_in(&other_state);
    // Both supervisors running from the start.
    for (n, engine) in [&first, &third].into_iter().enumerate() {
        let own = id(290 + n as u32);
        engine.start(&own, env.job(&own, "exit 0\n", &[]), nothing).await.expect("start");
    }
    for n in 0..20 {
        let id = id(300 + n);
        let plan = env.job(&id, "echo run >> runs\n", &[]);
        let (a, b, c) = tokio::join!(
            first.start(&id, plan.clone(), nothing),
            second.start(&id, plan.clone(), nothing),
            third.start(&id, plan, nothing),
        );
        let pids: HashSet<_> = [a, b, c].into_iter().map(|r| r.expect("start").0).collect();
        assert_eq!(pids.len(), 1, "job {n}: {pids:?}");
        let dir = env.job_dir(&id);
        assert_eq!(wait_terminal(&dir).await.status, JobStatus::Succeeded);
        assert_eq!(fs::read_to_string(dir.file("runs")).expect("runs"), "run\n", "job {n} ran more than once");
    }
    assert_ne!(supervisor_pid(&env.state_dir(), KEEPER_PID), supervisor_pid(&other_state, KEEPER_PID));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_is_known_from_its_told_end_once_as_its_directory_tells_it() {
    let env = Env::new();
    let (supervisor, hints) = env.host_supervisor();
    supervisor.start(ID, env.job(ID, "exit 0\n", &[]), nothing).await.expect("start");
    hints.expect_hint(ID, DEADLINE).await;

    let known = supervisor.known_status(ID).expect("a success told with its record is known");
    let read = status::observe(&env.job_dir(ID)).expect("status").report;
    assert_eq!(read.status, JobStatus::Succeeded, "{:?}", read.info);
    assert_eq!(json!(known), json!(read), "the known report is the one the directory gives");
    assert!(supervisor.known_status(ID).is_none(), "a known report is given once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_after_a_cancel_was_asked_is_not_known_but_read_as_killed() {
    let env = Env::new();
    let (supervisor, hints) = env.host_supervisor();
    let dir = start_held(&env, &supervisor, 0).await;
    // Marked as another edpd's cancel would, which this engine cannot know
    // of; the job then exits 0 by itself before any signal.
    fs::write(dir.file(layout::CANCEL_REQUESTED), b"").expect("cancel mark");
    fs::write(dir.file("go"), b"").expect("go");
    hints.expect_hint(ID, DEADLINE).await;

    assert!(supervisor.known_status(ID).is_none(), "a report made despite the cancel's mark");
    let report = supervisor.observe(ID, &dir).await.expect("status");
    assert_eq!(report.status, JobStatus::Killed, "{:?}", report.info);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_end_of_many_jobs_is_told() {
    let env = Env::new();
    let (supervisor, hints) = env.host_supervisor();
    let supervisor = Arc::new(supervisor);
    let ids: Vec<String> = (0..200).map(|n| id(1000 + n)).collect();
    let launches: Vec<_> = ids
        .iter()
        .map(|id| {
            let (supervisor, plan, id) = (supervisor.clone(), env.job(id, "exit 0\n", &[]), id.clone());
            tokio::spawn(async move { supervisor.start(&id, plan, nothing).await })
        })
        .collect();
    for launch in launches {
        launch.await.expect("task").expect("start");
    }
    for id in &ids {
        hints.expect_hint(id, DEADLINE).await;
        let report = supervisor.observe(id, &env.job_dir(id)).await.expect("status");
        assert_eq!(report.status, JobStatus::Succeeded, "{id}: {:?}", report.info);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_leaves_its_jobs_to_the_keeper_which_records_their_exits() {
    let env = Env::new();
    let (supervisor, hints) = env.host_supervisor();
    let dir = start_held(&env, &supervisor, 7).await;
    let state = env.state_dir();
    let (keeper, worker) = (supervisor_pid(&state, KEEPER_PID), supervisor_pid(&state, WORKER_PID));

    kill(worker);
    wait_gone(worker).await;
    let job = job_pid(&dir);
    assert_eq!(parent(job), Some(keeper), "the job is the keeper's now");
    assert_eq!(supervisor.observe(ID, &dir).await.expect("status").status, JobStatus::Running);
    fs::write(dir.file("go"), "").expect("go");
    hints.expect_hint(ID, DEADLINE).await;
    let report = supervisor.observe(ID, &dir).await.expect("status");
    assert_eq!(report.status, JobStatus::Failed, "{:?}", report.info);
    assert_eq!(report.return_code, Some(7), "{:?}", report.info);

    // Another worker took over: launches go on, under the same keeper.
    let next = id(2);
    let (_, status) = supervisor.start(&next, env.job(&next, "exit 0\n", &[]), nothing).await.expect("start");
    assert_eq!(status, JobStatus::Running);
    assert_eq!(wait_terminal(&env.job_dir(&next)).await.status, JobStatus::Succeeded);
    assert_ne!(supervisor_pid(&state, WORKER_PID), worker);
    assert_eq!(supervisor_pid(&state, KEEPER_PID), keeper);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_outlives_its_whole_supervisor_and_ends_failed_with_its_exit_status_lost() {
    let env = Env::new();
    let (supervisor, hints) = env.host_supervisor();
    let dir = start_held(&env, &supervisor, 7).await;
    let state = env.state_dir();
    let (keeper, worker) = (supervisor_pid(&state, KEEPER_PID), supervisor_pid(&state, WORKER_PID));

    kill(keeper);
    kill(worker);
    wait_gone(worker).await;
    wait_gone(keeper).await;
    // The job runs on, nobody's child but init's.
    let job = job_pid(&dir);
    assert!(parent(job).is_some_and(|p| p != worker && p != keeper));
    assert_eq!(supervisor.observe(ID, &dir).await.expect("status").status, JobStatus::Running);
    // The engine started another supervisor, which watches the job.
    let start = Instant::now();
    while layout::read_pid(&state, KEEPER_PID).ok().flatten().is_none_or(|p| p == keeper) {
        assert!(start.elapsed() < DEADLINE, "no new supervisor");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fs::write(dir.file("go"), "").expect("go");
    hints.expect_hint(ID, DEADLINE).await;
    let report = supervisor.observe(ID, &dir).await.expect("status");
    assert_eq!(report.status, JobStatus::Failed, "{:?}", report.info);
    assert_eq!(report.return_code, None);
    let reason = report.info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("exit status is lost"), "{reason}");

    let next = id(2);
    supervisor.start(&next, env.job(&next, "exit 0\n", &[]), nothing).await.expect("a launch after");
    assert_eq!(wait_terminal(&env.job_dir(&next)).await.status, JobStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_jobs_children_grandchildren_and_orphans() {
    let env = Env::new();
    let (supervisor, hints) = env.host_supervisor();
    // A child with a grandchild of its own, and an orphan whose parent
    // exited at once.
    let script = "sh -c 'sleep 600 & echo $! > grandchild; wait' &\n\
                  sh -c 'sleep 600 & echo $! > orphan'\n\
                  echo started > started\nwait\n";
    supervisor.start(ID, env.job(ID, script, &[]), nothing).await.expect("start");
    let dir = env.job_dir(ID);
    wait_file(&dir.file("started")).await;
    wait_file(&dir.file("grandchild")).await;
    let pgid = job_pid(&dir);
    let orphan: i32 = fs::read_to_string(dir.file("orphan")).expect("orphan").trim().parse().expect("pid");
    let worker = supervisor_pid(&env.state_dir(), WORKER_PID);
    let start = Instant::now();
    while parent(orphan) != Some(worker) {
        assert!(start.elapsed() < DEADLINE, "the orphan is not the worker's: {:?}", parent(orphan));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(group_members(pgid).len() >= 4, "{:?}", group_members(pgid));

    let asked = Instant::now();
    cancel::cancel(&dir, Duration::from_secs(2)).await.expect("cancel");
    assert!(asked.elapsed() < Duration::from_secs(5), "cancel took {:?}", asked.elapsed());
    let report = supervisor.observe(ID, &dir).await.expect("status");
    assert_eq!(report.status, JobStatus::Killed, "{:?}", report.info);
    assert_eq!(group_members(pgid), Vec::<i32>::new(), "processes of the job are left");
    hints.expect_hint(ID, DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_job_leaves_in_its_group_is_ended_after_it() {
    let env = Env::new();
    let (supervisor, _) = env.host_supervisor();
    supervisor.start(ID, env.job(ID, "sleep 600 &\necho $! > bg\n", &[]), nothing).await.expect("start");
    let dir = env.job_dir(ID);
    assert_eq!(wait_terminal(&dir).await.status, JobStatus::Succeeded);
    let pgid = job_pid(&dir);
    let start = Instant::now();
    while !group_members(pgid).is_empty() {
        assert!(start.elapsed() < DEADLINE, "the job's leftovers still run: {:?}", group_members(pgid));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_before_it_is_claimed_never_runs() {
    let env = Env::new();
    let (supervisor, _) = env.host_supervisor();
    let dir = env.job_dir(ID);
    fs::create_dir_all(dir.path()).expect("dir");
    // As a cancel of a job whose launch is in flight: nothing to signal.
    cancel::cancel(&dir, Duration::from_secs(2)).await.expect("cancel");
    let (_, status) = supervisor.start(ID, env.job(ID, "echo ran > ran\n", &[]), nothing).await.expect("start");
    assert_eq!(status, JobStatus::Killed);
    assert!(!dir.has("ran"), "the job ran");
    assert_eq!(
        dir.exit_record().expect("exit").and_then(|e| e.error).as_deref(),
        Some("cancelled before the job started")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_that_cannot_start_fail_with_127_and_say_why() {
    let env = Env::new();
    let (supervisor, _) = env.host_supervisor();
    for (n, program) in ["/nonexistent/bin/java", "edp-no-such-program"].into_iter().enumerate() {
        let id = id(400 + n as u32);
        let mut plan = env.job(&id, "", &[]);
        plan.spec.argv = vec![program.into(), "-version".into()];
        let (_, status) = supervisor.start(&id, plan, nothing).await.expect("start");
        assert_eq!(status, JobStatus::Failed);
        let dir = env.job_dir(&id);
        let report = supervisor.observe(&id, &dir).await.expect("status");
        assert_eq!(report.return_code, Some(127));
        let reason = report.info["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(&format!("cannot start `{program}`")), "{reason}");
        assert!(read_stream(&dir, "stderr", 1 << 20).contains(program));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_ended_with_no_engine_connected_is_read_by_the_next() {
    let env = Env::new();
    let (first, _) = env.host_supervisor();
    let dir = start_held(&env, &first, 5).await;
    // As edpd killed: its connections close; the supervisor keeps the job.
    drop(first);
    fs::write(dir.file("go"), "").expect("go");
    // The exit record whole, not just its file (written after it is made).
    wait_terminal(&dir).await;

    let (second, _) = env.host_supervisor();
    let report = second.observe(ID, &dir).await.expect("status");
    assert_eq!((report.status, report.return_code), (JobStatus::Failed, Some(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_supervisor_exits_and_the_next_launch_starts_another() {
    let env = Env::new();
    let (supervisor, _) = env.host_supervisor();
    supervisor.start(ID, env.job(ID, "exit 0\n", &[]), nothing).await.expect("start");
    assert_eq!(wait_terminal(&env.job_dir(ID)).await.status, JobStatus::Succeeded);
    let state = env.state_dir();
    let (keeper, worker) = (supervisor_pid(&state, KEEPER_PID), supervisor_pid(&state, WORKER_PID));
    drop(supervisor);
    wait_gone(worker).await;
    wait_gone(keeper).await;
    assert!(!state.join(edp_supervised::protocol::SOCKET).exists());

    let (supervisor, _) = env.host_supervisor();
    let next = id(2);
    supervisor.start(&next, env.job(&next, "exit 0\n", &[]), nothing).await.expect("start");
    assert_eq!(wait_terminal(&env.job_dir(&next)).await.status, JobStatus::Succeeded);
    assert_ne!(supervisor_pid(&state, KEEPER_PID), keeper);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_directory_too_long_for_a_socket_address_works() {
    let env = Env::new();
    let state = env.root.path().join("a-rather-long-directory-name-".repeat(4)).join("state");
    assert!(state.join("sock").as_os_str().len() > 108);
    let (supervisor, hints) = env.host_supervisor_in(&state);
    supervisor.start(ID, env.job(ID, "exit 0\n", &[]), nothing).await.expect("start");
    hints.expect_hint(ID, DEADLINE).await;
    assert_eq!(wait_terminal(&env.job_dir(ID)).await.status, JobStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_file_removed_from_under_a_live_supervisor_is_made_again() {
    let env = Env::new();
    let (first, _) = env.host_supervisor();
    let dir = start_held(&env, &first, 0).await;
    let state = env.state_dir();
    let keeper = supervisor_pid(&state, KEEPER_PID);
    // As by a cleaner of temporary files: the supervisor keeps the lock
    // and its job, and no engine could reach it through the path.
    fs::remove_file(state.join(edp_supervised::protocol::SOCKET)).expect("remove the socket file");

    // An engine that connects now (edpd restarted, say) is served by it.
    let (second, _) = env.host_supervisor();
    let next = id(2);
    second.start(&next, env.job(&next, "exit 0\n", &[]), nothing).await.expect("a launch after the removal");
    assert_eq!(wait_terminal(&env.job_dir(&next)).await.status, JobStatus::Succeeded);
    assert_eq!(supervisor_pid(&state, KEEPER_PID), keeper, "the same supervisor");
    fs::write(dir.file("go"), "").expect("go");
    assert_eq!(wait_terminal(&dir).await.status, JobStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_whose_directory_was_replaced_leaves_the_new_ones_supervisor_alone() {
    let env = Env::new();
    let (first, _) = env.host_supervisor();
    let dir = start_held(&env, &first, 0).await;
    let state = env.state_dir();
    let old_keeper = supervisor_pid(&state, KEEPER_PID);
    // The state directory goes (an operator's `rm -rf`, here moved aside)
    // while its supervisor still runs a job; the next launch makes it again
    // with a supervisor of its own.
    fs::rename(&state, env.root.path().join("state.old")).expect("move the state directory away");
    let (second, _) = env.host_supervisor();
    let next = id(2);
    second.start(&next, env.job(&next, "exit 0\n", &[]), nothing).await.expect("a launch in the new directory");
    let new_keeper = supervisor_pid(&state, KEEPER_PID);
    assert_ne!(new_keeper, old_keeper);

    // The old one ends its job and exits; what it leaves in the path it
    // once had is the new supervisor's, and stays.
    drop(first);
    fs::write(dir.file("go"), "").expect("go");
    wait_gone(old_keeper).await;
    assert_eq!(supervisor_pid(&state, KEEPER_PID), new_keeper);
    let (third, _) = env.host_supervisor();
    let last = id(3);
    third.start(&last, env.job(&last, "exit 0\n", &[]), nothing).await.expect("a launch after the old one left");
    assert_eq!(wait_terminal(&env.job_dir(&last)).await.status, JobStatus::Succeeded);
}
