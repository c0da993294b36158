//! An engine the tests script, linked into the test binary (built with the
//! plugin SDK, loaded through `construct_module` rather than a library):
//! each job is what the test says, and every call is counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use edp_engine_api::plugin::{Engine, EngineContext, Error, Result};
use edp_engine_api::wire::{
    Capabilities, ClusterCheck, ClusterSpec, EngineDescription, JobHandle, JobRequest, JobStatus, Launched,
    PollingHints, StatusReport, Validated,
};
use tokio::sync::watch;

/// What the engine knows of one job (by submission tag).
#[derive(Clone, Debug)]
pub struct Job {
    pub status: JobStatus,
    /// How many times `run_job` started it (idempotent: at most once).
    pub starts: usize,
    pub kills: usize,
}

/// The engine's whole state, shared with the test.
#[derive(Default)]
pub struct Script {
    pub jobs: Mutex<HashMap<String, Job>>,
    /// `run_job` calls, including repeats.
    pub run_calls: Mutex<usize>,
    /// `get_job_status` calls, counted as they come (before the gate).
    pub status_calls: Mutex<usize>,
    /// Polls and launches wait while the gate is closed (`false`).
    pub gate: Option<watch::Sender<bool>>,
}

pub fn script() -> &'static Mutex<Arc<Script>> {
    static SCRIPT: OnceLock<Mutex<Arc<Script>>> = OnceLock::new();
    SCRIPT.get_or_init(Default::default)
}

fn current() -> Arc<Script> {
    script().lock().unwrap().clone()
}

async fn through_gate() {
    let gate = current().gate.as_ref().map(|g| g.subscribe());
    if let Some(mut gate) = gate {
        let _ = gate.wait_for(|open| *open).await;
    }
}

pub struct Scripted;

impl Engine for Scripted {
    const ID: &'static str = "scripted";

    fn new(_ctx: EngineContext) -> Result<Self> {
        Ok(Self)
    }

    fn describe(&self) -> EngineDescription {
        EngineDescription {
            id: Self::ID.into(),
            version: "1.0".into(),
            title: "scripted by the tests".into(),
            description: String::new(),
            job_types: vec!["Shell".into()],
            cluster_config_schema: serde_json::json!({"type": "object"}),
            capabilities: Capabilities { logs: false, dry_run: false, ..Capabilities::default() },
            polling: PollingHints { initial_ms: 1_000, max_ms: 8_000 },
        }
    }

    async fn check_cluster(&self, _cluster: ClusterSpec) -> Result<ClusterCheck> {
        Ok(ClusterCheck { ok: true, ..ClusterCheck::default() })
    }

    async fn validate(&self, _job: JobRequest) -> Result<Validated> {
        Ok(Validated::default())
    }

    async fn run_job(&self, job: JobRequest) -> Result<Launched> {
        *current().run_calls.lock().unwrap() += 1;
        // The job starts when asked, even if the answer is then lost.
        {
            let script = current();
            let mut jobs = script.jobs.lock().unwrap();
            jobs.entry(job.execution_id.clone()).or_insert(Job { status: JobStatus::Running, starts: 1, kills: 0 });
        }
        through_gate().await;
        Ok(launched(&job.execution_id, JobStatus::Running))
    }

    async fn get_job_status(&self, handle: JobHandle) -> Result<StatusReport> {
        *current().status_calls.lock().unwrap() += 1;
        through_gate().await;
        let script = current();
        let jobs = script.jobs.lock().unwrap();
        let job = jobs.get(&handle.execution_id).ok_or_else(|| Error::not_found("no such job"))?;
        Ok(StatusReport::new(job.status))
    }

    async fn cancel_job(&self, handle: JobHandle) -> Result<StatusReport> {
        let script = current();
        let mut jobs = script.jobs.lock().unwrap();
        let job = jobs.get_mut(&handle.execution_id).ok_or_else(|| Error::not_found("no such job"))?;
        if !job.status.is_terminal() {
            job.status = JobStatus::Killed;
            job.kills += 1;
        }
        Ok(StatusReport::new(job.status))
    }

    async fn find_job(&self, job: JobRequest) -> Result<Option<Launched>> {
        Ok(current().jobs.lock().unwrap().get(&job.execution_id).map(|j| launched(&job.execution_id, j.status)))
    }
}

fn launched(id: &str, status: JobStatus) -> Launched {
    Launched { engine_job_id: format!("job-{id}"), status, extra: serde_json::json!({}), info: Default::default() }
}
