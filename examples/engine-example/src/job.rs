//! One job, as its directory holds it:
//!
//! - `stdout`: the echoed lines (its log).
//! - `job.json`: when it ends and how (`ends_at_ms`, `exit_code`), written
//!   last and atomically: a directory without it is a launch cut short.
//! - `cancelled`: when a cancel came (ms since the epoch).
//!
//! Every function here does file work: the engine calls them through the
//! SDK's `blocking`, off the plugin runtime's two workers.

use std::io::{ErrorKind, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::serde_json::{self, Value, json};
use edp_engine_api::wire::{JobRequest, JobStatus, LogChunk, StatusReport};

const SECONDS: &str = "edp.example.seconds";
const EXIT_CODE: &str = "edp.example.exit_code";
const LOG: &str = "stdout";

/// What a job does, checked before anything is written.
#[derive(Debug, Clone)]
pub struct Spec {
    pub lines: Vec<String>,
    pub seconds: u64,
    pub exit_code: u8,
}

impl Spec {
    pub fn parse(job: &JobRequest, greeting: &str, max_seconds: u64) -> Result<Self> {
        let mut spec = Self { lines: Vec::new(), seconds: 0, exit_code: 0 };
        for (key, value) in &job.configs {
            match key.as_str() {
                SECONDS => {
                    spec.seconds = whole(value).filter(|s| *s <= max_seconds).ok_or_else(|| {
                        Error::invalid_input(format!(
                            "configs.{key} must be a whole number of seconds up to {max_seconds}"
                        ))
                    })?
                }
                EXIT_CODE => {
                    spec.exit_code = whole(value).and_then(|c| u8::try_from(c).ok()).ok_or_else(|| {
                        Error::invalid_input(format!("configs.{key} must be an exit code from 0 to 255"))
                    })?
                }
                // Other engines' keys are none of ours; an edp.example.*
                // key we do not know is a typo worth refusing.
                other if other.starts_with("edp.example.") => {
                    return Err(Error::invalid_input(format!(
                        "configs.{other} is not a setting of the example engine"
                    )));
                }
                _ => {}
            }
        }
        for arg in &job.args {
            if arg.contains('\n') {
                return Err(Error::invalid_input("an arg cannot hold a line break: each arg is one line"));
            }
            spec.lines.push(if greeting.is_empty() { arg.clone() } else { format!("{greeting} {arg}") });
        }
        Ok(spec)
    }
}

/// A number, or a string holding one (Sahara's configs are often strings).
fn whole(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A launched job's facts.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    ends_at_ms: u64,
    exit_code: u8,
    seconds: u64,
}

impl Started {
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    /// Time left until the job ends.
    pub fn left(&self) -> Duration {
        Duration::from_millis(self.ends_at_ms.saturating_sub(now_ms()))
    }

    fn read(value: &Value) -> Option<Self> {
        Some(Self {
            ends_at_ms: value["ends_at_ms"].as_u64()?,
            exit_code: u8::try_from(value["exit_code"].as_u64()?).ok()?,
            seconds: value["seconds"].as_u64()?,
        })
    }
}

pub struct JobDir {
    path: PathBuf,
}

impl JobDir {
    /// The execution id names a directory, so it must be a plain name.
    pub fn new(jobs: &Path, execution_id: &str) -> Result<Self> {
        if execution_id.is_empty() || !execution_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::invalid_input(format!("execution id `{execution_id}` cannot name a directory")));
        }
        Ok(Self { path: jobs.join(execution_id) })
    }

    pub fn log_path(&self) -> PathBuf {
        self.path.join(LOG)
    }

    /// Starts the job unless it was started before; `(the job, started
    /// now)`. This is what makes `run_job` idempotent: after a crash
    /// between "started" and "recorded by edpd", edpd calls `run_job` again
    /// with the same execution id and gets the same job back.
    pub fn start_once(&self, spec: &Spec) -> Result<(Started, bool)> {
        match std::fs::create_dir(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if let Some(started) = self.started()? {
                    return Ok((started, false));
                }
                // A launch cut short before `job.json`: finish it.
            }
            Err(e) => return Err(io("create the job directory", e)),
        }
        let mut log = String::new();
        for line in &spec.lines {
            log.push_str(line);
            log.push('\n');
        }
        std::fs::write(self.log_path(), log).map_err(|e| io("write the log", e))?;
        let started =
            Started { ends_at_ms: now_ms() + spec.seconds * 1000, exit_code: spec.exit_code, seconds: spec.seconds };
        let record = json!({"ends_at_ms": started.ends_at_ms, "exit_code": started.exit_code, "seconds": spec.seconds});
        // Written whole or not at all: a rename replaces atomically.
        let temporary = self.path.join("job.json.tmp");
        std::fs::write(&temporary, record.to_string()).map_err(|e| io("write job.json", e))?;
        std::fs::rename(&temporary, self.path.join("job.json")).map_err(|e| io("write job.json", e))?;
        Ok((started, true))
    }

    pub fn status(&self) -> Result<StatusReport> {
        let started = self.started()?.ok_or_else(|| Error::not_found("this engine has no such job"))?;
        if let Some(at) = self.cancelled_at()?
            && at < started.ends_at_ms
        {
            return Ok(StatusReport::new(JobStatus::Killed));
        }
        if now_ms() < started.ends_at_ms {
            return Ok(StatusReport::new(JobStatus::Running));
        }
        let mut report = if started.exit_code == 0 {
            StatusReport::new(JobStatus::Succeeded)
        } else {
            StatusReport::new(JobStatus::Failed).with_reason(format!("the job ended with code {}", started.exit_code))
        };
        report.return_code = Some(i32::from(started.exit_code));
        Ok(report)
    }

    /// Marks the job cancelled if it is still running, and answers what it
    /// is now. Cancelling a finished job changes nothing.
    pub fn cancel(&self) -> Result<StatusReport> {
        let status = self.status()?;
        if status.status == JobStatus::Running {
            std::fs::write(self.path.join("cancelled"), now_ms().to_string()).map_err(|e| io("mark the cancel", e))?;
            return self.status();
        }
        Ok(status)
    }

    /// At most `limit` bytes of the log from `offset`, cut at a character
    /// boundary so that `next_offset` is where the next read starts.
    pub fn log(&self, stream: Option<&str>, offset: u64, limit: u64) -> Result<LogChunk> {
        if let Some(other) = stream.filter(|s| *s != LOG) {
            return Err(Error::invalid_input(format!("no stream `{other}`: example jobs have `{LOG}` only")));
        }
        let complete = !matches!(self.status()?.status, JobStatus::Running);
        let mut file = std::fs::File::open(self.log_path()).map_err(|e| io("read the log", e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| io("read the log", e))?;
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes).map_err(|e| io("read the log", e))?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        };
        Ok(LogChunk {
            stream: LOG.into(),
            streams: vec![LOG.into()],
            offset,
            next_offset: offset + text.len() as u64,
            data: text.to_string(),
            complete,
        })
    }

    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io("remove the job directory", e)),
            _ => Ok(()),
        }
    }

    fn started(&self) -> Result<Option<Started>> {
        match std::fs::read(self.path.join("job.json")) {
            Ok(bytes) => {
                let value: Value =
                    serde_json::from_slice(&bytes).map_err(|e| Error::fatal(format!("job.json: {e}")))?;
                Started::read(&value).map(Some).ok_or_else(|| Error::fatal("job.json lacks a field"))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read job.json", e)),
        }
    }

    fn cancelled_at(&self) -> Result<Option<u64>> {
        match std::fs::read_to_string(self.path.join("cancelled")) {
            Ok(text) => Ok(text.trim().parse().ok()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read the cancel mark", e)),
        }
    }
}

/// A file system error is `FATAL`: retrying will not fix a full disk.
fn io(what: &str, e: std::io::Error) -> Error {
    Error::fatal(format!("cannot {what}: {e}"))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}
