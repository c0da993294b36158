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

/// The first line a job writes to `path`, once it is whole, waited for up
/// to `deadline`: a shell's `echo x >> file` creates the file before it
/// writes, so the file's existence alone says nothing of its content (a job
/// killed in between leaves it empty).
pub async fn wait_line(path: &Path, deadline: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Some((line, _)) = std::fs::read_to_string(path).unwrap_or_default().split_once('\n') {
            return line.to_owned();
        }
        assert!(start.elapsed() < deadline, "{} never held a whole line", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
