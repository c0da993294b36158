//! The engine's side of jobs run by the host supervisor: one long-lived
//! `edp-supervisor --serve` per engine data directory starts and reaps
//! them (see the binary for how it is built and what survives what), so a
//! launch costs one spawn, like the job's own recipe, instead of two.
//!
//! The job directory still holds everything known about a job; the
//! supervisor adds only the exec and the wait. Nothing here keeps state an
//! engine needs: the set of watched jobs only decides which exit
//! notifications become status hints.

use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use edp_engine_api::plugin::{Error, HostHandle, Result, blocking};
use edp_engine_api::wire::{JobStatus, StatusReport};
use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::cancel;
use crate::checks;
use crate::client::{Answer, Client};
use crate::jobdir::{JobDir, io_error};
use crate::layout::{JobPid, JobSpec};
use crate::protocol::Outcome;
use crate::stage;
use crate::status;

/// How long a launch waits for a job directory another launch of the same
/// execution holds: only for that one's round trip to the supervisor.
const BUSY_WAIT: Duration = Duration::from_secs(5);
/// How long a launch that finds the job claimed waits for its pid.
const CLAIM_WAIT: Duration = Duration::from_secs(2);

/// What to start, and where.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// One directory per execution (see [`JobDir::in_work_dir`]): a second
    /// launch into it starts nothing. Absolute.
    pub job_dir: PathBuf,
    /// What the job runs (a dry run shows it; it is not written down).
    pub spec: JobSpec,
    /// File name in the job directory → the local file it comes from
    /// (hard-linked, else copied). Names pass [`checks::binary_name`].
    pub files: Vec<(String, PathBuf)>,
}

/// One per engine.
pub struct HostSupervisor {
    client: Arc<Client>,
}

enum Staged {
    /// Sent: the answer, and the directory's lock, held until it comes.
    Sent(Answer, File),
    /// An earlier launch of the execution started it.
    Existing,
}

impl HostSupervisor {
    /// `program` is `edp-supervisor`; `state_dir` its socket's directory,
    /// one per engine data directory (engines sharing it share the
    /// supervisor). Nothing starts until the first launch or watch.
    pub fn new(host: HostHandle, engine_id: &str, program: PathBuf, state_dir: PathBuf) -> Self {
        Self { client: Arc::new(Client::new(host, engine_id, program, state_dir)) }
    }

    /// Stages the job's files, runs `before` (only for a job not started
    /// yet) and has the supervisor start the job, unless it was ever
    /// started: then nothing is started, and the answer is the job's pid
    /// and status as its directory tells them. Safe to repeat and to race,
    /// across engines and processes.
    pub async fn start(
        &self,
        execution_id: &str,
        plan: JobPlan,
        before: impl FnOnce(&JobDir) -> Result<()> + Send + 'static,
    ) -> Result<(Option<u32>, JobStatus)> {
        let dir = JobDir::new(plan.job_dir.clone());
        let client = self.client.clone();
        let id = execution_id.to_owned();
        let staged = blocking(move || {
            for (name, _) in &plan.files {
                checks::binary_name(name)?;
            }
            let dir = JobDir::new(plan.job_dir);
            let created = !dir.path().exists();
            fs::create_dir_all(dir.path()).map_err(|e| io_error(dir.path(), e))?;
            let Some(lock) = lock_dir(&dir)? else {
                return Ok(Staged::Existing);
            };
            if dir.started() {
                return Ok(Staged::Existing);
            }
            let sent = (|| {
                // No job.json: the spec goes to the supervisor, and each
                // file a job's launch creates costs an inode allocation,
                // which shows in the launch rate.
                stage::files(&dir, &plan.files)?;
                before(&dir)?;
                client.launch(&id, dir.path(), plan.spec)
            })();
            match sent {
                Ok(answer) => Ok(Staged::Sent(answer, lock)),
                // A refused launch leaves nothing behind (nothing started:
                // the supervisor never had the request).
                Err(e) => {
                    if created {
                        let _ = fs::remove_dir_all(dir.path());
                    }
                    Err(e)
                }
            }
        })
        .await?;
        let outcome = match staged {
            Staged::Existing => Outcome::Existing,
            Staged::Sent(answer, lock) => {
                let outcome = answer.await;
                drop(lock);
                outcome.map_err(|_| {
                    Error::transient(
                        "the connection to the job supervisor ended during the launch; a retry finds out whether \
                         the job started",
                    )
                })?
            }
        };
        match outcome {
            Outcome::Started { pid } => Ok((Some(pid), JobStatus::Running)),
            Outcome::Existing => self.existing(execution_id, &dir).await,
            Outcome::Failed { error } => {
                self.client.forget(execution_id);
                Err(Error::fatal(error))
            }
        }
    }

    /// The job an earlier launch of `execution_id` started, as `start`
    /// answers for it; `None` when none did. Starts nothing.
    pub async fn find(&self, execution_id: &str, dir: &JobDir) -> Result<Option<(Option<u32>, JobStatus)>> {
        if !dir.started() {
            return Ok(None);
        }
        self.existing(execution_id, dir).await.map(Some)
    }

    /// A job that has started: its pid and status.
    async fn existing(&self, execution_id: &str, dir: &JobDir) -> Result<(Option<u32>, JobStatus)> {
        // Another launch may have claimed it a moment ago: its pid follows
        // within microseconds.
        let deadline = Instant::now() + CLAIM_WAIT;
        let mut pid = dir.job_pid()?;
        while pid == JobPid::Claimed && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
            pid = dir.job_pid()?;
        }
        let report = self.observe(execution_id, dir).await?;
        if report.status.is_terminal() {
            // Ended before: no notification is coming for it.
            self.client.forget(execution_id);
        }
        let pid = match pid {
            JobPid::Pid(pid) => u32::try_from(pid).ok(),
            JobPid::Absent | JobPid::Claimed => None,
        };
        Ok((pid, report.status))
    }

    /// The job's status if known without reading anything: a success the
    /// supervisor told with its exit record, given once (see `told`).
    /// For [`edp_engine_api::plugin::Engine::known_status`].
    pub fn known_status(&self, execution_id: &str) -> Option<StatusReport> {
        self.client.take_told(execution_id)
    }

    /// [`cancel::cancel`] of a job of this supervisor: also forgets a
    /// success told around the cancel's mark, which a status read from the
    /// directory no longer gives.
    pub async fn cancel(&self, execution_id: &str, dir: &JobDir, grace: Duration) -> Result<()> {
        self.client.drop_told(execution_id);
        let cancelled = cancel::cancel(dir, grace).await;
        self.client.drop_told(execution_id);
        cancelled
    }

    /// The job's status from its directory. A running job is watched, so
    /// that the host hears of its end at once, after an edpd restart too.
    /// (A watched job stays so until its end is told, even if a read saw
    /// the end first: a cancel's report is followed by the hint.)
    pub async fn observe(&self, execution_id: &str, dir: &JobDir) -> Result<StatusReport> {
        let client = self.client.clone();
        let (id, dir) = (execution_id.to_owned(), dir.clone());
        blocking(move || {
            let report = status::observe(&dir)?.report;
            if !report.status.is_terminal() {
                client.watch(&id, dir.path());
            }
            Ok(report)
        })
        .await
    }
}

/// The job directory's own flock: one launch of an execution at a time
/// stages it and asks for it. (The supervisor's claim on `job.pid` is what
/// makes the start happen once; this keeps a second launch from staging
/// files under a job that is starting.)
/// `None` once the job has started under another launch.
fn lock_dir(dir: &JobDir) -> Result<Option<File>> {
    let file = File::open(dir.path()).map_err(|e| io_error(dir.path(), e))?;
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Some(file)),
            Err(Errno::WOULDBLOCK) => {}
            Err(e) => return Err(io_error(dir.path(), e.into())),
        }
        if dir.started() {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Err(Error::transient(format!("job directory `{}` is busy", dir.path().display())));
        }
        thread::sleep(Duration::from_millis(5));
    }
}
