//! Starting a per-job supervisor (`edp-supervisor <jobdir>`, what
//! spark-submit jobs run under), at most once per job directory. Blocking:
//! run it on a blocking thread. Jobs of the host supervisor start through
//! [`crate::hosted`] instead.
//!
//! The job directory's lock makes a launch safe to repeat: the launcher
//! takes it, checks for traces of an earlier supervisor, stages the files,
//! and hands the lock over to the supervisor as its stdin, so that it is
//! held without a gap until the supervisor exits. A launcher that crashed
//! before spawning left no trace, so the retry starts from scratch; one
//! that crashed after left a supervisor that records itself.

use std::fs::{self, File, OpenOptions};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use edp_engine_api::plugin::{Error, Result};
use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::checks;
use crate::jobdir::{JobDir, io_error};
use crate::layout::{self, JobSpec};
use crate::stage;

/// How long a launch waits for a job directory someone else holds without
/// having started a supervisor: only another launcher in the middle of
/// its work should ever do that.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// What to start, and where.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    /// One directory per execution (see [`JobDir::in_work_dir`]): a second
    /// launch into it starts nothing. Absolute: [`JobDir::recorded`]
    /// accepts no other.
    pub job_dir: PathBuf,
    /// Written to `job.json` as it is.
    pub spec: JobSpec,
    /// File name in the job directory → the local file it comes from
    /// (hard-linked, else copied). Names pass [`checks::binary_name`].
    pub files: Vec<(String, PathBuf)>,
    /// The `edp-supervisor` binary.
    pub supervisor: PathBuf,
}

pub enum Launch {
    /// The supervisor, to be waited for (see [`crate::Watcher::watch_child`]).
    Started(Child),
    /// A supervisor had already taken this job directory (it may have ended
    /// since): nothing was started.
    Existing,
}

/// Stages the files, writes `job.json` and starts the supervisor, unless a
/// supervisor already took the directory. Safe to repeat and to race.
pub fn launch(plan: &LaunchPlan) -> Result<Launch> {
    for (name, _) in &plan.files {
        checks::binary_name(name)?;
    }
    let dir = JobDir::new(plan.job_dir.clone());
    fs::create_dir_all(dir.path()).map_err(|e| io_error(dir.path(), e))?;
    let Some(lock) = claim(&dir)? else {
        return Ok(Launch::Existing);
    };
    if dir.started() {
        return Ok(Launch::Existing);
    }
    stage::files(&dir, &plan.files)?;
    stage::spec(&dir, &plan.spec)?;

    let supervisor = &plan.supervisor;
    let child = Command::new(supervisor)
        .arg(dir.path())
        .stdin(lock)
        .stdout(append(&dir.file(layout::STDOUT))?)
        .stderr(append(&dir.file(layout::STDERR))?)
        // Its own group: a Ctrl-C (or any signal) to edpd's group never
        // reaches supervisors or jobs. No pre_exec: that would cost the
        // posix_spawn fast path.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::fatal(format!("cannot start the supervisor `{}`: {e}", supervisor.display())))?;
    Ok(Launch::Started(child))
}

/// The lock, held exclusively; `None` when a supervisor already has the job.
fn claim(dir: &JobDir) -> Result<Option<File>> {
    let path = dir.file(layout::LOCK);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Some(file)),
            Err(Errno::WOULDBLOCK) => {}
            Err(e) => return Err(io_error(&path, e.into())),
        }
        // Held by a supervisor (which records its pid first thing), by a
        // launcher (whose supervisor will), or by a status probe for a
        // moment.
        if dir.started() {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Err(Error::transient(format!("job directory `{}` is busy", dir.path().display())));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn append(path: &Path) -> Result<File> {
    OpenOptions::new().append(true).create(true).open(path).map_err(|e| io_error(path, e))
}
