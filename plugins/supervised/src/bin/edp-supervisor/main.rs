//! `edp-supervisor`: runs edp's jobs on the edpd host so that they outlive
//! edpd, and records how each ended.
//!
//! - `edp-supervisor --serve <state dir>`: the host supervisor, one per
//!   engine data directory, started by the engine on first use (`serve`).
//!   Two processes: the keeper (`keeper`), a subreaper whose only work is
//!   to restart the worker and to inherit its jobs if it dies, and the
//!   worker (`worker`), which takes launches over a Unix socket, spawns
//!   each job directly (one posix_spawn, like the job's own recipe), reaps
//!   it, records its exit and tells the engines.
//! - `edp-supervisor <jobdir>`: a per-job supervisor (`per_job`), for the
//!   engines that keep one (spark-submit jobs).
//!
//! Modules: `serve` (the start), `keeper`, `worker` (and its `reaper`,
//! `foreign` watcher of jobs it did not start), `spawn` (a job's process),
//! `leftovers` (what a job leaves in its group), `outbox` (the keeper's
//! pipes), `per_job`.

mod foreign;
mod keeper;
mod leftovers;
mod outbox;
mod per_job;
mod reaper;
mod serve;
mod socket;
mod spawn;
mod worker;

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::process::ExitCode;

use edp_supervised::layout::ExitRecord;
use rustix::process::{Pid, test_kill_process, test_kill_process_group};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match args.as_slice() {
        [flag, dir] if flag == "--serve" => serve::main(Path::new(dir)),
        [dir] if dir != "--serve" => per_job::main(Path::new(dir)),
        _ => {
            eprintln!("usage: edp-supervisor --serve <state dir> | edp-supervisor <jobdir>");
            ExitCode::from(2)
        }
    }
}

/// One line in the supervisor's log (its stderr): UTC time, pid, message.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log_line(&format!($($arg)*))
    };
}
pub(crate) use log;

pub(crate) fn log_line(message: &str) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    eprintln!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z edp-supervisor[{}]: {message}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        std::process::id()
    );
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A child that ended, as `waitid` tells it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended {
    pub pid: i32,
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Ended {
    pub fn record(self) -> ExitRecord {
        ExitRecord { code: self.code, signal: self.signal, error: None, ended_at_ms: edp_supervised::layout::now_ms() }
    }
}

/// Which children [`wait_exited`] looks at.
#[derive(Clone, Copy)]
pub(crate) enum Child {
    Any,
    One(i32),
}

/// How [`wait_exited`] waits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Blocks until a child has ended.
    Block,
    /// Returns `None` at once when none has.
    Poll,
}

/// Whether the child is reaped or left a zombie to be looked at again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reap {
    Yes,
    /// `WNOWAIT`: the zombie keeps its pid (and so its process group)
    /// until the exit is recorded.
    Not,
}

/// `waitid(WEXITED)`, with the pid and how it ended (realtime signals
/// included, which some wrappers refuse).
pub(crate) fn wait_exited(child: Child, wait: Wait, reap: Reap) -> io::Result<Option<Ended>> {
    let (idtype, id) = match child {
        Child::Any => (libc::P_ALL, 0),
        Child::One(pid) => (libc::P_PID, pid as libc::id_t),
    };
    let mut options = libc::WEXITED;
    if wait == Wait::Poll {
        options |= libc::WNOHANG;
    }
    if reap == Reap::Not {
        options |= libc::WNOWAIT;
    }
    // SAFETY: siginfo_t is plain data, valid zeroed; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: a plain syscall on a valid pointer.
    if unsafe { libc::waitid(idtype, id, &mut info, options) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid filled in a SIGCHLD siginfo (or left it zeroed).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let (code, signal) = match info.si_code {
        libc::CLD_KILLED | libc::CLD_DUMPED => (None, Some(status)),
        _ => (Some(status), None),
    };
    Ok(Some(Ended { pid, code, signal }))
}

/// Whether process `pid` exists (a zombie does).
pub(crate) fn process_exists(pid: i32) -> bool {
    Pid::from_raw(pid).is_some_and(|p| test_kill_process(p).is_ok())
}

/// Whether any process of group `pgid` exists (a zombie leader does).
pub(crate) fn group_exists(pgid: i32) -> bool {
    pgid > 1 && Pid::from_raw(pgid).is_some_and(|p| test_kill_process_group(p).is_ok())
}

/// Sends `signal` to group `pgid`, never to group 1 or our own.
pub(crate) fn signal_group(pgid: i32, signal: rustix::process::Signal) {
    if let Some(group) = Pid::from_raw(pgid).filter(|_| pgid > 1)
        && Some(group) != Some(rustix::process::getpgrp())
    {
        let _ = rustix::process::kill_process_group(group, signal);
    }
}
