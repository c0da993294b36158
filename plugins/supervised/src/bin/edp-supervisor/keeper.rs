//! The keeper: the worker's parent, a child subreaper, single-threaded (it
//! forks). It holds the listening socket and the state directory's lock,
//! starts the worker, and hears from it each job it starts and reaps.
//!
//! If the worker dies (a crash, a kill), its jobs keep running and become
//! the keeper's children, since the kernel hands orphans to the nearest
//! subreaper above them. The keeper then records their exits as the worker
//! would have (exit record before reaping, leftovers ended), starts another
//! worker that knows them, and tells it of each end so that engines hear
//! of it. Only when the keeper dies too do running jobs lose the parent
//! that can read their exit status: see ARCHITECTURE.md.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use edp_supervised::layout::write_exit_once;
use edp_supervised::protocol::{self, ToKeeper, ToWorker};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{ForkResult, fork};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};

use crate::leftovers::Leftovers;
use crate::outbox::Outbox;
use crate::{Child, Reap, Wait, log, signal_group, wait_exited, worker};

/// A job the worker started: what the keeper needs to record its exit.
#[derive(Debug, Clone)]
pub struct Entry {
    pub execution_id: String,
    pub dir: PathBuf,
}

/// A worker that lived this long is restarted at once; one that died
/// sooner, after a growing pause (a crash loop must not spin).
const HEALTHY: Duration = Duration::from_secs(10);
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// The pipes hold this much before the sender has to keep messages itself.
const PIPE_SIZE: usize = 1 << 20;

pub fn run(state_dir: PathBuf, lock: File, listener: UnixListener) -> ! {
    let code = match Keeper::new(state_dir, lock, listener) {
        Ok(keeper) => keeper.run(),
        Err(e) => {
            log!("the keeper cannot start: {e}");
            1
        }
    };
    std::process::exit(code)
}

struct Keeper {
    state_dir: PathBuf,
    /// Held (shared with the worker) for as long as we live.
    _lock: File,
    /// What the socket path should name, for each worker to keep so.
    bound: crate::socket::Bound,
    listener: UnixListener,
    sigchld: SignalFd,
    /// Worker → keeper: read here, the write end kept for the next worker.
    inbox: OwnedFd,
    inbox_write: OwnedFd,
    inbox_partial: Vec<u8>,
    /// Keeper → worker: written here, the read end kept for the next worker.
    outbox: Outbox,
    outbox_read: OwnedFd,
    /// The worker's jobs, as it told them.
    jobs: HashMap<i32, Entry>,
    /// Our children since a worker died.
    adopted: HashMap<i32, Entry>,
    leftovers: Leftovers,
    worker: Option<(i32, Instant)>,
    restart_at: Option<Instant>,
    pause: Duration,
}

impl Keeper {
    fn new(state_dir: PathBuf, lock: File, listener: UnixListener) -> io::Result<Self> {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block()?;
        let sigchld = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        let (inbox, inbox_write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let _ = rustix::pipe::fcntl_setpipe_size(&inbox, PIPE_SIZE);
        let (outbox_read, outbox_write) = pipe_with(PipeFlags::CLOEXEC)?;
        let _ = rustix::pipe::fcntl_setpipe_size(&outbox_write, PIPE_SIZE);
        rustix::fs::fcntl_setfl(&outbox_write, rustix::fs::OFlags::NONBLOCK)?;
        fs::write(state_dir.join(protocol::KEEPER_PID), format!("{}\n", std::process::id()))?;
        let bound = crate::socket::Bound::new(&state_dir, &lock)?;
        Ok(Self {
            state_dir,
            _lock: lock,
            bound,
            listener,
            sigchld,
            inbox,
            inbox_write,
            inbox_partial: Vec::new(),
            outbox: Outbox::new(outbox_write, "worker"),
            outbox_read,
            jobs: HashMap::new(),
            adopted: HashMap::new(),
            leftovers: Leftovers::default(),
            worker: None,
            restart_at: Some(Instant::now()),
            pause: Duration::ZERO,
        })
    }

    fn run(mut self) -> i32 {
        log!("supervisor started in {}", self.state_dir.display());
        loop {
            let now = Instant::now();
            if self.restart_at.is_some_and(|at| at <= now) {
                self.start_worker();
            }
            let wake = [self.leftovers.next(), self.restart_at].into_iter().flatten().min();
            let timeout = wake.map(|at| {
                let d = at.saturating_duration_since(now) + Duration::from_millis(1);
                Timespec { tv_sec: d.as_secs() as _, tv_nsec: d.subsec_nanos() as _ }
            });
            let out = if self.outbox.has_pending() { PollFlags::OUT } else { PollFlags::empty() };
            let mut fds = [
                PollFd::new(&self.sigchld, PollFlags::IN),
                PollFd::new(&self.inbox, PollFlags::IN),
                PollFd::from_borrowed_fd(self.outbox.fd().as_fd(), out),
            ];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => log!("poll failed: {e}"),
            }
            self.read_inbox();
            self.outbox.flush();
            while let Ok(Some(_)) = self.sigchld.read_signal() {}
            if let Some(code) = self.reap() {
                return code;
            }
            self.leftovers.kill_due(Instant::now());
        }
    }

    /// What the worker said: jobs started and reaped.
    fn read_inbox(&mut self) {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match rustix::io::read(&self.inbox, &mut buf) {
                Ok(0) | Err(Errno::AGAIN) => break,
                Ok(n) => self.inbox_partial.extend_from_slice(&buf[..n]),
                Err(Errno::INTR) => {}
                Err(e) => {
                    log!("cannot read the worker's messages: {e}");
                    break;
                }
            }
        }
        let Some(end) = self.inbox_partial.iter().rposition(|b| *b == b'\n') else { return };
        let complete: Vec<u8> = self.inbox_partial.drain(..=end).collect();
        for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice(line) {
                Ok(ToKeeper::Started { pid, execution_id, dir }) => {
                    self.jobs.insert(pid, Entry { execution_id, dir });
                }
                Ok(ToKeeper::Reaped { pid }) => {
                    self.jobs.remove(&pid);
                }
                Err(e) => log!("unreadable message from the worker: {e}"),
            }
        }
    }

    /// Reaps what ended; `Some(code)` when the keeper is to exit.
    fn reap(&mut self) -> Option<i32> {
        loop {
            let ended = match wait_exited(Child::Any, Wait::Poll, Reap::Not) {
                Ok(Some(ended)) => ended,
                Ok(None) => return None,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return None,
                Err(e) => {
                    log!("waitid failed: {e}");
                    return None;
                }
            };
            let pid = ended.pid;
            if self.worker.is_some_and(|(worker, _)| worker == pid) {
                let _ = wait_exited(Child::One(pid), Wait::Poll, Reap::Yes);
                if let Some(code) = self.worker_ended(ended) {
                    return Some(code);
                }
            } else if let Some(entry) = self.adopted.remove(&pid) {
                if let Err(e) = write_exit_once(&entry.dir, &ended.record()) {
                    log!("cannot record the exit of job {} in {}: {e}", entry.execution_id, entry.dir.display());
                }
                signal_group(pid, rustix::process::Signal::TERM);
                let _ = wait_exited(Child::One(pid), Wait::Poll, Reap::Yes);
                self.leftovers.after_reap(pid);
                self.outbox.send(&ToWorker::Ended { pid, execution_id: entry.execution_id });
            } else {
                // An orphan of some job: nothing to record.
                let _ = wait_exited(Child::One(pid), Wait::Poll, Reap::Yes);
            }
        }
    }

    fn worker_ended(&mut self, ended: crate::Ended) -> Option<i32> {
        self.read_inbox();
        let lived = self.worker.take().map_or(Duration::ZERO, |(_, at)| at.elapsed());
        // Its jobs that still run (or wait as zombies) are our children now.
        for (pid, entry) in self.jobs.drain() {
            if wait_exited(Child::One(pid), Wait::Poll, Reap::Not).is_ok() {
                self.adopted.insert(pid, entry);
            }
        }
        let idle = ended.code == Some(0);
        if idle && self.adopted.is_empty() && self.leftovers.next().is_none() {
            log!("no jobs and no engines: the supervisor exits");
            // A replaced directory's pid files are its own supervisor's.
            if self.bound.owns_directory() {
                let _ = fs::remove_file(self.state_dir.join(protocol::WORKER_PID));
                let _ = fs::remove_file(self.state_dir.join(protocol::KEEPER_PID));
            }
            return Some(0);
        }
        let how = match (ended.code, ended.signal) {
            (_, Some(signal)) => format!("was killed by signal {signal}"),
            (Some(code), _) => format!("exited with {code}"),
            _ => "ended".to_owned(),
        };
        self.pause =
            if lived >= HEALTHY { Duration::ZERO } else { (self.pause * 2).clamp(Duration::from_secs(1), MAX_PAUSE) };
        log!(
            "worker {} {how} after {lived:.1?}; {} running jobs are the keeper's now; another worker starts in {:?}",
            ended.pid,
            self.adopted.len(),
            self.pause
        );
        self.restart_at = Some(Instant::now() + self.pause);
        None
    }

    fn start_worker(&mut self) {
        self.restart_at = None;
        // SAFETY: the keeper has one thread; the child runs the worker.
        match unsafe { fork() } {
            Ok(ForkResult::Parent { child }) => {
                let pid = child.as_raw();
                self.worker = Some((pid, Instant::now()));
                let _ = fs::write(self.state_dir.join(protocol::WORKER_PID), format!("{pid}\n"));
            }
            Ok(ForkResult::Child) => {
                // The keeper's ends are not the worker's: closed, so that
                // each side sees the other go. The keeper's values are
                // never dropped here: the worker exits the process.
                for fd in [self.inbox.as_raw_fd(), self.outbox.fd().as_raw_fd(), self.sigchld.as_raw_fd()] {
                    let _ = nix::unistd::close(fd);
                }
                let setup = (|| {
                    Ok::<_, io::Error>(worker::Setup {
                        listener: self.listener.try_clone()?,
                        bound: self.bound.clone(),
                        to_keeper: self.inbox_write.try_clone()?,
                        from_keeper: self.outbox_read.try_clone()?,
                        adopted: self.adopted.clone(),
                    })
                })();
                match setup {
                    Ok(setup) => worker::run(setup),
                    Err(e) => {
                        log!("the worker cannot start: {e}");
                        std::process::exit(1)
                    }
                }
            }
            Err(e) => {
                log!("cannot fork a worker: {e}");
                self.restart_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }
}
