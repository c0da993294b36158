//! Test support for engines built on this crate.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::layout::{self, JobPid};

/// How long a job that has just started may take to record its pid.
const PID_WAIT: Duration = Duration::from_secs(1);

/// Kills the process group of every job in `work_dir` without an exit
/// record: what a test leaves running when it fails midway. A job that has
/// just started may not have recorded its pid yet (no `job.pid`, or the
/// host supervisor's empty claim): each is given [`PID_WAIT`] to.
pub fn kill_unfinished_jobs(work_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(work_dir) else { return };
    for entry in entries.flatten() {
        let dir = entry.path();
        if dir.join(layout::EXIT).exists() {
            continue;
        }
        let start = Instant::now();
        let pid = loop {
            match layout::read_job_pid(&dir) {
                Ok(JobPid::Pid(pid)) => break Some(pid),
                _ if start.elapsed() < PID_WAIT => std::thread::sleep(Duration::from_millis(10)),
                _ => break None,
            }
        };
        if let Some(group) = pid.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}
