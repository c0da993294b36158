//! The worker's reaper: waits for any child to end, records a job's exit
//! while its zombie still holds its pid and process group (so a job whose
//! process is gone always has its record, and the SIGTERM to its leftovers
//! reaches nobody else), then reaps it and tells the engines. Children
//! that are not jobs are orphans of jobs, reaped at once (the worker is a
//! child subreaper), so a cancelled job's group empties at once.

use std::time::Duration;

use edp_supervised::layout::write_exit_once;
use rustix::process::Signal;

use crate::worker::Worker;
use crate::{Child, Reap, Wait, log, signal_group, wait_exited};

pub fn run(worker: &Worker) {
    loop {
        let ended = match wait_exited(Child::Any, Wait::Block, Reap::Not) {
            Ok(Some(ended)) => ended,
            Ok(None) => continue,
            Err(e) => match e.raw_os_error() {
                Some(libc::ECHILD) => {
                    worker.wait_for_children();
                    continue;
                }
                Some(libc::EINTR) => continue,
                _ => {
                    log!("waitid failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        let pid = ended.pid;
        let Some(job) = worker.own_job(pid) else {
            let _ = wait_exited(Child::One(pid), Wait::Poll, Reap::Yes);
            continue;
        };
        let record = ended.record();
        let written = match write_exit_once(&job.dir, &record) {
            Ok(written) => written,
            Err(e) => {
                log!("cannot record the exit of job {} in {}: {e}", job.execution_id, job.dir.display());
                false
            }
        };
        signal_group(pid, Signal::TERM);
        let _ = wait_exited(Child::One(pid), Wait::Poll, Reap::Yes);
        worker.reaped(pid, job.execution_id, written.then_some(record));
    }
}
