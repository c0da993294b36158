//! Cancelling a job: SIGTERM to its process group, SIGKILL after the grace
//! period, until no process of the group is left.

use std::time::Duration;

use edp_engine_api::plugin::{Error, Result};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, getpgrp, kill_process_group, test_kill_process_group};
use tokio::time::{Instant, sleep};

use crate::jobdir::{JobDir, io_error};
use crate::layout::{self, JobPid};

const TICK: Duration = Duration::from_millis(50);
/// A supervisor that has the job records its pid within milliseconds.
const JOB_PID_WAIT: Duration = Duration::from_secs(2);
/// SIGKILL cannot be caught, so this only covers the kernel's own delay.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// The supervisor writes the exit record right after the job's leader
/// dies (the host supervisor before it even reaps it).
const EXIT_RECORD_WAIT: Duration = Duration::from_secs(2);

/// Asks for the kill and waits until it happened (or the bounds passed):
/// SIGTERM to the job's process group, SIGKILL after `grace`. The caller
/// reads the status afterwards. A job already ended is left as it is.
pub async fn cancel(dir: &JobDir, grace: Duration) -> Result<()> {
    dir.require()?;
    if dir.has(layout::EXIT) {
        return Ok(());
    }
    // Written first: a supervisor that has not started the job yet then
    // never does, and the status reads KILLED rather than "killed by signal".
    let marker = dir.file(layout::CANCEL_REQUESTED);
    std::fs::write(&marker, b"").map_err(|e| io_error(&marker, e))?;

    let Some(pgid) = job_pid(dir).await? else {
        return Ok(());
    };
    if !signal(pgid, Signal::TERM)? {
        return wait_for_exit_record(dir).await;
    }
    if !wait_until_gone(pgid, grace).await {
        signal(pgid, Signal::KILL)?;
        if !wait_until_gone(pgid, KILL_WAIT).await {
            return Err(Error::transient(format!("process group {pgid} survived SIGKILL for {KILL_WAIT:?}")));
        }
    }
    wait_for_exit_record(dir).await
}

/// `None` when there is nothing to signal: the job ended, or will never
/// start. A job claimed by the host supervisor gets its pid within
/// microseconds; one never claimed will not be now that the cancel is
/// written (the supervisor looks for it after claiming). A per-job
/// supervisor writes it within milliseconds, unless it exited first.
async fn job_pid(dir: &JobDir) -> Result<Option<i32>> {
    let deadline = Instant::now() + JOB_PID_WAIT;
    loop {
        match dir.job_pid()? {
            JobPid::Pid(pid) => return Ok(Some(pid)),
            JobPid::Absent if !dir.per_job() => return Ok(None),
            JobPid::Absent | JobPid::Claimed => {}
        }
        if dir.has(layout::EXIT) || (dir.per_job() && !dir.locked()?) || Instant::now() >= deadline {
            return Ok(None);
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `sig` to the group; false when the group no longer exists.
fn signal(pgid: i32, sig: Signal) -> Result<bool> {
    let group = group(pgid)?;
    match kill_process_group(group, sig) {
        Ok(()) => Ok(true),
        Err(Errno::SRCH) => Ok(false),
        Err(e) => Err(Error::fatal(format!("cannot signal process group {pgid}: {e}"))),
    }
}

async fn wait_until_gone(pgid: i32, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if !group_exists(pgid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(TICK).await;
    }
}

/// Whether any process of group `pgid` is left (false for the groups
/// this refuses to signal).
pub fn group_exists(pgid: i32) -> bool {
    group(pgid).is_ok_and(|g| test_kill_process_group(g) != Err(Errno::SRCH))
}

/// Guards against the pids for which `kill(-pgid)` means something else:
/// 1 (`kill(-1)` signals every process we may signal) and our own group.
fn group(pgid: i32) -> Result<Pid> {
    (pgid > 1)
        .then(|| Pid::from_raw(pgid))
        .flatten()
        .filter(|pid| *pid != getpgrp())
        .ok_or_else(|| Error::fatal(format!("refusing to signal process group {pgid}")))
}

async fn wait_for_exit_record(dir: &JobDir) -> Result<()> {
    let deadline = Instant::now() + EXIT_RECORD_WAIT;
    while !dir.has(layout::EXIT) && (!dir.per_job() || dir.locked()?) && Instant::now() < deadline {
        sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}
