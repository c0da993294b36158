//! The on-disk format of a job directory: the contract between the
//! engines and `edp-supervisor`, which may be of different builds after an
//! upgrade, so fields are only ever added, with defaults.
//!
//! ```text
//! <work_dir>/<execution_id>/
//!   <staged files>      the job's binaries (mains, libs, ...), as the engine names them
//!   job.json            JobSpec: argv, env additions, cwd
//!   stdout, stderr      the job's (and the supervisor's) output, appended
//!   job.pid             the job's pid, which is also its process group id;
//!                       created empty (exclusively) as the claim that starts it
//!                       at most once, the pid written right after the spawn
//!   cancel_requested    written by a cancel before it signals
//!   exit                ExitRecord, created exclusively (one writer ever) once
//!                       the job's process has ended, before it is reaped
//!   lock                only under a per-job supervisor: flock taken by the
//!                       launcher, handed to the supervisor as its stdin, held
//!                       until the supervisor exits
//!   supervisor.pid      only under a per-job supervisor: its pid
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const JOB_SPEC: &str = "job.json";
pub const STDOUT: &str = "stdout";
pub const STDERR: &str = "stderr";
pub const LOCK: &str = "lock";
pub const SUPERVISOR_PID: &str = "supervisor.pid";
pub const JOB_PID: &str = "job.pid";
pub const CANCEL_REQUESTED: &str = "cancel_requested";
pub const EXIT: &str = "exit";

/// Names a staged file may not take: staging it would overwrite one of
/// ours (temporary files are `<name>.tmp`).
pub const RESERVED: &[&str] = &[
    JOB_SPEC,
    STDOUT,
    STDERR,
    LOCK,
    SUPERVISOR_PID,
    JOB_PID,
    CANCEL_REQUESTED,
    EXIT,
    "supervisor.pid.tmp",
    "job.pid.tmp",
    "exit.tmp",
];

/// What the supervisor starts, from [`JOB_SPEC`]. Nothing is added for the
/// job: an engine puts in `env` every variable its jobs rely on.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The program (looked up on `PATH` unless it holds a `/`) and its
    /// arguments, passed as they are: no shell is involved.
    pub argv: Vec<String>,
    /// Added to the environment the supervisor inherited from edpd.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The job's working directory; usually the job directory itself.
    pub cwd: PathBuf,
}

/// How the job ended, as the supervisor records it in [`EXIT`]. Exactly
/// one of `code`, `signal` tells how, unless the program never ran, which
/// `error` then explains (with `code` 127 when the program could not be
/// executed, as a shell reports it).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub ended_at_ms: u64,
}

/// Writes `name` in `dir` so that readers see either nothing or all of it:
/// a half-written `job.pid` read by a cancel would signal the wrong group.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, dir.join(name))
}

/// Writes the exit record unless one exists (`false` then): whoever reaps
/// the job writes it, and only once, even when the keeper and a dying
/// worker both could. One write of a small file: a reader sees it empty
/// (being written, see [`crate::JobDir::exit_record`]) or whole.
pub fn write_exit_once(dir: &Path, record: &ExitRecord) -> io::Result<bool> {
    use std::io::Write as _;
    let json = serde_json::to_vec(record).map_err(io::Error::other)?;
    match fs::OpenOptions::new().write(true).create_new(true).open(dir.join(EXIT)) {
        Ok(mut file) => file.write_all(&json).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// What `job.pid` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPid {
    /// Nobody ever claimed the job: it never started.
    Absent,
    /// Claimed and being started (or its starter died in that instant).
    Claimed,
    Pid(i32),
}

/// `job.pid`, told apart from a claim without a pid yet.
pub fn read_job_pid(dir: &Path) -> io::Result<JobPid> {
    match fs::read_to_string(dir.join(JOB_PID)) {
        Ok(text) if text.trim().is_empty() => Ok(JobPid::Claimed),
        Ok(text) => text
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|pid| *pid > 1)
            .map(JobPid::Pid)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{JOB_PID} holds no pid"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(JobPid::Absent),
        Err(e) => Err(e),
    }
}

/// A pid file's value; `None` when the file does not exist.
pub fn read_pid(dir: &Path, name: &str) -> io::Result<Option<i32>> {
    match fs::read_to_string(dir.join(name)) {
        Ok(text) => text
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|pid| *pid > 1)
            .map(Some)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{name} holds no pid"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Milliseconds since the Unix epoch, as [`ExitRecord::ended_at_ms`] has them.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
