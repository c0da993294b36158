//! An engine's connections to its host supervisor: requests out, answers
//! and exit notifications in. Starts the supervisor when none answers.
//!
//! A few connections (launches on one wait for the job's exec, so several
//! let the supervisor start jobs side by side), each read by a thread of
//! its own. The first also carries exit notifications (`events`), which
//! become status hints for the jobs this engine watches. When it breaks
//! (the supervisor's worker died and its keeper started another, or the
//! whole supervisor was killed), the reader connects again, starting a
//! supervisor if needed, and asks it to watch every job again: the new one
//! answers at once for those that ended meanwhile. Only when that fails
//! are the watched jobs hinted, so the host polls them.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use edp_engine_api::plugin::{Error, HostHandle, Result};
use edp_engine_api::wire::StatusReport;
use tokio::sync::oneshot;

use crate::jobdir::JobDir;
use crate::layout::JobSpec;
use crate::protocol::{self, Message, Outcome, Request};
use crate::told::Told;

/// How long an engine waits for a supervisor to answer, starting one if
/// needed, before the call fails as transient.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// A supervisor that accepted the connection answers the hello at once.
const HELLO_WAIT: Duration = Duration::from_secs(5);
/// A supervisor that does not read what we write for this long is stuck.
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// The engine's handle; dropping it closes the connections (a supervisor
/// without connections and jobs exits by itself).
pub(crate) struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    host: HostHandle,
    /// `edp-supervisor`.
    program: PathBuf,
    state_dir: PathBuf,
    /// Slot 0 carries the events; launches go round the slots.
    slots: Vec<Mutex<Option<Arc<Conn>>>>,
    next_slot: AtomicUsize,
    next_tag: AtomicU64,
    /// The jobs whose end this engine tells its host about, with their
    /// directories (to watch them again on a new connection).
    watched: Mutex<HashMap<String, PathBuf>>,
    /// What the watched jobs' ends were, when told with their records.
    told: Told,
    closing: AtomicBool,
    reader_name: String,
}

struct Conn {
    stream: UnixStream,
    writer: Mutex<UnixStream>,
    pending: Mutex<Pending>,
    events: bool,
}

#[derive(Default)]
struct Pending {
    /// Set by the reader when the connection ends: nothing more will be
    /// answered, so nothing more may wait.
    closed: bool,
    waiting: HashMap<u64, oneshot::Sender<Outcome>>,
}

/// What a launch waits for.
pub(crate) type Answer = oneshot::Receiver<Outcome>;

impl Client {
    pub fn new(host: HostHandle, engine_id: &str, program: PathBuf, state_dir: PathBuf) -> Self {
        let slots = thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
        Self {
            shared: Arc::new(Shared {
                host,
                program,
                state_dir,
                slots: (0..slots).map(|_| Mutex::new(None)).collect(),
                next_slot: AtomicUsize::new(0),
                next_tag: AtomicU64::new(1),
                watched: Mutex::default(),
                told: Told::default(),
                closing: AtomicBool::new(false),
                reader_name: format!("edp-{engine_id}-sup"),
            }),
        }
    }

    /// Sends the launch and returns what to wait for. The job is watched
    /// from now on, so its end is heard whichever connection tells it.
    /// Blocking: may start the supervisor.
    pub fn launch(&self, execution_id: &str, dir: &Path, spec: JobSpec) -> Result<Answer> {
        let shared = &self.shared;
        shared.watched().insert(execution_id.to_owned(), dir.to_owned());
        let slot = shared.next_slot.fetch_add(1, Ordering::Relaxed) % shared.slots.len();
        let tag = shared.next_tag.fetch_add(1, Ordering::Relaxed);
        let request = Request::Launch { tag, execution_id: execution_id.to_owned(), dir: dir.to_owned(), spec };
        let sent = (|| {
            // The events connection first: the end of a job launched on
            // another one is told there.
            shared.conn(0)?;
            // Once more if the connection ends between taking and using it.
            for _ in 0..2 {
                let conn = shared.conn(slot)?;
                let (tx, rx) = oneshot::channel();
                if !conn.expect(tag, tx) {
                    continue;
                }
                conn.send(&request)?;
                return Ok(rx);
            }
            Err(Error::transient("the connection to the job supervisor keeps closing"))
        })();
        if sent.is_err() {
            self.forget(execution_id);
        }
        sent
    }

    /// Makes sure the end of this running job is told (after an edpd
    /// restart nobody has asked yet). Blocking the first time for a job;
    /// a no-op after that. Best effort: polling still sees the end.
    pub fn watch(&self, execution_id: &str, dir: &Path) {
        let shared = &self.shared;
        if shared.watched().insert(execution_id.to_owned(), dir.to_owned()).is_some() {
            return;
        }
        let request = Request::Watch { execution_id: execution_id.to_owned(), dir: dir.to_owned() };
        if let Err(e) = shared.conn(0).and_then(|conn| conn.send(&request)) {
            tracing::warn!("cannot ask the job supervisor to watch {execution_id}: {}", e.message);
            self.forget(execution_id);
        }
    }

    /// The job ended (or will never be heard of): stop watching it.
    pub fn forget(&self, execution_id: &str) {
        self.shared.watched().remove(execution_id);
    }

    /// The report of the job's end as the supervisor told it, once.
    pub fn take_told(&self, execution_id: &str) -> Option<StatusReport> {
        self.shared.told.take(execution_id)
    }

    /// Forgets the job's told end: its directory was marked cancelled.
    pub fn drop_told(&self, execution_id: &str) {
        self.shared.told.drop_report(execution_id);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        for slot in &self.shared.slots {
            if let Some(conn) = lock(slot).take() {
                let _ = conn.stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Shared {
    fn watched(&self) -> MutexGuard<'_, HashMap<String, PathBuf>> {
        lock(&self.watched)
    }

    /// The live connection of a slot, connecting (and starting the
    /// supervisor) when there is none.
    fn conn(self: &Arc<Self>, slot: usize) -> Result<Arc<Conn>> {
        let mut held = lock(&self.slots[slot]);
        if let Some(conn) = held.as_ref().filter(|c| !c.closed()) {
            return Ok(conn.clone());
        }
        if self.closing.load(Ordering::SeqCst) {
            return Err(Error::transient("the engine is shutting down"));
        }
        let (conn, reader) = self.connect(slot == 0)?;
        let shared = self.clone();
        let reading = conn.clone();
        thread::Builder::new()
            .name(self.reader_name.clone())
            .spawn(move || shared.read(&reading, reader))
            .map_err(|e| Error::transient(format!("no thread to read the job supervisor's answers: {e}")))?;
        *held = Some(conn.clone());
        drop(held);
        if conn.events {
            // A new supervisor (or worker) knows nothing of what we watch;
            // it answers at once for the jobs that ended meanwhile.
            let watched: Vec<_> = self.watched().iter().map(|(id, dir)| (id.clone(), dir.clone())).collect();
            for (execution_id, dir) in watched {
                conn.send(&Request::Watch { execution_id, dir })?;
            }
        }
        Ok(conn)
    }

    fn connect(&self, events: bool) -> Result<(Arc<Conn>, BufReader<UnixStream>)> {
        let deadline = Instant::now() + CONNECT_WAIT;
        let mut last_start: Option<Instant> = None;
        loop {
            let error = match self.try_connect(events) {
                Ok(connected) => return Ok(connected),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::NoSupervisor(e)) => {
                    // Started again at most once a second: one that exits
                    // at once (it found a predecessor still exiting) is
                    // followed by the next attempt.
                    if last_start.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
                        last_start = Some(Instant::now());
                        self.start_supervisor()?;
                        continue;
                    }
                    e
                }
                Err(Attempt::Retry(e)) => e,
            };
            if Instant::now() >= deadline {
                return Err(Error::transient(format!(
                    "the job supervisor does not answer ({error}); its log is {}",
                    self.state_dir.join(protocol::LOG).display()
                )));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn try_connect(&self, events: bool) -> std::result::Result<(Arc<Conn>, BufReader<UnixStream>), Attempt> {
        let stream = protocol::connect(&self.state_dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => Attempt::NoSupervisor(e),
            _ => Attempt::Fatal(Error::fatal(format!(
                "cannot connect to the job supervisor in {}: {e}",
                self.state_dir.display()
            ))),
        })?;
        let retry = Attempt::Retry;
        stream.set_write_timeout(Some(WRITE_WAIT)).map_err(retry)?;
        stream.set_read_timeout(Some(HELLO_WAIT)).map_err(retry)?;
        let env =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
        (&stream)
            .write_all(&protocol::line(&Request::Hello { version: protocol::VERSION, env, events }))
            .map_err(retry)?;
        let mut reader = BufReader::new(stream.try_clone().map_err(retry)?);
        let mut line = String::new();
        // Nothing (or a reset) before the hello: a supervisor going idle
        // turned us away; the next attempt finds or starts another.
        if reader.read_line(&mut line).map_err(retry)? == 0 {
            return Err(Attempt::Retry(io::Error::other("the supervisor closed the connection")));
        }
        match serde_json::from_str(&line) {
            Ok(Message::Hello { version, .. }) if version == protocol::VERSION => {}
            Ok(Message::Hello { version, keeper, .. }) => {
                return Err(Attempt::Fatal(Error::fatal(format!(
                    "the running job supervisor (pid {keeper}) speaks version {version}, this engine {}: it \
                     is replaced once it has no jobs and no edpd connected",
                    protocol::VERSION
                ))));
            }
            _ => return Err(Attempt::Retry(io::Error::other(format!("unexpected hello `{}`", line.trim())))),
        }
        stream.set_read_timeout(None).map_err(retry)?;
        let writer = Mutex::new(stream.try_clone().map_err(retry)?);
        Ok((Arc::new(Conn { stream, writer, pending: Mutex::default(), events }), reader))
    }

    /// Runs `edp-supervisor --serve`, which returns once the supervisor
    /// listens (or another one does). Its log is its stderr.
    fn start_supervisor(&self) -> Result<()> {
        let dir = &self.state_dir;
        let io = |e: io::Error| Error::fatal(format!("job supervisor state directory {}: {e}", dir.display()));
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        let log = OpenOptions::new().create(true).append(true).open(dir.join(protocol::LOG)).map_err(io)?;
        let status = Command::new(&self.program)
            .arg("--serve")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .status()
            .map_err(|e| Error::fatal(format!("cannot start the job supervisor `{}`: {e}", self.program.display())))?;
        if !status.success() {
            return Err(Error::transient(format!(
                "the job supervisor `{}` failed to start ({status}); its log is {}",
                self.program.display(),
                dir.join(protocol::LOG).display()
            )));
        }
        Ok(())
    }

    /// The reader of one connection, until it ends.
    fn read(self: &Arc<Self>, conn: &Arc<Conn>, mut reader: BufReader<UnixStream>) {
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            match serde_json::from_str::<Message>(&line) {
                Ok(Message::Launched { tag, outcome }) => {
                    if let Some(tx) = lock(&conn.pending).waiting.remove(&tag) {
                        let _ = tx.send(outcome);
                    }
                }
                Ok(Message::Ended { execution_id, exit }) => {
                    let Some(dir) = self.watched().remove(&execution_id) else { continue };
                    if let Some(exit) = exit {
                        self.told.keep(&execution_id, &JobDir::new(dir), &exit);
                    }
                    self.host.status_hint(&execution_id);
                }
                Ok(Message::Hello { .. }) => {}
                Err(e) => tracing::warn!("job supervisor: cannot read `{}`: {e}", line.trim()),
            }
        }
        // Nothing more will be answered here: the waiting launches fail as
        // transient (and are retried: the job directory tells whether
        // they started).
        {
            let mut pending = lock(&conn.pending);
            pending.closed = true;
            pending.waiting.clear();
        }
        if !conn.events || self.closing.load(Ordering::SeqCst) {
            return;
        }
        tracing::warn!("the connection to the job supervisor ended; connecting again");
        if let Err(e) = self.conn(0) {
            tracing::error!("cannot reach the job supervisor again ({}): polling the running jobs", e.message);
            let ids: Vec<String> = self.watched().drain().map(|(id, _)| id).collect();
            for id in ids {
                self.host.status_hint(&id);
            }
        }
    }
}

impl Conn {
    fn closed(&self) -> bool {
        lock(&self.pending).closed
    }

    /// Registers the answer `tag` waits for; false when the connection has
    /// ended.
    fn expect(&self, tag: u64, tx: oneshot::Sender<Outcome>) -> bool {
        let mut pending = lock(&self.pending);
        if pending.closed {
            return false;
        }
        pending.waiting.insert(tag, tx);
        true
    }

    fn send(&self, request: &Request) -> Result<()> {
        let written = lock(&self.writer).write_all(&protocol::line(request));
        written.map_err(|e| {
            // The reader then sees the end and fails what waits.
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
            Error::transient(format!("cannot write to the job supervisor: {e}"))
        })
    }
}

enum Attempt {
    /// Nobody listens: start the supervisor.
    NoSupervisor(io::Error),
    Retry(io::Error),
    Fatal(Error),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here panics while holding a lock; if something did, the maps
    // are still consistent enough to go on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
