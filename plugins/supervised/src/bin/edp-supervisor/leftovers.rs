//! What a job leaves in its process group when its own process ends gets
//! SIGTERM at once (sent while the job's zombie still holds the group's
//! id, so it cannot reach anyone else), and SIGKILL after a grace period,
//! as a batch system ends a finished container.

use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::{group_exists, process_exists, signal_group};

/// How long leftovers of a finished job get between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Leftovers {
    due: Vec<(Instant, i32)>,
}

impl Leftovers {
    /// Call right after the job's process is reaped, its group having had
    /// SIGTERM: remembers the group for SIGKILL if anything is left (and
    /// says whether it did).
    pub fn after_reap(&mut self, pgid: i32) -> bool {
        let left = group_exists(pgid);
        if left {
            self.due.push((Instant::now() + GRACE, pgid));
        }
        left
    }

    pub fn next(&self) -> Option<Instant> {
        self.due.iter().map(|(at, _)| *at).min()
    }

    /// SIGKILL to the groups whose grace has passed. A group whose id now
    /// names a live process was taken over by a new group leader after our
    /// job's pid was freed: that one is not ours to kill.
    pub fn kill_due(&mut self, now: Instant) {
        self.due.retain(|&(at, pgid)| {
            if at > now {
                return true;
            }
            if !process_exists(pgid) && group_exists(pgid) {
                signal_group(pgid, Signal::KILL);
            }
            false
        });
    }
}
