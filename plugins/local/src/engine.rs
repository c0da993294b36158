//! The `local` engine: what each operation of the SDK's `Engine` does,
//! in terms of this crate's planning and `edp_supervised`, which runs it.

use std::collections::BTreeMap;

use edp_engine_api::plugin::{Engine, EngineContext, Error, Result, blocking};
use edp_engine_api::wire::{
    Capabilities, ClusterCheck, ClusterSpec, DryRun, EngineDescription, JobHandle, JobRequest, Launched, LogChunk,
    LogRequest, Object, Placement, PollingHints, StatusReport, Validated,
};
use edp_supervised::{HostSupervisor, JobDir, logs};
use serde_json::json;

use crate::cluster::{self, ClusterConfig};
use crate::command::{self, JOB_TYPES};
use crate::jobdir;
use crate::settings::Settings;
use crate::streaming;

pub struct LocalEngine {
    settings: Settings,
    supervisor: HostSupervisor,
}

impl LocalEngine {
    /// A streaming job's report gets the runner's progress and counters.
    async fn decorate(handle: &JobHandle, dir: JobDir, mut report: StatusReport) -> Result<StatusReport> {
        if handle.job_type != streaming::JOB_TYPE {
            return Ok(report);
        }
        blocking(move || {
            streaming::decorate(&dir, &mut report);
            Ok(report)
        })
        .await
    }

    fn job_dir(&self, handle: &JobHandle) -> Result<JobDir> {
        jobdir::for_handle(handle, &self.settings)
    }
}

impl Engine for LocalEngine {
    const ID: &'static str = "local";

    fn new(ctx: EngineContext) -> Result<Self> {
        let settings = Settings::from_engine_settings(&ctx.settings)?;
        // One host supervisor per data directory: engines (and edpd
        // processes) sharing it share the supervisor and its jobs.
        let state_dir = std::path::absolute(ctx.settings.data_dir.join("supervisor"))
            .map_err(|e| Error::fatal(format!("the engine's data directory: {e}")))?;
        let supervisor = HostSupervisor::new(ctx.host, Self::ID, settings.supervisor.clone(), state_dir);
        Ok(Self { settings, supervisor })
    }

    fn describe(&self) -> EngineDescription {
        EngineDescription {
            id: Self::ID.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title: "Local processes".into(),
            description: "Runs Shell, Java, Python and MapReduce.Streaming jobs as processes on the edpd host, \
                          each under a supervisor that outlives edpd restarts; streaming jobs run map and reduce \
                          tasks in parallel slots with a partitioned, spilling sort."
                .into(),
            job_types: JOB_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            cluster_config_schema: cluster::schema(),
            capabilities: Capabilities {
                suspend: false,
                logs: true,
                dry_run: true,
                callbacks: false,
                progress: true,
                status_hints: true,
            },
            // Exit notifications make a poll due at once; polling is the fallback.
            polling: PollingHints { initial_ms: 1_000, max_ms: 10_000 },
        }
    }

    /// Every job of this engine is a process on edpd's host.
    fn placement(&self, _cluster: &ClusterSpec) -> Result<Placement> {
        Ok(Placement::Host)
    }

    async fn check_cluster(&self, cluster: ClusterSpec) -> Result<ClusterCheck> {
        let config = ClusterConfig::parse(&cluster.configs)?;
        let settings = self.settings.clone();
        blocking(move || Ok(config.check(&settings))).await
    }

    fn validate_now(&self, job: &JobRequest) -> Option<Result<Validated>> {
        // A streaming job's input and output paths are checked on disk, by
        // `validate`, off the host's thread.
        match command::plan(job, &self.settings) {
            Ok(plan) if plan.streaming.is_some() => None,
            Ok(plan) => Some(Ok(Validated { warnings: plan.warnings })),
            Err(e) => Some(Err(e)),
        }
    }

    async fn validate(&self, job: JobRequest) -> Result<Validated> {
        let plan = command::plan(&job, &self.settings)?;
        if let Some(spec) = plan.streaming.clone() {
            blocking(move || streaming::check_paths(&spec)).await?;
        }
        Ok(Validated { warnings: plan.warnings })
    }

    async fn run_job(&self, job: JobRequest) -> Result<Launched> {
        let plan = command::plan(&job, &self.settings)?;
        let dir = JobDir::new(plan.job_dir.clone());
        let runner_spec = plan.streaming.clone();
        // A repeated launch (after a crash) finds the runner's traces and
        // the output it created: only a first launch checks and writes,
        // which is when the supervisor runs this.
        let before = move |dir: &JobDir| match &runner_spec {
            Some(spec) => {
                streaming::check_paths(spec)?;
                streaming::write_spec(dir, spec)
            }
            None => Ok(()),
        };
        let (pid, status) = self.supervisor.start(&job.execution_id, plan.into_job(), before).await?;
        Ok(edp_supervised::job::launched(&job.execution_id, &dir, pid, status, Object::new()))
    }

    async fn find_job(&self, job: JobRequest) -> Result<Option<Launched>> {
        let plan = command::plan(&job, &self.settings)?;
        let dir = JobDir::new(plan.job_dir);
        let found = self.supervisor.find(&job.execution_id, &dir).await?;
        Ok(found
            .map(|(pid, status)| edp_supervised::job::launched(&job.execution_id, &dir, pid, status, Object::new())))
    }

    async fn get_job_status(&self, handle: JobHandle) -> Result<StatusReport> {
        let dir = self.job_dir(&handle)?;
        let report = self.supervisor.observe(&handle.execution_id, &dir).await?;
        Self::decorate(&handle, dir, report).await
    }

    fn known_status(&self, handle: &JobHandle) -> Option<StatusReport> {
        // A streaming job's report also carries its counters, read from
        // its directory.
        if handle.job_type == streaming::JOB_TYPE {
            return None;
        }
        self.supervisor.known_status(&handle.execution_id)
    }

    async fn cancel_job(&self, handle: JobHandle) -> Result<StatusReport> {
        let dir = self.job_dir(&handle)?;
        self.supervisor.cancel(&handle.execution_id, &dir, self.settings.kill_grace).await?;
        let report = self.supervisor.observe(&handle.execution_id, &dir).await?;
        Self::decorate(&handle, dir, report).await
    }

    async fn fetch_logs(&self, request: LogRequest) -> Result<LogChunk> {
        let dir = self.job_dir(&request.handle)?;
        let LogRequest { stream, offset, limit, .. } = request;
        blocking(move || logs::read(&dir, stream.as_deref(), offset, limit)).await
    }

    async fn dry_run(&self, job: JobRequest) -> Result<DryRun> {
        let plan = command::plan(&job, &self.settings)?;
        let files: BTreeMap<String, String> = plan
            .files
            .iter()
            .map(|(name, _)| (name.clone(), plan.job_dir.join(name).to_string_lossy().into_owned()))
            .collect();
        let mut request = json!({ "argv": plan.spec.argv, "cwd": plan.spec.cwd, "env": plan.spec.env });
        if let Some(spec) = &plan.streaming {
            request["mapreduce"] = json!(spec);
        }
        Ok(DryRun { kind: "argv".into(), request, files })
    }

    async fn delete_job(&self, handle: JobHandle) -> Result<()> {
        let dir = self.job_dir(&handle)?;
        blocking(move || dir.delete()).await
    }
}
