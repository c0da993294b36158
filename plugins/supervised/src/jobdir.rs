//! One job's directory as an engine reads it: where it is, whether its
//! supervisor lives, what it recorded. See [`crate::layout`] for the files.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::JobHandle;
use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::cancel::group_exists;
use crate::checks;
use crate::layout::{self, ExitRecord, JobPid};

/// The key of `Launched.extra` (and so of `JobHandle.extra`) under which an
/// engine records the job directory, for [`JobDir::recorded`] to find it
/// whatever the configuration says later.
pub const JOB_DIR_KEY: &str = "job_dir";

/// A job directory, by path; everything is read from disk when asked.
#[derive(Debug, Clone)]
pub struct JobDir {
    path: PathBuf,
}

impl JobDir {
    /// The path as it is: one built from a request goes through
    /// [`JobDir::in_work_dir`] or [`JobDir::recorded`] instead.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// `<work_dir>/<execution_id>`, once the id is known to be a plain
    /// directory name.
    pub fn in_work_dir(work_dir: &Path, execution_id: &str) -> Result<Self> {
        checks::execution_id(execution_id)?;
        Ok(Self::new(work_dir.join(execution_id)))
    }

    /// The directory `run_job` recorded in the handle's `extra` under
    /// [`JOB_DIR_KEY`], if any: that of the execution, or an error. The
    /// engine falls back on where its configuration puts the job now.
    pub fn recorded(handle: &JobHandle) -> Result<Option<Self>> {
        checks::execution_id(&handle.execution_id)?;
        let Some(recorded) = handle.extra.get(JOB_DIR_KEY).and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        let path = PathBuf::from(recorded);
        // `extra` is ours, but a handle naming another job's (or no
        // job's) directory must not lead to signalling or deleting it.
        if !path.is_absolute() || path.file_name() != Some(OsStr::new(&handle.execution_id)) {
            return Err(Error::invalid_input(format!(
                "the handle's job_dir `{recorded}` is not the directory of execution {}",
                handle.execution_id
            )));
        }
        Ok(Some(Self::new(path)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.file(name).exists()
    }

    /// NotFound when the directory is gone: the engine no longer knows the job.
    pub fn require(&self) -> Result<()> {
        if self.path.is_dir() {
            Ok(())
        } else {
            Err(Error::not_found(format!("job directory `{}` does not exist", self.path.display())))
        }
    }

    /// Whether a supervisor ever took this job: after that, launching it
    /// again would run it twice.
    pub fn started(&self) -> bool {
        self.has(layout::SUPERVISOR_PID) || self.has(layout::JOB_PID) || self.has(layout::EXIT)
    }

    /// The exit record; `None` before it exists, and while the one write
    /// that makes it has yet to land (an empty file).
    pub fn exit_record(&self) -> Result<Option<ExitRecord>> {
        match fs::read(self.file(layout::EXIT)) {
            Ok(bytes) if bytes.is_empty() => Ok(None),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::fatal(format!("`{}` is corrupt: {e}", self.file(layout::EXIT).display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&self.file(layout::EXIT), e)),
        }
    }

    pub fn pid(&self, name: &str) -> Result<Option<i32>> {
        layout::read_pid(&self.path, name).map_err(|e| io_error(&self.file(name), e))
    }

    /// `job.pid`, a claim without a pid told apart.
    pub fn job_pid(&self) -> Result<JobPid> {
        layout::read_job_pid(&self.path).map_err(|e| io_error(&self.file(layout::JOB_PID), e))
    }

    /// Whether a per-job supervisor ran (or runs) this job: only those have
    /// a lock file. Jobs of the host supervisor have none.
    pub fn per_job(&self) -> bool {
        self.has(layout::LOCK)
    }

    /// Whether someone holds the lock: the supervisor for its whole life, or
    /// a launcher for the moment it takes to start one. A shared probe, so
    /// concurrent probes do not see each other.
    pub fn locked(&self) -> Result<bool> {
        let file = match File::open(self.file(layout::LOCK)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(&self.file(layout::LOCK), e)),
        };
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => Ok(false),
            Err(Errno::WOULDBLOCK) => Ok(true),
            Err(e) => Err(io_error(&self.file(layout::LOCK), e.into())),
        }
    }

    /// The last `max` bytes of stderr, from a character boundary on.
    pub fn stderr_tail(&self, max: u64) -> Option<String> {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let mut file = File::open(self.file(layout::STDERR)).ok()?;
        let len = file.metadata().ok()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
        let mut bytes = Vec::new();
        file.take(max).read_to_end(&mut bytes).ok()?;
        let start = bytes.iter().position(|b| (b & 0xC0) != 0x80).unwrap_or(bytes.len());
        let text = String::from_utf8_lossy(&bytes[start..]).trim_end().to_owned();
        (!text.is_empty()).then_some(text)
    }

    /// Blocking: removes the directory, unless the job still runs. A job
    /// is ended once its exit is recorded, even while its supervisor still
    /// reaps what the job left behind. A directory already gone is fine.
    pub fn delete(&self) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        if !self.has(layout::EXIT) {
            if self.locked()? {
                return Err(Error::invalid_input("the job is still running: cancel it before deleting it"));
            }
            // A supervisor killed from outside may have left its job running.
            if let JobPid::Pid(pid) = self.job_pid()?
                && group_exists(pid)
            {
                return Err(Error::invalid_input("processes of the job are still running: cancel it first"));
            }
        }
        fs::remove_dir_all(&self.path).map_err(|e| io_error(&self.path, e))
    }
}

pub(crate) fn io_error(path: &Path, e: io::Error) -> Error {
    Error::fatal(format!("`{}`: {e}", path.display()))
}
