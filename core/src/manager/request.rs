//! Turning a launch request into what the engine gets: the template's
//! binaries staged as local files, data-source URLs with their placeholders
//! expanded, interface values merged into the configs.

use std::path::{Path, PathBuf};

use edp_engine_api::host::LoadedEngine;
use edp_engine_api::wire::{Binary, Callback, DataSource, JobRequest, Object};
use rand::Rng;
use serde_json::Value;

use crate::Edp;
use crate::catalog::job_binaries::{self, Location};
use crate::catalog::{clusters, data_sources, job_templates};
use crate::entity::{cluster, data_source, job_binary, job_binary_internal, job_template};
use crate::error::{Error, Result, not_found_as};
use crate::redact::Secrets;
use crate::scope::Scope;
use crate::{host, interface, validate};

use super::api::{JobConfigs, NewJob};

/// Everything a launch resolved, ready to validate and store.
pub(crate) struct Resolved {
    pub template: job_template::Model,
    pub cluster: cluster::Model,
    pub engine: String,
    pub request: JobRequest,
    pub job_configs: Value,
    pub data_source_urls: Value,
    /// The secret an engine's callback must present, when it gets one.
    pub callback_token: Option<String>,
    /// The launch's `interface` values as shown: secret ones blanked.
    pub shown_interface: Value,
    /// Values no response may show (`redact::Secrets`).
    pub secrets: Secrets,
}

pub(crate) async fn resolve(edp: &Edp, scope: &Scope, execution_id: &str, new: &NewJob) -> Result<Resolved> {
    // Everything the request names, looked up at once: on Postgres each is
    // a round trip, on a connection of its own (on SQLite all run on this
    // thread, one after the other). What is found is used, and its errors
    // told, in the order of the checks below; the template's binaries,
    // read by the id given, only once the template is one the caller sees.
    let (template, cluster, binaries, input, output) = tokio::join!(
        job_templates::find(edp, scope, &new.job_template_id),
        clusters::find(edp, scope, &new.cluster_id),
        job_templates::binaries(edp, &new.job_template_id),
        data_source(edp, scope, "input", new.input_id.as_deref(), execution_id),
        data_source(edp, scope, "output", new.output_id.as_deref(), execution_id)
    );
    let template = template
        .map_err(not_found_as(|| Error::InvalidReference(format!("job template {} not found", new.job_template_id))))?;
    let mut cluster =
        cluster.map_err(not_found_as(|| Error::InvalidReference(format!("cluster {} not found", new.cluster_id))))?;
    if cluster.status != clusters::ACTIVE {
        // The backend may be back since the cluster was registered.
        cluster = clusters::recheck(edp, cluster).await?;
        if cluster.status != clusters::ACTIVE {
            return Err(Error::InvalidReference(format!(
                "cluster {} is in status {}: {}",
                cluster.id,
                cluster.status,
                cluster.status_description.as_deref().unwrap_or("no reason given")
            )));
        }
    }
    host::check_cluster(scope, &cluster)?;
    let engine = engine_for(edp, &cluster, &template.kind)?;

    let (input, output) = (input?, output?);
    let (mains, libs) = usable_binaries(scope, &template, binaries?)?;
    let parts = Parts {
        kind: &template.kind,
        name: &template.name,
        interface: &template.interface,
        cluster: &cluster,
        engine: &engine,
        input,
        output,
        mains,
        libs,
        job_configs: &new.job_configs,
        given: new.interface.as_ref(),
    };
    let assembled = assemble(edp, scope, execution_id, parts, Staging::Cache).await?;
    Ok(Resolved {
        engine: assembled.engine,
        template,
        cluster,
        request: assembled.request,
        job_configs: assembled.job_configs,
        data_source_urls: assembled.data_source_urls,
        callback_token: assembled.callback_token,
        shown_interface: assembled.shown_interface,
        secrets: assembled.secrets,
    })
}

/// The engine that runs the cluster's jobs, if it runs jobs of this type.
pub(super) fn engine_for(edp: &Edp, cluster: &cluster::Model, kind: &str) -> Result<std::sync::Arc<LoadedEngine>> {
    let engine = edp.engines().get(&cluster.plugin_name).ok_or_else(|| {
        Error::InvalidReference(format!(
            "cluster {} runs on engine '{}', which is not loaded",
            cluster.id, cluster.plugin_name
        ))
    })?;
    if !engine.description.job_types.iter().any(|t| t == kind) {
        return Err(Error::InvalidReference(format!(
            "Cluster with id '{}' doesn't support job type '{}' (engine '{}' runs: {})",
            cluster.id,
            kind,
            engine.description.id,
            engine.description.job_types.join(", ")
        )));
    }
    Ok(engine)
}

/// A stored template's mains and libs. A template may be public while what
/// it runs is not: each binary must be one this project may use.
pub(super) async fn template_binaries(
    edp: &Edp,
    scope: &Scope,
    template: &job_template::Model,
) -> Result<(Vec<Source>, Vec<Source>)> {
    usable_binaries(scope, template, job_templates::binaries(edp, &template.id).await?)
}

/// A template's mains and libs as sources, when `scope` may use each.
fn usable_binaries(
    scope: &Scope,
    template: &job_template::Model,
    (mains, libs): (Vec<job_binary::Model>, Vec<job_binary::Model>),
) -> Result<(Vec<Source>, Vec<Source>)> {
    if let Some(hidden) = mains.iter().chain(&libs).find(|b| !scope.sees(&b.project_id, b.is_public)) {
        return Err(Error::InvalidReference(format!(
            "job template {} runs job binary {}, which belongs to another project and is not public",
            template.id, hidden.id
        )));
    }
    Ok((mains.into_iter().map(Source::Stored).collect(), libs.into_iter().map(Source::Stored).collect()))
}

/// What a launch is made of once its template and cluster are known,
/// whether the template is stored or (in a dry run) given inline.
pub(super) struct Parts<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    /// The template's declared interface (checked).
    pub interface: &'a Value,
    pub cluster: &'a cluster::Model,
    pub engine: &'a LoadedEngine,
    pub input: Option<DataSource>,
    pub output: Option<DataSource>,
    pub mains: Vec<Source>,
    pub libs: Vec<Source>,
    pub job_configs: &'a JobConfigs,
    /// The interface values the launch gives.
    pub given: Option<&'a Object>,
}

/// Where a template's binary comes from.
pub(super) enum Source {
    /// A job binary the launching project may use.
    Stored(job_binary::Model),
    /// Named by a dry run's inline template and stored nowhere. `url` says
    /// where its bytes are (`internal-db://`, `file://`, `hdfs://`); without
    /// one, the file is on the client's side, to be uploaded by a real
    /// submission.
    Given { name: String, url: Option<String> },
}

/// Where binaries are put for the engine to find.
pub(super) enum Staging<'a> {
    /// Internal binaries are written once under `data/binaries/<id>/` and
    /// reused by every launch.
    Cache,
    /// A dry run writes nothing that stays, and reads no binary's bytes:
    /// engines render paths, not content, so an empty placeholder in this
    /// scratch directory (removed after the call) stands in for a binary
    /// that has no file on edpd's machine yet.
    Placeholders(&'a Path),
}

/// What [`assemble`] makes of the parts.
pub(super) struct Assembled {
    pub engine: String,
    pub request: JobRequest,
    pub job_configs: Value,
    pub data_source_urls: Value,
    pub callback_token: Option<String>,
    pub shown_interface: Value,
    pub secrets: Secrets,
}

pub(super) async fn assemble(
    edp: &Edp,
    scope: &Scope,
    execution_id: &str,
    parts: Parts<'_>,
    staging: Staging<'_>,
) -> Result<Assembled> {
    let Parts { kind, name, interface, cluster, engine, input, output, mains, libs, job_configs, given } = parts;
    let mut urls = Object::new();
    for ds in input.iter().chain(output.iter()) {
        urls.insert(ds.id.clone(), Value::String(ds.url.clone()));
    }

    let mut configs = job_configs.configs.clone();
    let mut params = job_configs.params.clone();
    let mut args = job_configs.args()?;
    let given = given.cloned().unwrap_or_default();
    // Data-source arguments name a data source by id; the job gets its URL.
    // Looked up at once, their errors told in order.
    let mut ds_urls = std::collections::HashMap::new();
    let ids = data_source_values(interface, &given);
    let found = futures::future::join_all(ids.iter().map(|id| data_sources::find(edp, scope, id))).await;
    for (id, row) in ids.into_iter().zip(found) {
        let row = row.map_err(not_found_as(|| Error::InvalidReference(format!("data source {id} not found"))))?;
        let url = expand(&row.url, execution_id);
        check_file_source(edp, &row.kind, &url)?;
        ds_urls.insert(id, url);
    }
    let resolve_ds = |id: &str| {
        ds_urls.get(id).cloned().ok_or_else(|| Error::InvalidReference(format!("data source {id} not found")))
    };
    let mut secrets = Secrets::default();
    secrets.add_keyed(&configs);
    secrets.add_keyed(&params);
    for value in interface::apply(interface, &given, &mut configs, &mut params, &mut args, &resolve_ds)? {
        secrets.add(value);
    }
    for key in edp.engines().secret_configs(&cluster.plugin_name) {
        if let Some(value) = cluster.cluster_configs.get(&key) {
            secrets.add(value.as_str().map_or_else(|| value.to_string(), str::to_string));
        }
    }
    let mut shown_interface = given.clone();
    for name in interface::secret_names(interface) {
        if let Some(value) = shown_interface.get_mut(&name) {
            *value = Value::String(String::new());
        }
    }

    let (mains, libs) = tokio::join!(stage_all(edp, scope, mains, &staging), stage_all(edp, scope, libs, &staging));
    let (mains, libs) = (mains?, libs?);

    // Engines that push status changes get a URL carrying a secret of this
    // execution's own, so nobody else can make edpd poll it.
    let callback_token = (engine.description.capabilities.callbacks)
        .then(|| edp.settings().public_url.clone())
        .flatten()
        .map(|base| (base, uuid::Uuid::new_v4().simple().to_string()));
    if let Some((_, token)) = &callback_token {
        secrets.add(token.clone());
    }
    let callback = callback_token.as_ref().map(|(base, token)| Callback {
        url: format!("{}/v2/jobs/{execution_id}/callback?token={token}", base.trim_end_matches('/')),
    });

    let mut configs_json = serde_json::json!({"configs": configs, "params": params, "args": args});
    if let Some(info) = &job_configs.job_execution_info {
        configs_json["job_execution_info"] = info.clone();
    }
    let request = JobRequest {
        execution_id: execution_id.to_string(),
        job_type: kind.to_string(),
        template_name: name.to_string(),
        cluster: clusters::spec(cluster),
        mains,
        libs,
        input,
        output,
        configs,
        params,
        args,
        callback,
    };
    Ok(Assembled {
        engine: engine.description.id.clone(),
        request,
        job_configs: configs_json,
        data_source_urls: Value::Object(urls),
        callback_token: callback_token.map(|(_, token)| token),
        shown_interface: Value::Object(shown_interface),
        secrets,
    })
}

pub(super) async fn data_source(
    edp: &Edp,
    scope: &Scope,
    role: &str,
    id: Option<&str>,
    execution_id: &str,
) -> Result<Option<DataSource>> {
    let Some(id) = id else { return Ok(None) };
    let row: data_source::Model = data_sources::find(edp, scope, id)
        .await
        .map_err(not_found_as(|| Error::InvalidReference(format!("{role} data source {id} not found"))))?;
    let url = expand(&row.url, execution_id);
    check_file_source(edp, &row.kind, &url)?;
    Ok(Some(DataSource { id: row.id, name: row.name, kind: row.kind, url }))
}

/// A `file` data source must still be under the file roots when a job uses
/// it (the roots may have changed since it was registered).
fn check_file_source(edp: &Edp, kind: &str, url: &str) -> Result<()> {
    if kind == "file" {
        edp.settings().file_roots.check("data source", &crate::validate::local_path(url)?)?;
    }
    Ok(())
}

/// Ids given to `data_source` interface arguments.
fn data_source_values(declared: &Value, given: &Object) -> Vec<String> {
    let Some(args) = declared.as_array() else { return Vec::new() };
    args.iter()
        .filter(|a| a.get("value_type").and_then(Value::as_str) == Some("data_source"))
        .filter_map(|a| a.get("name").and_then(Value::as_str))
        .filter_map(|name| given.get(name).and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// Sahara's URL placeholders: `%JOB_EXEC_ID%` and `%RANDSTR(n)%`.
pub(crate) fn expand(url: &str, execution_id: &str) -> String {
    let mut out = url.replace("%JOB_EXEC_ID%", execution_id);
    while let Some(start) = out.find("%RANDSTR(") {
        let rest = &out[start + 9..];
        let Some(close) = rest.find(")%") else { break };
        let n: usize = rest[..close].parse().unwrap_or(0).min(1024);
        let random: String = rand::rng().sample_iter(&rand::distr::Alphanumeric).take(n).map(char::from).collect();
        out.replace_range(start..start + 9 + close + 2, &random.to_lowercase());
    }
    out
}

/// The binaries as local files (or, in a dry run, placeholders), in their
/// order, all staged (their internal binaries' metadata read) at once. Stored
/// ones are binaries the launching project may use; each carries only bytes
/// its own project may read. Given ones name what the caller may use.
async fn stage_all(edp: &Edp, scope: &Scope, sources: Vec<Source>, staging: &Staging<'_>) -> Result<Vec<Binary>> {
    // Each one's error as a sequential staging would tell it: the first in
    // order, not the first to come back.
    let staged = futures::future::join_all(sources.into_iter().map(|source| stage(edp, scope, source, staging)));
    staged.await.into_iter().collect()
}

async fn stage(edp: &Edp, scope: &Scope, source: Source, staging: &Staging<'_>) -> Result<Binary> {
    Ok(match source {
        Source::Stored(row) => {
            let path = match job_binaries::location(&row.url)? {
                Location::Internal(id) => {
                    let owner = Scope::member(row.project_id.clone());
                    Some(match staging {
                        Staging::Cache => stage_internal(edp, &owner, &id, &row.name).await?,
                        Staging::Placeholders(dir) => internal_placeholder(edp, &owner, &id, &row.name, dir).await?,
                    })
                }
                Location::File(path) => {
                    edp.settings().file_roots.check("job binary", &path)?;
                    Some(path)
                }
                Location::Hdfs => None,
            };
            Binary { id: row.id, name: row.name, url: row.url, path }
        }
        Source::Given { name, url } => {
            let Staging::Placeholders(dir) = staging else {
                return Err(Error::Internal("a binary given inline outside a dry run".into()));
            };
            validate::name("job binary", &name, job_binaries::NAME_MAX)?;
            let made_up = uuid::Uuid::new_v4().to_string();
            match url {
                Some(url) => {
                    let path = match job_binaries::location(&url)? {
                        Location::Internal(id) => Some(internal_placeholder(edp, scope, &id, &name, dir).await?),
                        Location::File(path) => {
                            edp.settings().file_roots.check("job binary", &path)?;
                            Some(path)
                        }
                        Location::Hdfs => None,
                    };
                    Binary { id: made_up, name, url, path }
                }
                // The client's own file: rendered as the internal binary
                // a submission would upload.
                None => {
                    let path = placeholder(dir, &name).await?;
                    Binary { id: made_up.clone(), name, url: format!("internal-db://{made_up}"), path: Some(path) }
                }
            }
        }
    })
}

/// The staged copy when a launch already wrote one, else a placeholder;
/// either way the internal binary must exist and `scope` see it. Its bytes
/// are not read.
async fn internal_placeholder(edp: &Edp, scope: &Scope, internal_id: &str, name: &str, dir: &Path) -> Result<PathBuf> {
    let missing = || Error::InvalidReference(format!("job binary internal {internal_id} not found"));
    job_binaries::find_internal_meta(edp, scope, internal_id).await.map_err(not_found_as(missing))?;
    let cached = edp.settings().data_dir.join("binaries").join(internal_id).join(name);
    if tokio::fs::try_exists(&cached).await.unwrap_or(false) {
        return Ok(cached);
    }
    placeholder(dir, name).await
}

/// An empty file named `name`, in a directory of its own under `dir` (two
/// binaries may share a name; the engine says so).
async fn placeholder(dir: &Path, name: &str) -> Result<PathBuf> {
    let own = dir.join(uuid::Uuid::new_v4().simple().to_string());
    let io =
        |e: std::io::Error| Error::Internal(format!("cannot write a dry run's placeholder in {}: {e}", own.display()));
    tokio::fs::create_dir_all(&own).await.map_err(io)?;
    let path = own.join(name);
    tokio::fs::write(&path, b"").await.map_err(io)?;
    Ok(path)
}

/// Internal binaries never change, so each is written to disk once, under
/// its id, and every launch reuses the file, once `scope` (the binary's
/// owner) is known to see the bytes: a file staged for one project is no
/// way around the check for another.
async fn stage_internal(edp: &Edp, scope: &Scope, internal_id: &str, name: &str) -> Result<PathBuf> {
    let dir = edp.settings().data_dir.join("binaries").join(internal_id);
    let path = dir.join(name);
    let missing = || Error::InvalidReference(format!("job binary internal {internal_id} not found"));
    // A `stat`: cheaper on this thread than a hop to the blocking pool.
    if path.try_exists().unwrap_or(false) {
        job_binaries::find_internal_meta(edp, scope, internal_id).await.map_err(not_found_as(missing))?;
        return Ok(path);
    }
    let blob: job_binary_internal::Model =
        job_binaries::find_blob(edp, scope, internal_id).await.map_err(not_found_as(missing))?;
    let io = |e: std::io::Error| Error::Internal(format!("cannot stage binary {name} in {}: {e}", dir.display()));
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let tmp = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4()));
    tokio::fs::write(&tmp, &blob.data).await.map_err(io)?;
    tokio::fs::rename(&tmp, &path).await.map_err(io)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn placeholders_expand() {
        assert_eq!(expand("file:///out/%JOB_EXEC_ID%", "abc"), "file:///out/abc");
        let url = expand("hdfs://nn/x-%RANDSTR(6)%/y", "abc");
        assert!(
            url.starts_with("hdfs://nn/x-") && url.ends_with("/y") && url.len() == "hdfs://nn/x-/y".len() + 6,
            "{url}"
        );
    }
}
