//! Dry runs: what a launch would submit, rendered by the engine, with
//! nothing stored, staged or submitted. A dry run answers on a cluster in
//! `Error` too (saying so), and takes its template inline as well as by id,
//! so a client can ask before anything exists (`edp submit --dry-run`).
//!
//! Nothing is written but placeholders in a scratch directory removed when
//! the call ends: engines render paths, not content, so no binary's bytes
//! are read or copied (see `request::Staging::Placeholders`).

use edp_engine_api::wire::{DataSource, DryRun, Object};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Edp;
use crate::catalog::{clusters, data_sources, job_binaries, job_templates};
use crate::error::{Error, Result, not_found_as};
use crate::redact::Secrets;
use crate::scope::Scope;
use crate::{host, interface, job_types, validate};

use super::api::{JobConfigs, refused};
use super::request::{self, Parts, Source, Staging, expand};

/// A launch's body, whose template, binaries and data sources may be given
/// inline instead of by id.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct DryRunJob {
    /// A stored template, or
    #[serde(default)]
    pub job_template_id: Option<String>,
    /// one given inline (exactly one of the two).
    #[serde(default)]
    pub job_template: Option<InlineTemplate>,
    pub cluster_id: String,
    #[serde(default)]
    pub input_id: Option<String>,
    #[serde(default)]
    pub output_id: Option<String>,
    /// A data source given inline, instead of `input_id`.
    #[serde(default)]
    pub input: Option<InlineDataSource>,
    #[serde(default)]
    pub output: Option<InlineDataSource>,
    #[serde(default)]
    pub job_configs: JobConfigs,
    #[serde(default)]
    pub interface: Option<Object>,
    /// Accepted so that any launch body dry-runs unchanged.
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub is_protected: bool,
}

/// A job template as `POST /v2/job-templates` takes it, but never stored.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct InlineTemplate {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub mains: Vec<InlineBinary>,
    #[serde(default)]
    pub libs: Vec<InlineBinary>,
    #[serde(default)]
    pub interface: Vec<Value>,
    #[serde(default)]
    pub description: String,
}

/// A binary of an inline template: a stored job binary's id (a string, as
/// templates list them), or `{"name", "url"?}` for one that is not stored:
/// `url` is `internal-db://<id>`, `file:///path` (on edpd's machine) or
/// `hdfs://...`; without `url`, a file the client has and would upload.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(try_from = "Value", untagged)]
pub enum InlineBinary {
    Stored(String),
    Given { name: String, url: Option<String> },
}

impl TryFrom<Value> for InlineBinary {
    type Error = String;

    fn try_from(value: Value) -> std::result::Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Given {
            name: String,
            #[serde(default)]
            url: Option<String>,
        }
        match value {
            Value::String(id) => Ok(Self::Stored(id)),
            object @ Value::Object(_) => serde_json::from_value::<Given>(object)
                .map(|g| Self::Given { name: g.name, url: g.url })
                .map_err(|e| format!("a job binary given inline is {{\"name\", \"url\"}} ({e})")),
            _ => Err("a job binary is its id (a string) or {\"name\", \"url\"}".into()),
        }
    }
}

/// A data source as `POST /v2/data-sources` takes it, but never stored.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct InlineDataSource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

/// The engine's rendering, with what a user should know before launching.
#[derive(Serialize, Debug)]
pub struct DryRunAnswer {
    #[serde(flatten)]
    pub dry_run: DryRun,
    /// The cluster's status as registered: a dry run renders on a cluster
    /// in `Error` too, where a launch would be refused.
    pub cluster_status: String,
    /// The cluster's problem, and the engine's warnings about the job.
    pub warnings: Vec<String>,
}

/// What a launch would submit, in the engine's own terms.
pub async fn dry_run(edp: &Edp, scope: &Scope, job: DryRunJob) -> Result<DryRunAnswer> {
    job.job_configs.check()?;
    let execution_id = uuid::Uuid::new_v4().to_string();
    let cluster = clusters::find(edp, scope, &job.cluster_id)
        .await
        .map_err(not_found_as(|| Error::InvalidReference(format!("cluster {} not found", job.cluster_id))))?;
    host::check_cluster(scope, &cluster)?;
    let mut warnings = Vec::new();
    if cluster.status != clusters::ACTIVE {
        // No re-check: it would write the cluster's row and wait on the
        // backend; a launch checks again.
        warnings.push(format!(
            "cluster `{}` is in status {}: {}; a launch checks it again and is refused while it stays so",
            cluster.name,
            cluster.status,
            cluster.status_description.as_deref().unwrap_or("no reason given")
        ));
    }

    let template = match (&job.job_template_id, job.job_template) {
        (Some(id), None) => {
            let row = job_templates::find(edp, scope, id)
                .await
                .map_err(not_found_as(|| Error::InvalidReference(format!("job template {id} not found"))))?;
            let (mains, libs) = request::template_binaries(edp, scope, &row).await?;
            Template { kind: row.kind, name: row.name, interface: row.interface, mains, libs }
        }
        (None, Some(inline)) => Template::inline(edp, scope, inline).await?,
        _ => {
            return Err(Error::Validation(
                "give job_template_id (a stored template) or job_template (one inline), exactly one of them".into(),
            ));
        }
    };
    let engine = request::engine_for(edp, &cluster, &template.kind)?;
    let input = data_source(edp, scope, "input", job.input_id, job.input, &execution_id).await?;
    let output = data_source(edp, scope, "output", job.output_id, job.output, &execution_id).await?;

    let scratch = tempfile::Builder::new()
        .prefix("edp-dry-run-")
        .tempdir()
        .map_err(|e| Error::Internal(format!("cannot make a scratch directory for a dry run: {e}")))?;
    let parts = Parts {
        kind: &template.kind,
        name: &template.name,
        interface: &template.interface,
        cluster: &cluster,
        engine: &engine,
        input,
        output,
        mains: template.mains,
        libs: template.libs,
        job_configs: &job.job_configs,
        given: job.interface.as_ref(),
    };
    let assembled = request::assemble(edp, scope, &execution_id, parts, Staging::Placeholders(scratch.path())).await?;
    let client = edp.engines().client(&assembled.engine).ok_or_else(|| Error::Internal("engine vanished".into()))?;
    let timeout = edp.settings().call_timeout;
    let validated = client.validate(&assembled.request, timeout).await.map_err(refused)?;
    let dry_run = client.dry_run(&assembled.request, timeout).await.map_err(refused)?;
    warnings.extend(validated.warnings);
    let secrets = &assembled.secrets;
    let warnings = warnings.iter().map(|w| secrets.scrub_str(w)).collect();
    Ok(DryRunAnswer { dry_run: scrub(dry_run, secrets), cluster_status: cluster.status, warnings })
}

/// A dry run as users may see it: engines render secrets into what they
/// would run (`--keytab`, `--conf …secret.key=`); those are masked.
fn scrub(mut dry: DryRun, secrets: &Secrets) -> DryRun {
    secrets.scrub(&mut dry.request);
    dry.files =
        dry.files.into_iter().map(|(name, place)| (secrets.scrub_str(&name), secrets.scrub_str(&place))).collect();
    dry
}

/// A template's parts, stored or inline.
struct Template {
    kind: String,
    name: String,
    interface: Value,
    mains: Vec<Source>,
    libs: Vec<Source>,
}

impl Template {
    /// Checked as `POST /v2/job-templates` checks it, less uniqueness.
    async fn inline(edp: &Edp, scope: &Scope, t: InlineTemplate) -> Result<Self> {
        validate::name("job template", &t.name, 50)?;
        validate::description(&t.description)?;
        if let Some((mains, libs)) = job_types::binaries(&t.kind) {
            job_templates::count_rule(&t.kind, "mains", mains, t.mains.len())?;
            job_templates::count_rule(&t.kind, "libs", libs, t.libs.len())?;
        }
        let interface = interface::check(&t.kind, t.interface)?;
        let sources = |list: Vec<InlineBinary>| async move {
            let mut out = Vec::with_capacity(list.len());
            for binary in list {
                out.push(match binary {
                    InlineBinary::Stored(id) => Source::Stored(
                        job_binaries::find(edp, scope, &id)
                            .await
                            .map_err(not_found_as(|| Error::InvalidReference(format!("job binary {id} not found"))))?,
                    ),
                    InlineBinary::Given { name, url } => Source::Given { name, url },
                });
            }
            Ok::<_, Error>(out)
        };
        let mains = sources(t.mains).await?;
        let libs = sources(t.libs).await?;
        Ok(Self { kind: t.kind, name: t.name, interface, mains, libs })
    }
}

/// A stored data source by id, or one given inline (checked as
/// `POST /v2/data-sources` checks it; its id is made up, as the execution's).
async fn data_source(
    edp: &Edp,
    scope: &Scope,
    role: &str,
    id: Option<String>,
    inline: Option<InlineDataSource>,
    execution_id: &str,
) -> Result<Option<DataSource>> {
    match (id, inline) {
        (Some(_), Some(_)) => Err(Error::Validation(format!("give {role}_id or {role}, not both"))),
        (id, None) => request::data_source(edp, scope, role, id.as_deref(), execution_id).await,
        (None, Some(ds)) => {
            validate::name("data source", &ds.name, 50)?;
            data_sources::check_url(edp, &ds.kind, &ds.url)?;
            Ok(Some(DataSource {
                id: uuid::Uuid::new_v4().to_string(),
                name: ds.name,
                kind: ds.kind,
                url: expand(&ds.url, execution_id),
            }))
        }
    }
}
