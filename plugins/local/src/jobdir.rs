//! One job's directory as the plugin reads it: where it is, whether its
//! supervisor lives, what it recorded. See [`crate::layout`] for the files.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::JobHandle;
use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::checks;
use crate::cluster::ClusterConfig;
use crate::layout::{self, ExitRecord};
use crate::settings::Settings;

#[derive(Debug, Clone)]
pub struct JobDir {
    path: PathBuf,
}

impl JobDir {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The directory `run_job` recorded in `extra`, else where the cluster's
    /// configuration puts it now.
    pub fn for_handle(handle: &JobHandle, settings: &Settings) -> Result<Self> {
        checks::execution_id(&handle.execution_id)?;
        if let Some(recorded) = handle.extra.get("job_dir").and_then(|v| v.as_str()) {
            let path = PathBuf::from(recorded);
            // `extra` is ours, but a handle naming another job's (or no
            // job's) directory must not lead to signalling or deleting it.
            if !path.is_absolute() || path.file_name() != Some(OsStr::new(&handle.execution_id)) {
                return Err(Error::invalid_input(format!(
                    "the handle's job_dir `{recorded}` is not the directory of execution {}",
                    handle.execution_id
                )));
            }
            return Ok(Self::new(path));
        }
        let cluster = ClusterConfig::parse(&handle.cluster.configs)?;
        Ok(Self::new(cluster.work_dir(settings).join(&handle.execution_id)))
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

    pub fn exit_record(&self) -> Result<Option<ExitRecord>> {
        match fs::read(self.file(layout::EXIT)) {
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
}

pub fn io_error(path: &Path, e: io::Error) -> Error {
    Error::fatal(format!("`{}`: {e}", path.display()))
}
