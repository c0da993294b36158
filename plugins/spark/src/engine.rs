//! The `spark` engine: what each operation of the SDK's `Engine` does, in
//! terms of the planning (`plan`), the supervised spark-submit (`submit`,
//! on `edp_supervised`) and the standalone master (`standalone`, `rest`).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use edp_engine_api::plugin::{Engine, EngineContext, Error, Result, blocking};
use edp_engine_api::wire::{
    Capabilities, ClusterCheck, ClusterSpec, DryRun, EngineDescription, JobHandle, JobRequest, JobStatus, Launched,
    LogChunk, LogRequest, Object, Placement, StatusReport, Validated,
};
use edp_supervised::job as supervised;
use edp_supervised::{JOB_DIR_KEY, JobDir, JobSpec, LaunchPlan, Watcher, cancel, launch, layout, logs};
use serde_json::{Value, json};

use crate::check;
use crate::cluster::{ClusterConfig, SubmitMode};
use crate::plan::{self, JOB_TYPE, Plan, Submission, Tracking};
use crate::rest::Http;
use crate::settings::Settings;
use crate::standalone::{self, Driver, io_error};
use crate::submit::{self, SUBMIT_STREAMS};

const MODE_KEY: &str = "mode";
const DRIVER_KEY: &str = "driver_id";
const WORKER_UI_KEY: &str = "worker_ui";

pub struct SparkEngine {
    settings: Settings,
    http: Http,
    watcher: Watcher,
}

/// A launched job as its handle tells it.
struct Tracked {
    tracking: Tracking,
    cluster: ClusterConfig,
    dir: JobDir,
    driver_id: Option<String>,
    worker_ui: Option<String>,
    extra: Value,
}

impl Tracked {
    /// `extra` with what was learnt, when something was.
    fn learnt(&self, driver_id: Option<&str>, worker_ui: Option<&str>) -> Option<Value> {
        let new_driver = driver_id.filter(|d| self.driver_id.as_deref() != Some(*d));
        let new_ui = worker_ui.filter(|u| self.worker_ui.as_deref() != Some(*u));
        if new_driver.is_none() && new_ui.is_none() {
            return None;
        }
        let mut extra = self.extra.clone();
        if !extra.is_object() {
            extra = json!({});
        }
        if let Some(driver) = new_driver {
            extra[DRIVER_KEY] = json!(driver);
        }
        if let Some(ui) = new_ui {
            extra[WORKER_UI_KEY] = json!(ui);
        }
        Some(extra)
    }

    fn driver<'a>(&'a self, id: &'a str, cancel_requested: bool) -> Driver<'a> {
        Driver { cluster: &self.cluster, id, worker_ui: self.worker_ui.clone(), cancel_requested }
    }
}

impl SparkEngine {
    fn tracked(&self, handle: &JobHandle) -> Result<Tracked> {
        let cluster = ClusterConfig::parse(&handle.cluster.configs)?;
        let dir = match JobDir::recorded(handle)? {
            Some(dir) => dir,
            None => JobDir::in_work_dir(&cluster.work_dir(&self.settings.work_dir), &handle.execution_id)?,
        };
        let text = |key: &str| handle.extra.get(key).and_then(Value::as_str).map(str::to_owned);
        let tracking = text(MODE_KEY).as_deref().and_then(Tracking::parse).unwrap_or(match cluster.submit_mode {
            SubmitMode::Rest => Tracking::Rest,
            SubmitMode::SparkSubmit if cluster.standalone_cluster() => Tracking::SubmittedDriver,
            SubmitMode::SparkSubmit => Tracking::Process,
        });
        let mut driver_id = text(DRIVER_KEY);
        if driver_id.is_none() && tracking == Tracking::Rest && handle.engine_job_id.starts_with("driver-") {
            driver_id = Some(handle.engine_job_id.clone());
        }
        Ok(Tracked { tracking, cluster, dir, driver_id, worker_ui: text(WORKER_UI_KEY), extra: handle.extra.clone() })
    }

    /// Reads a spark-submit job's status and, for a supervisor found
    /// running (after an edpd restart, say), makes sure its exit is noticed.
    async fn observe(&self, execution_id: &str, dir: &JobDir) -> Result<StatusReport> {
        supervised::observe(&self.watcher, execution_id, dir).await
    }

    fn plan(&self, job: &JobRequest) -> Result<(ClusterConfig, Plan)> {
        let cluster = ClusterConfig::parse(&job.cluster.configs)?;
        let plan = plan::plan(job, &cluster, &self.settings.work_dir)?;
        Ok((cluster, plan))
    }

    async fn run_spark_submit(&self, job: &JobRequest, plan: Plan) -> Result<Launched> {
        let Submission::SparkSubmit { argv, env } = plan.submission else {
            return Err(Error::fatal("not a spark-submit plan"));
        };
        if !self.settings.supervisor.is_file() {
            return Err(Error::fatal(format!(
                "the job supervisor `{}` is missing: install it beside the plugin or set `supervisor` in [engines.spark]",
                self.settings.supervisor.display()
            )));
        }
        let dir = JobDir::new(plan.job_dir.clone());
        let launch_plan = LaunchPlan {
            job_dir: plan.job_dir.clone(),
            spec: JobSpec { argv, env, cwd: plan.job_dir.clone() },
            files: plan.files,
            supervisor: self.settings.supervisor.clone(),
        };
        let (pid, status) =
            supervised::start(&self.watcher, &job.execution_id, &dir, move || launch::launch(&launch_plan)).await?;
        Ok(spark_submit_launched(&job.execution_id, &dir, plan.tracking, pid, status))
    }

    async fn run_rest(&self, job: &JobRequest, cluster: &ClusterConfig, plan: Plan) -> Result<Launched> {
        let Submission::Rest { body, .. } = &plan.submission else {
            return Err(Error::fatal("not a REST plan"));
        };
        let dir = JobDir::new(plan.job_dir.clone());
        let stage_dir = dir.clone();
        let (files, generated) = (plan.files.clone(), plan.generated.clone());
        let staging = move || stage(&stage_dir, &files, &generated);
        let driver_id = standalone::submit_once(&self.http, cluster, &dir, &job.execution_id, body, staging).await?;
        Ok(rest_launched(&dir, driver_id))
    }

    /// The status of a job whose driver spark-submit submitted (standalone
    /// cluster mode).
    async fn submitted_status(&self, handle: &JobHandle, t: &Tracked) -> Result<StatusReport> {
        let mut observed = self.observe(&handle.execution_id, &t.dir).await?;
        let driver_id = match &t.driver_id {
            Some(id) => Some(id.clone()),
            None => submit::submitted_driver(&t.dir).await,
        };
        let Some(driver_id) = driver_id else {
            submit::explain(&t.dir, &mut observed).await;
            return Ok(submit::without_driver(observed));
        };
        let cancelled = handle.cancel_requested || t.dir.has(layout::CANCEL_REQUESTED);
        let (mut report, learnt) = t.driver(&driver_id, cancelled).report(&self.http).await?;
        report.info.insert("spark_submit".into(), json!(observed.status.as_str()));
        report.extra = t.learnt(Some(&driver_id), learnt.as_deref());
        Ok(report)
    }
}

/// `run_job`'s answer for a job spark-submit runs (or ran).
fn spark_submit_launched(
    execution_id: &str,
    dir: &JobDir,
    tracking: Tracking,
    pid: Option<u32>,
    status: JobStatus,
) -> Launched {
    let status =
        if tracking == Tracking::SubmittedDriver && status == JobStatus::Running { JobStatus::Prep } else { status };
    let mut extra = Object::new();
    extra.insert(MODE_KEY.into(), json!(tracking.as_str()));
    supervised::launched(execution_id, dir, pid, status, extra)
}

/// `run_job`'s answer for a driver submitted through the REST API.
fn rest_launched(dir: &JobDir, driver_id: String) -> Launched {
    let work_dir = dir.path().to_string_lossy().into_owned();
    let mut info = Object::new();
    info.insert("driver_id".into(), json!(driver_id));
    info.insert("work_dir".into(), json!(work_dir));
    Launched {
        engine_job_id: driver_id.clone(),
        status: JobStatus::Prep,
        extra: json!({ JOB_DIR_KEY: work_dir, MODE_KEY: Tracking::Rest.as_str(), DRIVER_KEY: driver_id }),
        info,
    }
}

impl Engine for SparkEngine {
    const ID: &'static str = "spark";

    fn new(ctx: EngineContext) -> Result<Self> {
        let settings = Settings::from_engine_settings(&ctx.settings)?;
        let watcher = Watcher::start(ctx.host, Self::ID)
            .map_err(|e| Error::fatal(format!("cannot start the exit watcher: {e}")))?;
        Ok(Self { http: Http::new(settings.clone()), settings, watcher })
    }

    fn describe(&self) -> EngineDescription {
        EngineDescription {
            id: Self::ID.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title: "Apache Spark".into(),
            description: "Runs Spark jobs (a jar or a PySpark app) with spark-submit on the edpd host, for any master \
                          and deploy mode, or through a standalone master's REST submission server."
                .into(),
            job_types: vec![JOB_TYPE.into()],
            cluster_config_schema: crate::cluster::schema(),
            capabilities: Capabilities {
                suspend: false,
                logs: true,
                dry_run: true,
                callbacks: false,
                progress: false,
                // spark-submit jobs run supervised, like local ones (a driver
                // it only submitted to a standalone master is `Watch::Polled`).
                status_hints: true,
            },
            polling: self.settings.polling,
        }
    }

    /// spark-submit runs on edpd's host (the driver too, in client mode);
    /// a REST submission only talks to the master.
    fn placement(&self, cluster: &ClusterSpec) -> Result<Placement> {
        Ok(match ClusterConfig::parse(&cluster.configs)?.submit_mode {
            SubmitMode::SparkSubmit => Placement::Host,
            SubmitMode::Rest => Placement::Remote,
        })
    }

    async fn check_cluster(&self, cluster: ClusterSpec) -> Result<ClusterCheck> {
        let config = ClusterConfig::parse(&cluster.configs)?;
        check::check(&config, &self.settings, &self.http).await
    }

    async fn validate(&self, job: JobRequest) -> Result<Validated> {
        let (_, plan) = self.plan(&job)?;
        Ok(Validated { warnings: plan.warnings })
    }

    async fn run_job(&self, job: JobRequest) -> Result<Launched> {
        let (cluster, plan) = self.plan(&job)?;
        match plan.tracking {
            Tracking::Rest => self.run_rest(&job, &cluster, plan).await,
            Tracking::Process | Tracking::SubmittedDriver => self.run_spark_submit(&job, plan).await,
        }
    }

    async fn find_job(&self, job: JobRequest) -> Result<Option<Launched>> {
        let (cluster, plan) = self.plan(&job)?;
        let dir = JobDir::new(plan.job_dir.clone());
        match plan.tracking {
            Tracking::Rest => {
                let found = standalone::find_submitted_driver(&self.http, &cluster, &dir, &job.execution_id).await?;
                Ok(found.map(|driver_id| rest_launched(&dir, driver_id)))
            }
            Tracking::Process | Tracking::SubmittedDriver => {
                let Some((pid, status)) = supervised::find(&self.watcher, &job.execution_id, &dir).await? else {
                    return Ok(None);
                };
                Ok(Some(spark_submit_launched(&job.execution_id, &dir, plan.tracking, pid, status)))
            }
        }
    }

    async fn get_job_status(&self, handle: JobHandle) -> Result<StatusReport> {
        let t = self.tracked(&handle)?;
        match t.tracking {
            Tracking::Process => {
                let mut report = self.observe(&handle.execution_id, &t.dir).await?;
                submit::explain(&t.dir, &mut report).await;
                Ok(report)
            }
            Tracking::SubmittedDriver => self.submitted_status(&handle, &t).await,
            Tracking::Rest => {
                let id = rest_driver(&t)?;
                let (report, learnt) = t.driver(id, handle.cancel_requested).report(&self.http).await?;
                Ok(StatusReport { extra: t.learnt(None, learnt.as_deref()), ..report })
            }
        }
    }

    async fn cancel_job(&self, handle: JobHandle) -> Result<StatusReport> {
        let t = self.tracked(&handle)?;
        match t.tracking {
            Tracking::Process => {
                cancel::cancel(&t.dir, self.settings.kill_grace).await?;
                let mut report = self.observe(&handle.execution_id, &t.dir).await?;
                submit::explain(&t.dir, &mut report).await;
                Ok(report)
            }
            Tracking::SubmittedDriver => {
                // A spark-submit still submitting is stopped first, so that
                // it names its driver (if it got that far) and no other.
                if !t.dir.has(layout::EXIT) {
                    cancel::cancel(&t.dir, self.settings.kill_grace).await?;
                }
                let driver_id = match &t.driver_id {
                    Some(id) => Some(id.clone()),
                    None => submit::submitted_driver(&t.dir).await,
                };
                match driver_id {
                    Some(id) => {
                        let mut report = t.driver(&id, true).kill(&self.http).await?;
                        report.extra = t.learnt(Some(&id), None);
                        Ok(report)
                    }
                    None => Ok(submit::without_driver(self.observe(&handle.execution_id, &t.dir).await?)),
                }
            }
            Tracking::Rest => t.driver(rest_driver(&t)?, true).kill(&self.http).await,
        }
    }

    async fn fetch_logs(&self, request: LogRequest) -> Result<LogChunk> {
        let t = self.tracked(&request.handle)?;
        let LogRequest { stream, offset, limit, .. } = request;
        match t.tracking {
            Tracking::Process => {
                let dir = t.dir.clone();
                blocking(move || logs::read(&dir, stream.as_deref(), offset, limit)).await
            }
            Tracking::SubmittedDriver => {
                let all = ["stdout", "stderr", SUBMIT_STREAMS[0], SUBMIT_STREAMS[1]];
                let stream = stream.unwrap_or_else(|| "stdout".into());
                if let Some(own) = stream.strip_prefix("spark-submit.") {
                    return submit::read_log(&t.dir, own, &stream, offset, limit, &all).await;
                }
                let driver_id = match &t.driver_id {
                    Some(id) => Some(id.clone()),
                    None => submit::submitted_driver(&t.dir).await,
                };
                let mut chunk = match driver_id {
                    Some(id) => t.driver(&id, false).logs(&self.http, &stream, offset, limit).await?.0,
                    None if standalone::STREAMS.contains(&stream.as_str()) => LogChunk {
                        stream: stream.clone(),
                        streams: Vec::new(),
                        offset,
                        next_offset: offset,
                        data: String::new(),
                        complete: t.dir.has(layout::EXIT),
                    },
                    None => {
                        return Err(Error::invalid_input(format!(
                            "no log stream `{stream}`; there are {}",
                            all.join(", ")
                        )));
                    }
                };
                chunk.streams = all.iter().map(|s| (*s).to_owned()).collect();
                Ok(chunk)
            }
            Tracking::Rest => {
                let stream = stream.unwrap_or_else(|| "stdout".into());
                Ok(t.driver(rest_driver(&t)?, false).logs(&self.http, &stream, offset, limit).await?.0)
            }
        }
    }

    async fn dry_run(&self, job: JobRequest) -> Result<DryRun> {
        let (_, plan) = self.plan(&job)?;
        let mut files: BTreeMap<String, String> = plan
            .files
            .iter()
            .map(|(name, _)| (name.clone(), plan.job_dir.join(name).to_string_lossy().into_owned()))
            .collect();
        for (name, _) in &plan.generated {
            files.insert((*name).to_owned(), plan.job_dir.join(name).to_string_lossy().into_owned());
        }
        let (kind, request) = match plan.submission {
            Submission::SparkSubmit { argv, env } => (
                "spark-submit",
                json!({
                    "argv": argv,
                    "env": env,
                    "cwd": plan.job_dir,
                    "execution_id": job.execution_id,
                    "tracking": plan.tracking.as_str(),
                }),
            ),
            Submission::Rest { url, body } => {
                ("rest", json!({"method": "POST", "url": url, "body": body, "execution_id": job.execution_id}))
            }
        };
        Ok(DryRun { kind: kind.into(), request, files })
    }

    async fn delete_job(&self, handle: JobHandle) -> Result<()> {
        let t = self.tracked(&handle)?;
        let dir = t.dir.clone();
        match t.tracking {
            Tracking::Process | Tracking::SubmittedDriver => blocking(move || dir.delete()).await,
            Tracking::Rest => {
                blocking(move || match fs::remove_dir_all(dir.path()) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(dir.path(), e)),
                    _ => Ok(()),
                })
                .await
            }
        }
    }
}

fn rest_driver(t: &Tracked) -> Result<&str> {
    t.driver_id.as_deref().ok_or_else(|| Error::not_found("the job's handle names no driver"))
}

/// Links (else copies) the binaries into the job directory and writes the
/// engine's own files there.
fn stage(dir: &JobDir, files: &[(String, PathBuf)], generated: &[(&str, &str)]) -> Result<()> {
    for (name, source) in files {
        // Linked (or copied) beside, then renamed over: a file the job
        // directory already has is replaced at once, never missing.
        let target = dir.file(name);
        let tmp = dir.file(&format!(".{name}.staging"));
        let _ = fs::remove_file(&tmp);
        fs::hard_link(source, &tmp)
            .or_else(|_| fs::copy(source, &tmp).map(drop))
            .and_then(|()| fs::rename(&tmp, &target))
            .map_err(|e| Error::fatal(format!("job binary `{name}`: cannot stage `{}`: {e}", source.display())))?;
        // Left behind when both already named the same file.
        let _ = fs::remove_file(&tmp);
    }
    for (name, content) in generated {
        layout::write_atomic(dir.path(), name, content.as_bytes()).map_err(|e| io_error(&dir.file(name), e))?;
    }
    Ok(())
}
