//! Exit notifications for jobs under per-job supervisors: one thread waits
//! on the pidfds of the supervisors it is given and tells the host when one
//! exits, so edpd polls that job at once instead of at its next interval.
//! (The host supervisor tells its engines itself: [`crate::hosted`].)
//!
//! It reaps the supervisors its engine spawned (their `Child`), and only
//! those: never `waitpid(-1)`, since other engines in the process have
//! children too. Supervisors found alive after an edpd restart are watched
//! through a pidfd alone, which works for processes that are not ours.

use std::collections::HashSet;
use std::os::fd::{AsFd as _, OwnedFd};
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use edp_engine_api::plugin::HostHandle;
use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd, poll};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open};

/// One per engine; dropping it ends the thread once the children it still
/// has are reaped.
pub struct Watcher {
    shared: Arc<Shared>,
}

struct Shared {
    /// Wakes the thread to take new entries or to stop.
    wake: OwnedFd,
    state: Mutex<State>,
    host: HostHandle,
    /// Of the threads that wait for one child each: `edp-<engine>-wait`.
    wait_thread: String,
}

#[derive(Default)]
struct State {
    incoming: Vec<Watched>,
    /// Execution ids watched now, so each supervisor is watched once.
    ids: HashSet<String>,
    stopping: bool,
}

struct Watched {
    execution_id: String,
    pidfd: OwnedFd,
    /// Present for our own children, which must be reaped.
    child: Option<Child>,
}

impl Watcher {
    /// Starts the thread, `edp-<engine_id>-watch`, which tells `host` of
    /// each exit. (Linux shows thread names up to 15 bytes.)
    pub fn start(host: HostHandle, engine_id: &str) -> std::io::Result<Self> {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let wait_thread = format!("edp-{engine_id}-wait");
        let shared = Arc::new(Shared { wake, state: Mutex::default(), host, wait_thread });
        let thread_shared = shared.clone();
        thread::Builder::new().name(format!("edp-{engine_id}-watch")).spawn(move || run(&thread_shared))?;
        Ok(Self { shared })
    }

    /// Watches (and will reap) a supervisor the engine spawned.
    pub fn watch_child(&self, execution_id: &str, child: Child) {
        let pidfd = Pid::from_raw(child.id().try_into().unwrap_or(0)).map(|pid| pidfd_open(pid, PidfdFlags::empty()));
        match pidfd {
            Some(Ok(pidfd)) => self.add(Watched { execution_id: execution_id.to_owned(), pidfd, child: Some(child) }),
            // No pidfd (a kernel before 5.3, or out of descriptors): a
            // thread of its own waits for this one.
            _ => wait_in_thread(&self.shared, execution_id.to_owned(), child),
        }
    }

    /// Watches a supervisor that is not our child (one found running after
    /// an edpd restart: [`crate::Observed::live_supervisor`]), unless it is
    /// watched already.
    pub fn watch_pid(&self, execution_id: &str, pid: i32) {
        if self.state().ids.contains(execution_id) {
            return;
        }
        let Some(pid) = (pid > 1).then(|| Pid::from_raw(pid)).flatten() else {
            return;
        };
        match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(pidfd) => self.add(Watched { execution_id: execution_id.to_owned(), pidfd, child: None }),
            // Gone already (the host's next poll sees it) or no pidfds:
            // polling alone then tells the end.
            Err(e) => tracing::debug!("cannot watch supervisor {pid:?} of {execution_id}: {e}"),
        }
    }

    fn add(&self, watched: Watched) {
        let mut state = self.state();
        if state.ids.insert(watched.execution_id.clone()) || watched.child.is_some() {
            state.incoming.push(watched);
        }
        drop(state);
        self.shared.wake();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }
}

impl Drop for Watcher {
    /// The thread ends once the children it still has are reaped.
    fn drop(&mut self) {
        self.state().stopping = true;
        self.shared.wake();
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock; if something did, the
        // sets are still consistent enough to go on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        // Fails only when the counter is saturated, which wakes it anyway.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

fn run(shared: &Shared) {
    let mut watched: Vec<Watched> = Vec::new();
    loop {
        {
            let mut state = shared.state();
            watched.append(&mut state.incoming);
            if state.stopping {
                // Others' supervisors need no reaping; ours would stay zombies.
                watched.retain(|w| w.child.is_some());
                if watched.is_empty() {
                    return;
                }
            }
        }
        let ready = match wait(&shared.wake, &watched) {
            Ok(ready) => ready,
            Err(e) => {
                tracing::error!("exit watcher: poll failed: {e}; waiting with a thread per job");
                for w in watched {
                    if let Some(child) = w.child {
                        wait_in_thread(shared, w.execution_id, child);
                    }
                }
                return;
            }
        };
        // Back to front, so removing one leaves the indices still to visit.
        for i in ready.into_iter().rev() {
            let mut done = watched.swap_remove(i);
            if let Some(child) = &mut done.child {
                let _ = child.wait();
            }
            shared.state().ids.remove(&done.execution_id);
            shared.host.status_hint(&done.execution_id);
        }
    }
}

fn wait_in_thread(shared: &Shared, execution_id: String, mut child: Child) {
    let host = shared.host.clone();
    let spawned = thread::Builder::new().name(shared.wait_thread.clone()).spawn(move || {
        let _ = child.wait();
        host.status_hint(&execution_id);
    });
    // The child then stays a zombie; its job still ends and polls see it.
    if let Err(e) = spawned {
        tracing::warn!("no thread to wait for a supervisor: {e}");
    }
}

/// Blocks until the wake fd or some pidfds are readable; returns the
/// indices in `watched` of those that are, in ascending order.
fn wait(wake: &OwnedFd, watched: &[Watched]) -> rustix::io::Result<Vec<usize>> {
    let mut fds = Vec::with_capacity(watched.len() + 1);
    fds.push(PollFd::new(wake, PollFlags::IN));
    fds.extend(watched.iter().map(|w| PollFd::from_borrowed_fd(w.pidfd.as_fd(), PollFlags::IN)));
    match poll(&mut fds, None) {
        Ok(_) | Err(Errno::INTR) => {}
        Err(e) => return Err(e),
    }
    if !fds[0].revents().is_empty() {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(wake, &mut counter);
    }
    Ok(fds[1..].iter().enumerate().filter(|(_, fd)| !fd.revents().is_empty()).map(|(i, _)| i).collect())
}
