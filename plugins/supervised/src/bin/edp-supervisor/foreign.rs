//! Jobs this worker did not start and its keeper did not inherit: those of
//! a supervisor killed with its keeper, or of a per-job supervisor. Their
//! end is watched through a pidfd (the job's process, or the per-job
//! supervisor's, which exits after recording), so that engines still hear
//! of it. Rare, so a plain poll over the pidfds will do.

use std::collections::HashSet;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use edp_supervised::layout;
use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open};

use crate::worker::{Worker, lock};
use crate::{process_exists, signal_group};

/// A job's process that ended is given this long to be reaped by whoever
/// is its parent (and its exit recorded) before the end is told anyway.
const SETTLE: Duration = Duration::from_secs(2);

pub struct Foreign {
    wake: OwnedFd,
    incoming: Mutex<Vec<Watched>>,
    ids: Mutex<HashSet<String>>,
}

struct Watched {
    execution_id: String,
    dir: PathBuf,
    pid: i32,
    pidfd: OwnedFd,
    per_job: bool,
}

impl Foreign {
    pub fn new() -> std::io::Result<Self> {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Self { wake, incoming: Mutex::default(), ids: Mutex::default() })
    }

    /// Watches `pid` for the job, once per job.
    pub fn watch(&self, worker: &Worker, execution_id: String, dir: PathBuf, pid: i32, per_job: bool) {
        if !lock(&self.ids).insert(execution_id.clone()) {
            return;
        }
        match Pid::from_raw(pid).map(|p| pidfd_open(p, PidfdFlags::empty())) {
            Some(Ok(pidfd)) => {
                lock(&self.incoming).push(Watched { execution_id, dir, pid, pidfd, per_job });
                let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
            }
            // Gone already.
            _ => {
                lock(&self.ids).remove(&execution_id);
                worker.ended(execution_id);
            }
        }
    }

    pub fn run(&self, worker: &Worker) {
        let mut watched: Vec<Watched> = Vec::new();
        let mut settling: Vec<(Watched, Instant)> = Vec::new();
        let tick = Timespec { tv_sec: 0, tv_nsec: 20_000_000 };
        loop {
            watched.append(&mut lock(&self.incoming));
            let mut fds = Vec::with_capacity(watched.len() + 1);
            fds.push(PollFd::new(&self.wake, PollFlags::IN));
            fds.extend(watched.iter().map(|w| PollFd::from_borrowed_fd(w.pidfd.as_fd(), PollFlags::IN)));
            match poll(&mut fds, if settling.is_empty() { None } else { Some(&tick) }) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
            let ready: Vec<usize> =
                fds[1..].iter().enumerate().filter(|(_, fd)| !fd.revents().is_empty()).map(|(i, _)| i).collect();
            drop(fds);
            let mut counter = [0u8; 8];
            let _ = rustix::io::read(&self.wake, &mut counter);
            for i in ready.into_iter().rev() {
                settling.push((watched.swap_remove(i), Instant::now() + SETTLE));
            }
            settling.retain(|(w, deadline)| {
                let recorded = w.dir.join(layout::EXIT).exists();
                let gone = !process_exists(w.pid);
                if !recorded && !gone && Instant::now() < *deadline {
                    return true;
                }
                if !recorded && gone && !w.per_job {
                    // Ended with nobody to record it: what it left in its
                    // group goes as a finished job's leftovers would.
                    signal_group(w.pid, Signal::TERM);
                    worker.after_reap(w.pid);
                }
                lock(&self.ids).remove(&w.execution_id);
                worker.ended(w.execution_id.clone());
                false
            });
        }
    }
}
