//! What an engine and the host supervisor (`edp-supervisor --serve`) say to
//! each other: one JSON object a line, over a Unix socket in the
//! supervisor's state directory. Both sides may be of different builds
//! after an upgrade, so messages only ever gain optional fields, and the
//! hello names the version.
//!
//! ```text
//! <state dir>/            (mode 0700: whoever can connect can run jobs)
//!   lock                  flock: held by the running supervisor (keeper and worker)
//!   sock                  the socket engines connect to
//!   keeper.pid            the keeper's pid
//!   worker.pid            the current worker's pid
//!   log                   the supervisor's own messages (appended)
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::{ExitRecord, JobSpec};

/// Bumped when a message changes meaning; new optional fields do not.
pub const VERSION: u32 = 1;

pub const LOCK: &str = "lock";
pub const SOCKET: &str = "sock";
pub const KEEPER_PID: &str = "keeper.pid";
pub const WORKER_PID: &str = "worker.pid";
pub const LOG: &str = "log";

/// Engine → supervisor.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// First on every connection. `env` is the base environment of the
    /// jobs launched through it (the engine's process environment), so jobs
    /// see edpd's environment as it is now, not as it was when the
    /// supervisor started. `events`: send [`Message::Ended`] here.
    Hello { version: u32, env: BTreeMap<String, String>, events: bool },
    /// Start the job in `dir` unless it was ever started: answered by
    /// [`Message::Launched`] with the same `tag`.
    Launch { tag: u64, execution_id: String, dir: PathBuf, spec: JobSpec },
    /// Send [`Message::Ended`] when this job ends (at once if it has), also
    /// for a job this supervisor did not start. No answer.
    Watch { execution_id: String, dir: PathBuf },
}

/// Supervisor → engine.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    Hello {
        version: u32,
        keeper: u32,
        worker: u32,
    },
    Launched {
        tag: u64,
        outcome: Outcome,
    },
    /// The job's exit is recorded in its directory (or, for a job nobody
    /// waited for, its process is gone). `exit`: the record, when the
    /// sender is the one that wrote it (the reaper of the job), so that the
    /// engine knows the end without reading it back.
    Ended {
        execution_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit: Option<ExitRecord>,
    },
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Started now: its pid, which is also its process group.
    Started { pid: u32 },
    /// Started before (or cancelled before it could start, or its program
    /// could not be started: the exit record says): nothing was started
    /// now. The directory tells the rest.
    Existing,
    /// Nothing was started, and the directory is as it was.
    Failed { error: String },
}

/// Keeper ↔ worker, over two pipes. The worker tells the keeper each job it
/// starts and reaps, so that the keeper, its parent and a subreaper, can
/// record the exits of the jobs it inherits if the worker dies.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
pub enum ToKeeper {
    Started { pid: i32, execution_id: String, dir: PathBuf },
    Reaped { pid: i32 },
}

/// Keeper → worker: an inherited job ended (its exit is recorded).
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
pub enum ToWorker {
    Ended { pid: i32, execution_id: String },
}

/// One message as a line.
pub fn line<T: Serialize>(message: &T) -> Vec<u8> {
    // Our own enums of strings and numbers always serialise.
    let mut bytes = serde_json::to_vec(message).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Connects to the supervisor's socket in `state_dir`.
pub fn connect(state_dir: &Path) -> io::Result<UnixStream> {
    with_socket_path(state_dir, |path| UnixStream::connect(path))
}

/// Binds the supervisor's socket in `state_dir` (which must not exist).
pub fn bind(state_dir: &Path) -> io::Result<UnixListener> {
    with_socket_path(state_dir, |path| UnixListener::bind(path))
}

/// A socket address holds about 100 bytes of path: longer ones are reached
/// through the state directory's descriptor in `/proc/self/fd`.
fn with_socket_path<T>(state_dir: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    let path = state_dir.join(SOCKET);
    if path.as_os_str().len() < 100 {
        return f(&path);
    }
    let dir = File::open(state_dir)?;
    f(Path::new(&format!("/proc/self/fd/{}/{SOCKET}", dir.as_raw_fd())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_told_by_a_supervisor_built_before_exit_records_were_sent_still_reads() {
        // A running supervisor keeps serving engines of newer builds until
        // it exits idle.
        let old: Message = serde_json::from_str(r#"{"ended":{"execution_id":"a"}}"#).expect("an older end");
        assert!(matches!(old, Message::Ended { ref execution_id, exit: None } if execution_id == "a"), "{old:?}");

        let exit = ExitRecord { code: Some(0), ended_at_ms: 7, ..Default::default() };
        let line = line(&Message::Ended { execution_id: "b".into(), exit: Some(exit.clone()) });
        let new: Message = serde_json::from_slice(&line).expect("an end with its record");
        assert!(matches!(new, Message::Ended { exit: Some(ref told), .. } if *told == exit), "{new:?}");
    }
}
