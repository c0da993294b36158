//! A job's status, read from its directory alone, so that it is the same
//! whichever edpd process (or none) saw the job start.

use std::time::Duration;

use edp_engine_api::plugin::Result;
use edp_engine_api::wire::{JobStatus, StatusReport};
use rustix::process::{Pid, test_kill_process};
use serde_json::json;

use crate::jobdir::JobDir;
use crate::layout::{self, ExitRecord, JobPid};

/// How much of stderr a failed job's report carries.
const STDERR_TAIL: u64 = 1024;

/// What [`observe`] saw.
pub struct Observed {
    pub report: StatusReport,
    /// A per-job supervisor's pid while it runs, for exit notifications
    /// ([`crate::Watcher::watch_pid`]).
    pub live_supervisor: Option<i32>,
}

/// The job's status: RUNNING while it runs, then what the exit record
/// says (KILLED once a cancel was asked for); FAILED, with the tail of
/// stderr, for any job that did not succeed. NotFound when the directory is
/// gone. Blocking: a few small reads, no process is started.
pub fn observe(dir: &JobDir) -> Result<Observed> {
    dir.require()?;
    if let Some(exit) = dir.exit_record()? {
        return Ok(ended(dir, &exit));
    }
    if dir.per_job() {
        return per_job(dir);
    }
    // The host supervisor records the exit before it reaps the job, so a
    // job whose process is gone has its record, unless no supervisor was
    // its parent when it ended.
    let running = |pid: Option<i32>| {
        let mut report = StatusReport::new(JobStatus::Running);
        if let Some(pid) = pid {
            report.info.insert("job_pid".into(), json!(pid));
        }
        Ok(Observed { report, live_supervisor: None })
    };
    let reason = match dir.job_pid()? {
        JobPid::Pid(pid) if process_exists(pid) => return running(Some(pid)),
        JobPid::Pid(_) => {
            "the job ended while no supervisor was its parent (the supervisor was killed): its exit status is lost"
        }
        JobPid::Claimed if claimed_recently(dir) => return running(None),
        JobPid::Claimed => "the supervisor died while starting the job: whether it started is unknown",
        JobPid::Absent => "the job was never started",
    };
    // The exit may have been recorded between our two looks.
    if let Some(exit) = dir.exit_record()? {
        return Ok(ended(dir, &exit));
    }
    Ok(failed(dir, reason))
}

/// A job under a per-job supervisor: RUNNING while the supervisor holds
/// the lock.
fn per_job(dir: &JobDir) -> Result<Observed> {
    if dir.locked()? {
        let mut report = StatusReport::new(JobStatus::Running);
        if let Some(pid) = dir.pid(layout::JOB_PID)? {
            report.info.insert("job_pid".into(), json!(pid));
        }
        let live_supervisor = dir.pid(layout::SUPERVISOR_PID)?;
        return Ok(Observed { report, live_supervisor });
    }
    // The supervisor may have written the record between our two looks.
    if let Some(exit) = dir.exit_record()? {
        return Ok(ended(dir, &exit));
    }
    let reason = if dir.started() {
        "the supervisor exited without recording an exit status"
    } else {
        "the job was never started"
    };
    Ok(failed(dir, reason))
}

fn failed(dir: &JobDir, reason: &str) -> Observed {
    let mut report = StatusReport::new(JobStatus::Failed).with_reason(reason);
    add_stderr_tail(dir, &mut report);
    Observed { report, live_supervisor: None }
}

/// Whether process `pid` exists (a zombie does: its exit is not recorded
/// yet). One that is not ours to signal is another user's, so not the job.
fn process_exists(pid: i32) -> bool {
    Pid::from_raw(pid).is_some_and(|pid| test_kill_process(pid).is_ok())
}

/// How long a claim without a pid is taken for a launch in progress: the
/// supervisor writes the pid microseconds after the claim.
const CLAIM_GRACE: Duration = Duration::from_secs(10);

fn claimed_recently(dir: &JobDir) -> bool {
    let modified = std::fs::metadata(dir.file(layout::JOB_PID)).and_then(|m| m.modified());
    modified.is_ok_and(|at| at.elapsed().unwrap_or_default() < CLAIM_GRACE)
}

fn ended(dir: &JobDir, exit: &ExitRecord) -> Observed {
    let mut report = of_exit(exit, Cancel::of(dir));
    if report.status != JobStatus::Succeeded {
        add_stderr_tail(dir, &mut report);
    }
    Observed { report, live_supervisor: None }
}

/// Whether a cancel of the job was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    Asked,
    NotAsked,
}

impl Cancel {
    /// As the job's directory tells.
    pub fn of(dir: &JobDir) -> Self {
        if dir.has(layout::CANCEL_REQUESTED) { Cancel::Asked } else { Cancel::NotAsked }
    }
}

/// The report of a job that ended as `exit` says, but for the tail of its
/// stderr, which a job that did not succeed also gets from its directory.
pub fn of_exit(exit: &ExitRecord, cancel: Cancel) -> StatusReport {
    let return_code = exit.code.or(exit.signal.map(|n| 128 + n));
    let (status, reason) = match (exit, cancel) {
        (_, Cancel::Asked) => (JobStatus::Killed, "cancelled".to_owned()),
        (ExitRecord { error: Some(error), .. }, Cancel::NotAsked) => (JobStatus::Failed, error.clone()),
        (ExitRecord { code: Some(0), .. }, Cancel::NotAsked) => (JobStatus::Succeeded, String::new()),
        (ExitRecord { code: Some(code), .. }, Cancel::NotAsked) => (JobStatus::Failed, format!("exit code {code}")),
        (ExitRecord { signal: Some(n), .. }, Cancel::NotAsked) => {
            (JobStatus::Failed, format!("killed by signal {n}{}", signal_name(*n)))
        }
        _ => (JobStatus::Failed, "the job ended in an unknown way".to_owned()),
    };
    let mut report = StatusReport::new(status);
    report.return_code = return_code;
    if !reason.is_empty() {
        report = report.with_reason(reason);
    }
    if let Some(code) = exit.code {
        report.info.insert("exit_code".into(), json!(code));
    }
    if let Some(signal) = exit.signal {
        report.info.insert("signal".into(), json!(signal));
    }
    report.info.insert("ended_at_ms".into(), json!(exit.ended_at_ms));
    report
}

fn add_stderr_tail(dir: &JobDir, report: &mut StatusReport) {
    if let Some(tail) = dir.stderr_tail(STDERR_TAIL) {
        report.info.insert("stderr_tail".into(), json!(tail));
    }
}

fn signal_name(n: i32) -> &'static str {
    match n {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        3 => " (SIGQUIT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        15 => " (SIGTERM)",
        _ => "",
    }
}
