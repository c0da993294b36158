//! The on-disk format of a job directory: the contract between the
//! engines and `edp-supervisor`, which may be of different builds after an
//! upgrade, so fields are only ever added, with defaults.
//!
//! ```text
//! <work_dir>/<execution_id>/
//!   <staged files>      the job's binaries (mains, libs, ...), as the engine names them
//!   job.json            JobSpec: argv, env additions, cwd
//!   stdout, stderr      the job's (and the supervisor's) output, appended
//!   lock                flock: taken by the launcher, handed to the supervisor
//!                       as its stdin, held until the supervisor exits
//!   supervisor.pid      the supervisor's pid, written first thing
//!   job.pid             the job's pid, which is also its process group id
//!   cancel_requested    written by a cancel before it signals
//!   exit                ExitRecord, written last
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
