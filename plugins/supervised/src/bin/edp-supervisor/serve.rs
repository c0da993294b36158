//! `edp-supervisor --serve <state dir>`: starts the host supervisor unless
//! one runs for that state directory, and exits once it listens, so that
//! the engine that ran it knows when to connect and the supervisor is
//! nobody's child but init's (or a subreaper's above edpd): it outlives
//! edpd.
//!
//! The state directory's `lock` (flock) is held by the keeper and the
//! worker, which share it from this process, for as long as either lives:
//! one supervisor per state directory, whoever starts it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use edp_supervised::protocol;
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{ForkResult, fork};
use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::{keeper, log};

/// How long a start waits for a predecessor that is exiting (it holds the
/// lock but no longer listens).
const PREDECESSOR_WAIT: Duration = Duration::from_secs(5);

pub fn main(state_dir: &Path) -> ExitCode {
    match start(state_dir) {
        Ok(code) => code,
        Err(e) => {
            log!("cannot start the supervisor in {}: {e}", state_dir.display());
            ExitCode::FAILURE
        }
    }
}

fn start(state_dir: &Path) -> io::Result<ExitCode> {
    // Whoever can connect can run jobs as us: the directory is ours alone.
    fs::DirBuilder::new().recursive(true).mode(0o700).create(state_dir)?;
    fs::set_permissions(state_dir, fs::Permissions::from_mode(0o700))?;
    let state_dir = std::path::absolute(state_dir)?;
    let Some(lock) = take_lock(&state_dir)? else {
        return Ok(ExitCode::SUCCESS);
    };
    match fs::remove_file(state_dir.join(protocol::SOCKET)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = protocol::bind(&state_dir)?;
    // An ignored SIGCHLD survives exec and would have the kernel reap jobs
    // before their exit is recorded.
    // SAFETY: setting a default disposition installs no handler.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) }.map_err(io::Error::from)?;
    // SAFETY: this process has one thread; the child goes on with our code.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { .. } => Ok(ExitCode::SUCCESS),
        ForkResult::Child => {
            // A session of its own: no terminal, no signal to edpd's group
            // or session reaches it.
            let _ = nix::unistd::setsid();
            let _ = std::env::set_current_dir("/");
            keeper::run(state_dir, lock, listener)
        }
    }
}

/// The lock, or `None` when a live supervisor has it (it answers on the
/// socket). One that holds it without answering is exiting: waited for.
fn take_lock(state_dir: &Path) -> io::Result<Option<File>> {
    let path = state_dir.join(protocol::LOCK);
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
    let deadline = Instant::now() + PREDECESSOR_WAIT;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Some(file)),
            Err(Errno::WOULDBLOCK) => {}
            Err(e) => return Err(e.into()),
        }
        if protocol::connect(state_dir).is_ok() {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "{} is held by a supervisor that does not answer on {}",
                path.display(),
                protocol::SOCKET
            )));
        }
        thread::sleep(Duration::from_millis(10));
    }
}
