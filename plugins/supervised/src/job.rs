//! The engine's side of a job under a per-job supervisor: starting it (at
//! most once), observing it while watching its supervisor; and the answer
//! to `run_job`, the same for either supervisor.

use edp_engine_api::plugin::{Result, blocking};
use edp_engine_api::wire::{JobStatus, Launched, Object, StatusReport};
use serde_json::json;

use crate::jobdir::{JOB_DIR_KEY, JobDir};
use crate::launch::Launch;
use crate::layout;
use crate::status::{self, Observed};
use crate::watch::Watcher;

/// The job's status from its directory. A live supervisor is watched, so
/// that the host hears of the job's end at once, after an edpd restart too.
pub async fn observe(watcher: &Watcher, execution_id: &str, dir: &JobDir) -> Result<StatusReport> {
    let owned = dir.clone();
    let Observed { report, live_supervisor } = blocking(move || status::observe(&owned)).await?;
    if let Some(pid) = live_supervisor {
        watcher.watch_pid(execution_id, pid);
    }
    Ok(report)
}

/// Runs `launch` (which ends in [`crate::launch::launch`]) off the runtime:
/// the supervisor's pid and the job's status, whether this call started it
/// or an earlier launch of the same execution did.
pub async fn start(
    watcher: &Watcher,
    execution_id: &str,
    dir: &JobDir,
    launch: impl FnOnce() -> Result<Launch> + Send + 'static,
) -> Result<(Option<u32>, JobStatus)> {
    match blocking(launch).await? {
        Launch::Started(child) => {
            let pid = child.id();
            watcher.watch_child(execution_id, child);
            Ok((Some(pid), JobStatus::Running))
        }
        Launch::Existing => {
            let report = observe(watcher, execution_id, dir).await?;
            let pid = dir.pid(layout::SUPERVISOR_PID)?.and_then(|p| u32::try_from(p).ok());
            Ok((pid, report.status))
        }
    }
}

/// The answer to `run_job`: the pid the launch returned as the engine's job
/// id (a per-job supervisor's, or the job's own under the host supervisor),
/// the job directory in `extra` (with the engine's own `extra` keys) and in
/// `info`.
pub fn launched(execution_id: &str, dir: &JobDir, pid: Option<u32>, status: JobStatus, mut extra: Object) -> Launched {
    let work_dir = dir.path().to_string_lossy().into_owned();
    let mut info = Object::new();
    if let Some(pid) = pid {
        info.insert("pid".into(), json!(pid));
    }
    info.insert("work_dir".into(), json!(work_dir));
    extra.insert(JOB_DIR_KEY.into(), json!(work_dir));
    Launched {
        // The execution id stands in only when an earlier launch left an
        // exit record but no supervisor pid, which it never should.
        engine_job_id: pid.map_or_else(|| execution_id.to_owned(), |p| p.to_string()),
        status,
        extra: extra.into(),
        info,
    }
}
