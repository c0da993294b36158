//! The `oozie` engine: what each operation of the SDK's `Engine` does, in
//! terms of the modules that do the work. Stateless: a job's Oozie id is its
//! `engine_job_id`, its app directory is in `extra`.

use std::collections::BTreeMap;

use edp_engine_api::plugin::{Engine, EngineContext, Error, Result};
use edp_engine_api::wire::{
    Capabilities, ClusterCheck, ClusterSpec, DryRun, EngineDescription, JobHandle, JobRequest, JobStatus, Launched,
    LogChunk, LogRequest, StatusReport, Validated,
};
use serde_json::{Value, json};

use crate::cluster::{self, ClusterConfig};
use crate::http::Http;
use crate::oozie::{Manage, Oozie};
use crate::plan::{self, JOB_TYPES, Plan};
use crate::settings::Settings;
use crate::webhdfs::WebHdfs;
use crate::xml;
use crate::{check, logs, status};

pub struct OozieEngine {
    http: Http,
}

/// What a job needs later, kept in the execution's `extra`.
fn extra(plan: &Plan) -> Value {
    json!({ "app_dir": plan.app_dir, "app_path": plan.app_path, "app_name": plan.app_name })
}

fn app_path(handle: &JobHandle) -> Option<&str> {
    handle.extra.get("app_path").and_then(Value::as_str)
}

impl OozieEngine {
    /// The status now: `show=status` while it runs, `show=info` at the end.
    async fn report(&self, cluster: &ClusterConfig, handle: &JobHandle) -> Result<StatusReport> {
        let oozie = Oozie::new(&self.http, cluster);
        let id = &handle.engine_job_id;
        let now = oozie.status(id).await?;
        if !status::is_terminal(&now) {
            return status::running(id, &now, app_path(handle));
        }
        let info = oozie.info(id).await?;
        status::finished(&info, handle.cancel_requested, app_path(handle))
    }

    /// Suspend or resume, then read back what Oozie did: it answers 200
    /// even when the job was in no state for it.
    async fn suspend_or_resume(&self, handle: JobHandle, action: Manage, wanted: JobStatus) -> Result<StatusReport> {
        let cluster = ClusterConfig::parse(&handle.cluster.configs)?;
        Oozie::new(&self.http, &cluster).manage(&handle.engine_job_id, action).await?;
        let report = self.report(&cluster, &handle).await?;
        if report.status != wanted && !report.status.is_terminal() {
            return Err(Error::invalid_input(format!(
                "Oozie left workflow {} {} (it cannot {action:?} a job in that state)",
                handle.engine_job_id,
                report.status.as_str()
            )));
        }
        Ok(report)
    }
}

impl Engine for OozieEngine {
    const ID: &'static str = "oozie";

    fn new(ctx: EngineContext) -> Result<Self> {
        Ok(Self { http: Http::new(Settings::from_engine_settings(&ctx.settings)?) })
    }

    fn describe(&self) -> EngineDescription {
        EngineDescription {
            id: Self::ID.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title: "Apache Oozie".into(),
            description:
                "Runs Sahara's Hadoop job types as Oozie workflows: the workflow and the job's binaries go to \
                          HDFS through WebHDFS, the workflow is submitted through Oozie's web services API v2, and \
                          Oozie's notifications make status changes show at once."
                    .into(),
            job_types: JOB_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            cluster_config_schema: cluster::schema(),
            capabilities: Capabilities {
                suspend: true,
                logs: true,
                dry_run: true,
                callbacks: true,
                progress: false,
                status_hints: false,
            },
            polling: self.http.settings().polling,
        }
    }

    async fn check_cluster(&self, cluster: ClusterSpec) -> Result<ClusterCheck> {
        let config = ClusterConfig::parse(&cluster.configs)?;
        Ok(check::check(&self.http, &config).await)
    }

    async fn validate(&self, job: JobRequest) -> Result<Validated> {
        let cluster = ClusterConfig::parse(&job.cluster.configs)?;
        let plan = plan::plan(&job, &cluster)?;
        Ok(Validated { warnings: plan.warnings })
    }

    async fn run_job(&self, job: JobRequest) -> Result<Launched> {
        let cluster = ClusterConfig::parse(&job.cluster.configs)?;
        let plan = plan::plan(&job, &cluster)?;
        let oozie = Oozie::new(&self.http, &cluster);

        // Submitted before (a launch cut short after Oozie took it)? The
        // workflow's name holds the execution id.
        if let Some(found) = oozie.find_by_name(&plan.app_name).await?.into_iter().next() {
            tracing::info!(execution = %job.execution_id, oozie_id = %found.id, "the workflow was submitted before");
            if found.status == "PREP" {
                oozie.manage(&found.id, Manage::Start).await?;
            }
            let handle = JobHandle {
                execution_id: job.execution_id.clone(),
                engine_job_id: found.id.clone(),
                job_type: job.job_type.clone(),
                cluster: job.cluster.clone(),
                extra: extra(&plan),
                cancel_requested: false,
            };
            let report = self.report(&cluster, &handle).await?;
            return Ok(Launched {
                engine_job_id: found.id,
                status: report.status,
                extra: extra(&plan),
                info: report.info,
            });
        }

        let hdfs = WebHdfs::new(&self.http, &cluster);
        hdfs.mkdirs(&format!("{}/lib", plan.app_dir)).await?;
        for upload in &plan.uploads {
            hdfs.create_from_file(&upload.path, &upload.local).await?;
        }
        hdfs.create(&plan.workflow_path(), plan.workflow_xml.clone().into_bytes()).await?;
        let id = oozie.submit(xml::configuration(&plan.properties).document()).await?;
        tracing::info!(execution = %job.execution_id, oozie_id = %id, "workflow submitted");
        let report = status::running(&id, "RUNNING", Some(&plan.app_path))?;
        Ok(Launched { engine_job_id: id, status: JobStatus::Running, extra: extra(&plan), info: report.info })
    }

    async fn get_job_status(&self, handle: JobHandle) -> Result<StatusReport> {
        let cluster = ClusterConfig::parse(&handle.cluster.configs)?;
        self.report(&cluster, &handle).await
    }

    async fn cancel_job(&self, handle: JobHandle) -> Result<StatusReport> {
        let cluster = ClusterConfig::parse(&handle.cluster.configs)?;
        let oozie = Oozie::new(&self.http, &cluster);
        // A finished job is left alone (Oozie would ignore the kill anyway).
        if !status::is_terminal(&oozie.status(&handle.engine_job_id).await?) {
            oozie.manage(&handle.engine_job_id, Manage::Kill).await?;
        }
        self.report(&cluster, &handle).await
    }

    async fn suspend_job(&self, handle: JobHandle) -> Result<StatusReport> {
        self.suspend_or_resume(handle, Manage::Suspend, JobStatus::Suspended).await
    }

    async fn resume_job(&self, handle: JobHandle) -> Result<StatusReport> {
        self.suspend_or_resume(handle, Manage::Resume, JobStatus::Running).await
    }

    async fn fetch_logs(&self, request: LogRequest) -> Result<LogChunk> {
        if let Some(stream) = request.stream.as_deref().filter(|s| *s != logs::STREAM) {
            return Err(Error::invalid_input(format!("no log stream `{stream}`; there is {}", logs::STREAM)));
        }
        let cluster = ClusterConfig::parse(&request.handle.cluster.configs)?;
        let oozie = Oozie::new(&self.http, &cluster);
        let id = &request.handle.engine_job_id;
        // The status first: a log read after the job ended is complete.
        let ended = oozie.status(id).await.map(|s| status::is_terminal(&s)).unwrap_or(false);
        let text = oozie.log(id).await?;
        logs::chunk(&text, request.offset, request.limit, ended)
    }

    async fn dry_run(&self, job: JobRequest) -> Result<DryRun> {
        let cluster = ClusterConfig::parse(&job.cluster.configs)?;
        let plan = plan::plan(&job, &cluster)?;
        let mut files = BTreeMap::new();
        files.insert("workflow.xml".to_string(), cluster.hdfs_uri(&plan.workflow_path()));
        for upload in &plan.uploads {
            let name = upload.path.strip_prefix(&format!("{}/", plan.app_dir)).unwrap_or(&upload.path);
            files.insert(name.to_string(), cluster.hdfs_uri(&upload.path));
        }
        let configuration: serde_json::Map<String, Value> =
            plan.properties.iter().map(|(k, v)| (k.clone(), Value::String(redact(k, v)))).collect();
        Ok(DryRun {
            kind: "workflow".into(),
            request: json!({
                "submit": format!("POST {}/v2/jobs?action=start", cluster.oozie_url),
                "app_name": plan.app_name,
                "app_path": plan.app_path,
                "workflow_xml": plan.workflow_xml,
                "configuration": configuration,
                "warnings": plan.warnings,
            }),
            files,
        })
    }

    /// - `output_exists` (`{url, cluster}` → `{exists}`): whether an `hdfs`
    ///   output already holds data, for flows that skip what exists;
    /// - `read_output` (`{url, cluster, offset, limit}` → `{data,
    ///   next_offset, complete}`): a page of an output directory's `part-*`
    ///   files, for previews of a job's result.
    async fn invoke(&self, op: String, payload: Value) -> Result<Value> {
        let url = payload["url"].as_str().ok_or_else(|| Error::invalid_input(format!("{op} needs `url`")))?;
        let cluster: ClusterSpec = serde_json::from_value(payload["cluster"].clone())
            .map_err(|e| Error::invalid_input(format!("{op} needs `cluster`: {e}")))?;
        let config = ClusterConfig::parse(&cluster.configs)?;
        let path = hdfs_path(url).ok_or_else(|| Error::invalid_input(format!("`{url}` is not an HDFS location")))?;
        let hdfs = WebHdfs::new(&self.http, &config);
        match op.as_str() {
            "output_exists" => Ok(json!({ "exists": hdfs.holds_data(path).await? })),
            "read_output" => {
                let offset = payload["offset"].as_u64().unwrap_or(0);
                let limit = payload["limit"].as_u64().unwrap_or(64 * 1024).clamp(1, READ_OUTPUT_MAX);
                let page = hdfs.read_parts(path, offset, limit).await?;
                let (data, used) = text_prefix(&page.bytes, offset + page.bytes.len() as u64 >= page.total);
                let next_offset = offset + used as u64;
                Ok(json!({ "data": data, "next_offset": next_offset, "complete": next_offset >= page.total }))
            }
            _ => Err(Error::unsupported(format!("engine `oozie` has no operation `{op}`"))),
        }
    }

    async fn delete_job(&self, handle: JobHandle) -> Result<()> {
        let Some(app_dir) = handle.extra.get("app_dir").and_then(Value::as_str) else { return Ok(()) };
        let cluster = ClusterConfig::parse(&handle.cluster.configs)?;
        WebHdfs::new(&self.http, &cluster).delete(app_dir).await
    }
}

/// The callback's token is a secret: a dry run shows where it would go,
/// not the token.
fn redact(key: &str, value: &str) -> String {
    if key != "oozie.wf.workflow.notification.url" {
        return value.to_string();
    }
    let Some((base, query)) = value.split_once('?') else { return value.to_string() };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=REDACTED".to_string(),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// The most `read_output` reads at once: previews, not downloads.
const READ_OUTPUT_MAX: u64 = 4 * 1024 * 1024;

/// The longest prefix of `bytes` that does not end inside a character
/// (unless the output ends there), as text, and how many bytes it took.
fn text_prefix(bytes: &[u8], at_end: bool) -> (String, usize) {
    let used = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() && !at_end => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    (String::from_utf8_lossy(&bytes[..used]).into_owned(), used)
}

/// The path of `hdfs://host[:port]/path` or of a bare `/path`.
fn hdfs_path(url: &str) -> Option<&str> {
    match url.strip_prefix("hdfs://") {
        Some(rest) => rest.find('/').map(|i| &rest[i..]),
        None => url.starts_with('/').then_some(url),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn the_callback_token_is_redacted() {
        assert_eq!(
            redact("oozie.wf.workflow.notification.url", "http://e/v2/jobs/1/callback?token=abc&status=$status"),
            "http://e/v2/jobs/1/callback?token=REDACTED&status=$status"
        );
        assert_eq!(redact("nameNode", "token=x"), "token=x");
    }
}
