//! A test host and helpers to run jobs through edp-supervised as an engine
//! does, with the real supervisor and real processes.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edp_engine_api::plugin::testing::TestHost;
use edp_engine_api::wire::StatusReport;
use edp_supervised::{
    HostSupervisor, JobDir, JobPlan, JobSpec, Launch, LaunchPlan, Watcher, launch, layout, logs, status,
};

pub const SUPERVISOR: &str = env!("CARGO_BIN_EXE_edp-supervisor");
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A watcher over a host that records its hints.
pub fn watcher() -> (Watcher, TestHost) {
    let hints = TestHost::new();
    let watcher = Watcher::start(hints.handle(), "test").expect("watcher starts");
    (watcher, hints)
}

/// A work directory for job directories. Dropping it kills whatever job is
/// left, so a failed test leaves no processes behind.
pub struct Env {
    pub root: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self { root: tempfile::tempdir().expect("temp dir") }
    }

    pub fn work_dir(&self) -> PathBuf {
        self.root.path().join("jobs")
    }

    pub fn job_dir(&self, id: &str) -> JobDir {
        JobDir::in_work_dir(&self.work_dir(), id).expect("a valid execution id")
    }

    /// Writes a file outside the job directory, to be staged into it.
    pub fn source(&self, name: &str, content: &str) -> PathBuf {
        let dir = self.root.path().join("sources");
        fs::create_dir_all(&dir).expect("sources dir");
        let path = dir.join(name);
        fs::write(&path, content).expect("write source");
        path
    }

    /// The host supervisor's state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// An engine's side of the host supervisor over this work directory (a
    /// second call is a second engine on the same data directory).
    pub fn host_supervisor(&self) -> (HostSupervisor, TestHost) {
        self.host_supervisor_in(&self.state_dir())
    }

    pub fn host_supervisor_in(&self, state_dir: &Path) -> (HostSupervisor, TestHost) {
        let hints = TestHost::new();
        (HostSupervisor::new(hints.handle(), "test", SUPERVISOR.into(), state_dir.to_owned()), hints)
    }

    /// `/bin/sh job.sh ARGS...` for the host supervisor.
    pub fn job(&self, id: &str, script: &str, args: &[&str]) -> JobPlan {
        let LaunchPlan { job_dir, spec, files, .. } = self.shell(id, script, args);
        JobPlan { job_dir, spec, files }
    }

    /// `/bin/sh job.sh ARGS...` in the job directory, the script staged.
    pub fn shell(&self, id: &str, script: &str, args: &[&str]) -> LaunchPlan {
        let job_dir = self.job_dir(id).path().to_owned();
        let argv = ["/bin/sh".to_owned(), job_dir.join("job.sh").display().to_string()]
            .into_iter()
            .chain(args.iter().map(|a| (*a).to_owned()))
            .collect();
        let source = self.source(&format!("{id}.sh"), script);
        LaunchPlan {
            spec: JobSpec { argv, env: Default::default(), cwd: job_dir.clone() },
            job_dir,
            files: vec![("job.sh".into(), source)],
            supervisor: SUPERVISOR.into(),
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        edp_supervised::testing::kill_unfinished_jobs(&self.work_dir());
    }
}

/// The pid a supervisor process of `state_dir` recorded
/// (`protocol::KEEPER_PID`, `protocol::WORKER_PID`).
pub fn supervisor_pid(state_dir: &Path, which: &str) -> i32 {
    layout::read_pid(state_dir, which).expect("pid file").expect("a pid")
}

/// Waits until process `pid` is gone (reaped, not just ended).
pub async fn wait_gone(pid: i32) {
    let start = Instant::now();
    let pid = rustix::process::Pid::from_raw(pid).expect("a pid");
    while rustix::process::test_kill_process(pid).is_ok() {
        assert!(start.elapsed() < DEADLINE, "process {pid:?} is still there");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The processes whose process group is `pgid` (zombies included).
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...: comm may hold spaces and parens.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            members.push(pid);
        }
    }
    members
}

/// Launches, and hands a started supervisor to `watcher` under `id`.
pub fn start(plan: &LaunchPlan, watcher: &Watcher, id: &str) -> bool {
    match launch::launch(plan).expect("launch") {
        Launch::Started(child) => {
            watcher.watch_child(id, child);
            true
        }
        Launch::Existing => false,
    }
}

/// Polls until the job's status is terminal.
pub async fn wait_terminal(dir: &JobDir) -> StatusReport {
    let start = Instant::now();
    loop {
        let report = status::observe(dir).expect("status").report;
        if report.status.is_terminal() {
            return report;
        }
        assert!(start.elapsed() < DEADLINE, "job {} still {:?}", dir.path().display(), report.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `path` exists (a job's own signal that it got somewhere).
pub async fn wait_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < DEADLINE, "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first line a job writes to `path`, once it is whole.
pub async fn wait_line(path: &Path) -> String {
    edp_supervised::testing::wait_line(path, DEADLINE).await
}

/// The whole of a stream, read in chunks of `limit` bytes, checking that
/// the offsets chain.
pub fn read_stream(dir: &JobDir, stream: &str, limit: u64) -> String {
    let mut offset = 0;
    let mut text = String::new();
    loop {
        let chunk = logs::read(dir, Some(stream), offset, limit).expect("logs");
        assert_eq!(chunk.offset, offset);
        assert_eq!(chunk.next_offset, offset + chunk.data.len() as u64, "valid UTF-8 moves by its length");
        // Over the limit only to hold one whole character.
        assert!(chunk.data.len() as u64 <= limit.max(4));
        text.push_str(&chunk.data);
        offset = chunk.next_offset;
        if chunk.complete {
            return text;
        }
        assert!(!chunk.data.is_empty(), "an incomplete read returned nothing at {offset}");
    }
}
