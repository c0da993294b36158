//! `example`: an engine plugin small enough to read in one sitting, showing
//! the contract every engine keeps (engine-api/README.md is the guide).
//!
//! It runs `Echo` jobs: each argument becomes a line of the job's log,
//! prefixed with the cluster's `greeting`; the job then lasts
//! `edp.example.seconds` and ends with `edp.example.exit_code` (0:
//! SUCCEEDED, else FAILED). Modest, but a real engine's shape:
//!
//! - **Stateless between calls.** Everything about a job lives in its
//!   directory, `<data dir>/jobs/<execution id>/` ([`job`]); any call,
//!   before or after an edpd restart, finds it there.
//! - **`run_job` is idempotent on the execution id**: the directory is
//!   created at most once, and a repeated call answers the job it finds.
//! - **Status, cancel, logs** read and write that directory; cancel is
//!   answered with the status the host then confirms by polling.
//! - **Status hints** tell edpd when a job ends, so it polls at once rather
//!   than at its next backoff step.
//! - **Secrets**: the cluster's `token` is `writeOnly` in the schema, so
//!   edpd never shows it; the engine never logs it.

mod job;

use std::path::PathBuf;
use std::time::Duration;

use edp_engine_api::plugin::{Engine, EngineContext, Error, HostHandle, Result, blocking};
use edp_engine_api::serde_json::{Value, json};
use edp_engine_api::wire::{
    Capabilities, ClusterCheck, ClusterSpec, DryRun, EngineDescription, JobHandle, JobRequest, Launched, LogChunk,
    LogRequest, PollingHints, StatusReport, Validated,
};

use job::{JobDir, Spec};

pub const JOB_TYPE: &str = "Echo";

pub struct ExampleEngine {
    /// `<data dir>/jobs`: one directory per execution.
    jobs: PathBuf,
    /// `[engines.example] max_seconds` in edpd's configuration.
    max_seconds: u64,
    host: HostHandle,
}

impl ExampleEngine {
    /// The job's request → what to run, or why not. Validate, dry-run and
    /// launch all go through here, so they never disagree.
    fn spec(&self, job: &JobRequest) -> Result<Spec> {
        if job.job_type != JOB_TYPE {
            return Err(Error::unsupported(format!("the example engine runs {JOB_TYPE} jobs, not {}", job.job_type)));
        }
        let greeting = Cluster::parse(&job.cluster)?.greeting;
        Spec::parse(job, &greeting, self.max_seconds)
    }

    fn dir(&self, execution_id: &str) -> Result<JobDir> {
        JobDir::new(&self.jobs, execution_id)
    }
}

impl Engine for ExampleEngine {
    const ID: &'static str = "example";

    /// Runs once, when edpd loads the library, on a thread of edpd's loader
    /// under its load timeout: keep it short, never wait on the network.
    fn new(ctx: EngineContext) -> Result<Self> {
        let max_seconds = match ctx.settings.settings.get("max_seconds") {
            None => 600,
            Some(v) => v.as_u64().ok_or_else(|| Error::invalid_input("max_seconds must be a whole number"))?,
        };
        let jobs = ctx.settings.data_dir.join("jobs");
        std::fs::create_dir_all(&jobs).map_err(|e| Error::fatal(format!("cannot create {}: {e}", jobs.display())))?;
        Ok(Self { jobs, max_seconds, host: ctx.host })
    }

    fn describe(&self) -> EngineDescription {
        EngineDescription {
            id: Self::ID.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title: "Example".into(),
            description: "Echo jobs: each argument a line of the log; the job lasts edp.example.seconds.".into(),
            job_types: vec![JOB_TYPE.into()],
            cluster_config_schema: Cluster::schema(),
            capabilities: Capabilities { logs: true, dry_run: true, ..Capabilities::default() },
            // Status hints say when a job ends; polls are the fallback.
            polling: PollingHints { initial_ms: 500, max_ms: 5_000 },
        }
    }

    async fn check_cluster(&self, cluster: ClusterSpec) -> Result<ClusterCheck> {
        let cluster = Cluster::parse(&cluster)?;
        // A real engine would reach its backend here (with the token) and
        // answer `ok: false` with the reason when it cannot.
        let mut info = edp_engine_api::wire::Object::new();
        info.insert("greeting".into(), Value::String(cluster.greeting));
        Ok(ClusterCheck { ok: true, reason: None, info })
    }

    async fn validate(&self, job: JobRequest) -> Result<Validated> {
        let spec = self.spec(&job)?;
        let warnings = if spec.lines.is_empty() { vec!["no args: the log will be empty".into()] } else { vec![] };
        Ok(Validated { warnings })
    }

    async fn run_job(&self, job: JobRequest) -> Result<Launched> {
        let spec = self.spec(&job)?;
        let dir = self.dir(&job.execution_id)?;
        let (started, now) = blocking(move || dir.start_once(&spec)).await?;
        if now {
            edp_engine_api::tracing::info!(execution = %job.execution_id, seconds = started.seconds(), "echo job started");
            hint_at_end(self.host.clone(), job.execution_id.clone(), started.left());
        }
        Ok(Launched {
            engine_job_id: job.execution_id,
            status: edp_engine_api::wire::JobStatus::Running,
            // What later calls need is in the job's directory, so the
            // handle needs no `extra`.
            extra: Value::Null,
            info: Default::default(),
        })
    }

    async fn get_job_status(&self, handle: JobHandle) -> Result<StatusReport> {
        let dir = self.dir(&handle.execution_id)?;
        blocking(move || dir.status()).await
    }

    async fn cancel_job(&self, handle: JobHandle) -> Result<StatusReport> {
        let dir = self.dir(&handle.execution_id)?;
        blocking(move || dir.cancel()).await
    }

    async fn fetch_logs(&self, request: LogRequest) -> Result<LogChunk> {
        let dir = self.dir(&request.handle.execution_id)?;
        blocking(move || dir.log(request.stream.as_deref(), request.offset, request.limit)).await
    }

    async fn dry_run(&self, job: JobRequest) -> Result<DryRun> {
        let spec = self.spec(&job)?;
        let dir = self.dir(&job.execution_id)?;
        Ok(DryRun {
            kind: "echo".into(),
            request: json!({"lines": spec.lines, "seconds": spec.seconds, "exit_code": spec.exit_code}),
            files: [("stdout".to_string(), dir.log_path().display().to_string())].into(),
        })
    }

    async fn delete_job(&self, handle: JobHandle) -> Result<()> {
        let dir = self.dir(&handle.execution_id)?;
        blocking(move || dir.remove()).await
    }
}

/// Tells edpd when the job ends. A thread that sleeps is plenty for an
/// example; an engine with many jobs would keep one timer for all of them.
/// After an edpd restart the hint is lost, and polling finds the end.
fn hint_at_end(host: HostHandle, execution_id: String, left: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(left);
        host.status_hint(&execution_id);
    });
}

/// A cluster's `cluster_configs` on this engine.
struct Cluster {
    greeting: String,
}

impl Cluster {
    /// JSON Schema of `cluster_configs`. `writeOnly` marks a secret: edpd
    /// never returns it (GET /v2/clusters shows it blanked).
    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "greeting": {"type": "string", "maxLength": 100, "description": "Put before every line."},
                "token": {"type": "string", "writeOnly": true,
                          "description": "Stands for the credentials a real engine uses to reach its backend."}
            }
        })
    }

    /// What edpd passes is whatever the user sent: check it here. An
    /// `INVALID_INPUT` error refuses the registration with a 400.
    fn parse(cluster: &ClusterSpec) -> Result<Self> {
        let mut greeting = String::new();
        for (key, value) in &cluster.configs {
            match (key.as_str(), value) {
                ("greeting", Value::String(s)) if s.chars().count() <= 100 => greeting = s.clone(),
                ("greeting", _) => return Err(Error::invalid_input("greeting must be a string of at most 100")),
                ("token", Value::String(_)) => {}
                ("token", _) => return Err(Error::invalid_input("token must be a string")),
                (other, _) => return Err(Error::invalid_input(format!("unknown cluster config `{other}`"))),
            }
        }
        Ok(Self { greeting })
    }
}

// The library's root module: what edpd looks up when it loads the file.
edp_engine_api::export_engine!(ExampleEngine);
