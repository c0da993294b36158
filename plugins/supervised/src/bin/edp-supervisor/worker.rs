//! The worker: takes the engines' connections, starts jobs, reaps them,
//! records their exits and tells the engines.
//!
//! Threads: the main one accepts connections and notices when there is
//! nothing left to do (no engine connected, no job running: the supervisor
//! exits, and the next engine to need one starts it again); one per
//! connection reads requests and starts jobs (a spawn waits for the job's
//! exec, so connections start jobs side by side); the reaper (`reaper`);
//! one sends exit notifications to the engines; one reads the keeper's;
//! one ends leftovers after their grace; one watches jobs this worker did
//! not start (`foreign`).
//!
//! At most once: a job starts only after `job.pid` is created exclusively
//! (the claim), so neither a repeated launch nor a second supervisor on the
//! same work directory starts it again. A cancel written before the claim
//! is seen after it, and the job is not started.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use edp_supervised::layout::{self, ExitRecord, JobPid, JobSpec, now_ms, write_exit_once};
use edp_supervised::protocol::{self, Message, Outcome, Request, ToKeeper, ToWorker};
use nix::sys::signal::SigSet;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::Signal;

use crate::foreign::Foreign;
use crate::keeper::Entry;
use crate::leftovers::Leftovers;
use crate::outbox::Outbox;
use crate::socket::{Bound, Check};
use crate::spawn::{self, NotStarted};
use crate::{log, reaper, signal_group};

/// With no engine connected and no job running for this long, the
/// supervisor exits.
const IDLE: Duration = Duration::from_secs(2);
/// An engine that does not read what we send for this long is dropped.
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// What the keeper hands to a new worker.
pub struct Setup {
    pub listener: UnixListener,
    /// What the listener's path should name (`crate::socket`).
    pub bound: Bound,
    pub to_keeper: OwnedFd,
    pub from_keeper: OwnedFd,
    /// Jobs a previous worker started, now the keeper's children.
    pub adopted: HashMap<i32, Entry>,
}

pub struct Worker {
    jobs: Mutex<Jobs>,
    /// Held shared by each launch from before its spawn until the job is in
    /// `jobs`, and exclusively by the reaper before it takes an unknown
    /// child for an orphan: a job that ends at once is still recorded.
    spawning: RwLock<()>,
    /// Set when a job is spawned, for a reaper that found no children.
    spawned: (Mutex<bool>, Condvar),
    events: Mutex<Sender<Message>>,
    subscribers: Mutex<Vec<Subscriber>>,
    keeper: Mutex<Outbox>,
    leftovers: (Mutex<Leftovers>, Condvar),
    foreign: Foreign,
    connections: AtomicUsize,
    next_connection: AtomicU64,
    keeper_pid: u32,
}

#[derive(Default)]
struct Jobs {
    by_pid: HashMap<i32, Job>,
    by_id: HashMap<String, i32>,
}

struct Job {
    entry: Entry,
    /// Ours to reap; else the keeper's, which tells us the end.
    own: bool,
}

struct Subscriber {
    id: u64,
    stream: Arc<Mutex<UnixStream>>,
}

pub fn run(setup: Setup) -> ! {
    // A thread that panicked (the reaper, say) would leave the worker half
    // alive: the whole worker goes instead, and the keeper takes over.
    std::panic::set_hook(Box::new(|info| {
        log!("the worker panicked: {info}");
        std::process::exit(70);
    }));
    // The keeper blocks SIGCHLD for its signalfd; jobs inherit our mask.
    let _ = SigSet::empty().thread_set_mask();
    // Not inherited from the keeper: the orphans of our jobs are ours.
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        log!("cannot become a subreaper ({e}): orphans of jobs go to the keeper");
    }
    let Setup { listener, bound, to_keeper, from_keeper, adopted } = setup;
    let (events, events_rx) = mpsc::channel();
    let worker = match Worker::new(events, to_keeper, adopted) {
        Ok(worker) => Arc::new(worker),
        Err(e) => {
            log!("the worker cannot start: {e}");
            std::process::exit(1)
        }
    };
    if let Err(e) = worker.start_threads(events_rx, from_keeper) {
        log!("the worker cannot start its threads: {e}");
        std::process::exit(1)
    }
    let code = worker.serve(listener, bound);
    std::process::exit(code)
}

impl Worker {
    fn new(events: Sender<Message>, to_keeper: OwnedFd, adopted: HashMap<i32, Entry>) -> io::Result<Self> {
        let mut jobs = Jobs::default();
        for (pid, entry) in adopted {
            jobs.insert(pid, Job { entry, own: false });
        }
        Ok(Self {
            jobs: Mutex::new(jobs),
            spawning: RwLock::new(()),
            spawned: (Mutex::new(false), Condvar::new()),
            events: Mutex::new(events),
            subscribers: Mutex::default(),
            keeper: Mutex::new(Outbox::new(to_keeper, "keeper")),
            leftovers: (Mutex::default(), Condvar::new()),
            foreign: Foreign::new()?,
            connections: AtomicUsize::new(0),
            next_connection: AtomicU64::new(1),
            keeper_pid: rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32),
        })
    }

    fn start_threads(self: &Arc<Self>, events: Receiver<Message>, from_keeper: OwnedFd) -> io::Result<()> {
        let w = self.clone();
        spawn_thread("edp-sup-reaper", move || reaper::run(&w))?;
        let w = self.clone();
        spawn_thread("edp-sup-events", move || w.broadcast(&events))?;
        let w = self.clone();
        spawn_thread("edp-sup-keeper", move || w.hear_keeper(from_keeper))?;
        let w = self.clone();
        spawn_thread("edp-sup-leftover", move || w.end_leftovers())?;
        let w = self.clone();
        spawn_thread("edp-sup-foreign", move || w.foreign.run(&w))
    }

    /// Accepts connections until there is nothing to do; the exit code (0:
    /// idle).
    fn serve(self: &Arc<Self>, mut listener: UnixListener, mut bound: Bound) -> i32 {
        if let Err(e) = listener.set_nonblocking(true) {
            log!("the worker cannot listen: {e}");
            return 1;
        }
        log!("worker started (keeper {})", self.keeper_pid);
        let tick = Timespec { tv_sec: 0, tv_nsec: 250_000_000 };
        let mut idle_since: Option<Instant> = None;
        // Each trouble with the socket path is logged once, not each tick.
        let mut said = false;
        loop {
            match bound.check() {
                Ok(Check::Ours) => said = false,
                Ok(Check::Rebound(rebound)) => {
                    log!("the socket file had gone: listening on a new one");
                    // Whoever connected to the old one before it went.
                    while let Ok((stream, _)) = listener.accept() {
                        self.connected(stream);
                    }
                    listener = rebound;
                    said = false;
                }
                Ok(Check::Orphaned) if !said => {
                    log!("the state directory was replaced: leaving it to its own supervisor");
                    said = true;
                }
                Err(e) if !said => {
                    log!("the socket file had gone and cannot be made again: {e}");
                    said = true;
                }
                Ok(Check::Orphaned) | Err(_) => {}
            }
            let mut fds = [PollFd::new(&listener, PollFlags::IN)];
            let _ = poll(&mut fds, Some(&tick));
            loop {
                match listener.accept() {
                    Ok((stream, _)) => self.connected(stream),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log!("accept failed: {e}");
                        thread::sleep(Duration::from_millis(100));
                        break;
                    }
                }
            }
            if !self.idle() {
                idle_since = None;
                continue;
            }
            if idle_since.get_or_insert_with(Instant::now).elapsed() < IDLE {
                continue;
            }
            // Unreachable once the socket is gone; whoever connected just
            // before is turned away, and starts a supervisor that waits for
            // our lock.
            bound.remove();
            while let Ok((stream, _)) = listener.accept() {
                drop(stream);
            }
            return 0;
        }
    }

    fn idle(&self) -> bool {
        self.connections.load(Ordering::SeqCst) == 0
            && self.jobs().by_pid.is_empty()
            && lock(&self.leftovers.0).next().is_none()
    }

    fn connected(self: &Arc<Self>, stream: UnixStream) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        let w = self.clone();
        let serving = spawn_thread("edp-sup-conn", move || {
            w.converse(stream);
            w.connections.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = serving {
            log!("no thread for a connection: {e}");
            self.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// One engine connection: a hello, then requests until it closes.
    fn converse(&self, stream: UnixStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(WRITE_WAIT));
        let Ok(read_half) = stream.try_clone() else { return };
        let mut reader = BufReader::new(read_half);
        let writer = Arc::new(Mutex::new(stream));
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let Ok(Request::Hello { env, events, .. }) = serde_json::from_str(&line) else {
            log!("a connection did not start with a hello: `{}`", line.trim());
            return;
        };
        let hello = Message::Hello { version: protocol::VERSION, keeper: self.keeper_pid, worker: std::process::id() };
        if write_to(&writer, &protocol::line(&hello)).is_err() {
            return;
        }
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        if events {
            lock(&self.subscribers).push(Subscriber { id, stream: writer.clone() });
        }
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            match serde_json::from_str::<Request>(&line) {
                Ok(Request::Launch { tag, execution_id, dir, spec }) => {
                    let outcome = self.launch(&env, execution_id, dir, &spec);
                    // A launch whose answer is lost is found by the retry.
                    if write_to(&writer, &protocol::line(&Message::Launched { tag, outcome })).is_err() {
                        break;
                    }
                }
                Ok(Request::Watch { execution_id, dir }) => self.watch(execution_id, dir),
                Ok(Request::Hello { .. }) => {}
                Err(e) => log!("unreadable request ({e}): `{}`", line.trim()),
            }
        }
        lock(&self.subscribers).retain(|s| s.id != id);
    }

    /// Starts the job in `dir` unless it was ever claimed.
    fn launch(&self, env: &BTreeMap<String, String>, execution_id: String, dir: PathBuf, spec: &JobSpec) -> Outcome {
        let claim_path = dir.join(layout::JOB_PID);
        let mut claim = match OpenOptions::new().write(true).create_new(true).open(&claim_path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Outcome::Existing,
            Err(e) => return Outcome::Failed { error: format!("cannot claim {}: {e}", claim_path.display()) },
        };
        if dir.join(layout::CANCEL_REQUESTED).exists() {
            not_started(&dir, None, "cancelled before the job started".into());
            return Outcome::Existing;
        }
        let outputs = append(&dir.join(layout::STDOUT)).and_then(|out| Ok((out, append(&dir.join(layout::STDERR))?)));
        let (stdout, stderr) = match outputs {
            Ok(outputs) => outputs,
            Err(e) => {
                not_started(&dir, None, format!("cannot open the job's output files: {e}"));
                return Outcome::Existing;
            }
        };
        let spawning = self.spawning.read().unwrap_or_else(PoisonError::into_inner);
        let pid = match spawn::spawn(env, spec, stdout, stderr) {
            Ok(pid) => pid as i32,
            Err(NotStarted { code, error }) => {
                drop(spawning);
                not_started(&dir, code, error);
                return Outcome::Existing;
            }
        };
        if let Err(e) = claim.write_all(format!("{pid}\n").as_bytes()) {
            // Without its pid nobody could cancel the job: it must not run.
            not_started(&dir, None, format!("cannot write {}: {e}", claim_path.display()));
            signal_group(pid, Signal::KILL);
        }
        let entry = Entry { execution_id: execution_id.clone(), dir: dir.clone() };
        self.jobs().insert(pid, Job { entry, own: true });
        lock(&self.keeper).send(&ToKeeper::Started { pid, execution_id, dir });
        drop(spawning);
        *lock(&self.spawned.0) = true;
        self.spawned.1.notify_one();
        Outcome::Started { pid: pid as u32 }
    }

    /// Tells the engines when this job ends: at once if it has, else when
    /// we (or the keeper) reap it, else when its process goes.
    fn watch(&self, execution_id: String, dir: PathBuf) {
        if self.jobs().by_id.contains_key(&execution_id) {
            return;
        }
        if dir.join(layout::EXIT).exists() {
            return self.ended(execution_id);
        }
        // A per-job supervisor exits after recording: its pid is watched.
        let per_job = dir.join(layout::LOCK).exists();
        let pid = if per_job {
            layout::read_pid(&dir, layout::SUPERVISOR_PID).ok().flatten()
        } else {
            match layout::read_job_pid(&dir) {
                Ok(JobPid::Pid(pid)) => Some(pid),
                _ => None,
            }
        };
        // Without a pid it was never started, or is being started: its
        // launch reports it.
        if let Some(pid) = pid {
            self.foreign.watch(self, execution_id, dir, pid, per_job);
        }
    }

    /// The job's end is recorded (or will never be): tell the engines.
    pub fn ended(&self, execution_id: String) {
        self.tell_end(execution_id, None);
    }

    /// Tells the engines of a job's end, with its exit record when we
    /// wrote it.
    fn tell_end(&self, execution_id: String, exit: Option<ExitRecord>) {
        let _ = lock(&self.events).send(Message::Ended { execution_id, exit });
    }

    /// What the reaper needs to know of a child that ended: the job it is,
    /// if it is one of ours. A child we do not know yet may be a job whose
    /// launch is still registering it: those are waited for.
    pub fn own_job(&self, pid: i32) -> Option<Entry> {
        let find = || self.jobs().by_pid.get(&pid).filter(|job| job.own).map(|job| job.entry.clone());
        find().or_else(|| {
            let _all = self.spawning.write().unwrap_or_else(PoisonError::into_inner);
            find()
        })
    }

    /// The job `pid` was reaped, its exit recorded: `exit` when this
    /// worker's record is the one written.
    pub fn reaped(&self, pid: i32, execution_id: String, exit: Option<ExitRecord>) {
        self.jobs().remove(pid);
        self.after_reap(pid);
        lock(&self.keeper).send(&ToKeeper::Reaped { pid });
        self.tell_end(execution_id, exit);
    }

    /// Leftovers of group `pgid` (which had SIGTERM) get SIGKILL later.
    pub fn after_reap(&self, pgid: i32) {
        if lock(&self.leftovers.0).after_reap(pgid) {
            self.leftovers.1.notify_one();
        }
    }

    /// For a reaper that found no children: returns once a job is spawned.
    pub fn wait_for_children(&self) {
        let mut spawned = lock(&self.spawned.0);
        while !*spawned {
            spawned = self.spawned.1.wait(spawned).unwrap_or_else(PoisonError::into_inner);
        }
        *spawned = false;
    }

    fn broadcast(&self, events: &Receiver<Message>) {
        while let Ok(first) = events.recv() {
            // What piled up meanwhile goes in the same write.
            let mut bytes = protocol::line(&first);
            while let Ok(more) = events.try_recv() {
                bytes.extend(protocol::line(&more));
            }
            let subscribers: Vec<_> = lock(&self.subscribers).iter().map(|s| (s.id, s.stream.clone())).collect();
            for (id, stream) in subscribers {
                if write_to(&stream, &bytes).is_err() {
                    // It connects again and asks for its jobs anew.
                    log!("an engine does not read its notifications: disconnected");
                    let _ = lock(&stream).shutdown(std::net::Shutdown::Both);
                    lock(&self.subscribers).retain(|s| s.id != id);
                }
            }
        }
    }

    fn hear_keeper(&self, from_keeper: OwnedFd) {
        for line in BufReader::new(File::from(from_keeper)).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str(&line) {
                Ok(ToWorker::Ended { pid, execution_id }) => {
                    self.jobs().remove(pid);
                    self.ended(execution_id);
                }
                Err(e) => log!("unreadable message from the keeper ({e}): `{line}`"),
            }
        }
        log!("the keeper is gone: if this worker dies, the exits of its running jobs are lost");
    }

    fn end_leftovers(&self) {
        let (leftovers, due) = &self.leftovers;
        let mut left = lock(leftovers);
        loop {
            left.kill_due(Instant::now());
            left = match left.next() {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    due.wait_timeout(left, wait).unwrap_or_else(PoisonError::into_inner).0
                }
                None => due.wait(left).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    fn jobs(&self) -> MutexGuard<'_, Jobs> {
        lock(&self.jobs)
    }
}

impl Jobs {
    fn insert(&mut self, pid: i32, job: Job) {
        // A pid reused by a new job replaces the one that had it.
        if let Some(old) = self.by_pid.remove(&pid) {
            self.by_id.remove(&old.entry.execution_id);
        }
        self.by_id.insert(job.entry.execution_id.clone(), pid);
        self.by_pid.insert(pid, job);
    }

    fn remove(&mut self, pid: i32) {
        if let Some(job) = self.by_pid.remove(&pid) {
            self.by_id.remove(&job.entry.execution_id);
        }
    }
}

/// A job that will not run: the reason where users look (its stderr, as
/// `edp-supervisor: ...`) and in its exit record.
fn not_started(dir: &Path, code: Option<i32>, error: String) {
    if let Ok(mut stderr) = append(&dir.join(layout::STDERR)) {
        let _ = writeln!(stderr, "edp-supervisor: {error}");
    }
    let record = ExitRecord { code, error: Some(error), signal: None, ended_at_ms: now_ms() };
    if let Err(e) = write_exit_once(dir, &record) {
        log!("cannot record the exit in {}: {e}", dir.display());
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

fn write_to(stream: &Mutex<UnixStream>, bytes: &[u8]) -> io::Result<()> {
    lock(stream).write_all(bytes)
}

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new().name(name.to_owned()).spawn(f).map(drop)
}

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here panics while holding a lock; if something did, the maps
    // are still consistent enough to go on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
