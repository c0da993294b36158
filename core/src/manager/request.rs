//! Turning a launch request into what the engine gets: the template's
//! binaries staged as local files, data-source URLs with their placeholders
//! expanded, interface values merged into the configs.

use std::path::PathBuf;

use edp_engine_api::wire::{Binary, Callback, DataSource, JobRequest, Object};
use rand::Rng;
use serde_json::Value;

use crate::Edp;
use crate::catalog::job_binaries::{self, Location};
use crate::catalog::{self, clusters, data_sources, job_templates};
use crate::entity::{cluster, data_source, job_binary, job_binary_internal, job_template};
use crate::error::{Error, Result, not_found_as};
use crate::redact::Secrets;
use crate::scope::Scope;
use crate::{host, interface};

use super::api::NewJob;

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
    let template = job_templates::find(edp, scope, &new.job_template_id)
        .await
        .map_err(not_found_as(|| Error::InvalidReference(format!("job template {} not found", new.job_template_id))))?;
    let mut cluster = clusters::find(edp, scope, &new.cluster_id)
        .await
        .map_err(not_found_as(|| Error::InvalidReference(format!("cluster {} not found", new.cluster_id))))?;
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
    let engine = edp.engines().get(&cluster.plugin_name).ok_or_else(|| {
        Error::InvalidReference(format!(
            "cluster {} runs on engine '{}', which is not loaded",
            cluster.id, cluster.plugin_name
        ))
    })?;
    if !engine.description.job_types.contains(&template.kind) {
        return Err(Error::InvalidReference(format!(
            "Cluster with id '{}' doesn't support job type '{}' (engine '{}' runs: {})",
            cluster.id,
            template.kind,
            engine.description.id,
            engine.description.job_types.join(", ")
        )));
    }

    let input = data_source(edp, scope, "input", new.input_id.as_deref(), execution_id).await?;
    let output = data_source(edp, scope, "output", new.output_id.as_deref(), execution_id).await?;
    let mut urls = Object::new();
    for ds in input.iter().chain(output.iter()) {
        urls.insert(ds.id.clone(), Value::String(ds.url.clone()));
    }

    let mut configs = new.job_configs.configs.clone();
    let mut params = new.job_configs.params.clone();
    let mut args = new.job_configs.args()?;
    let given = new.interface.clone().unwrap_or_default();
    // Data-source arguments name a data source by id; the job gets its URL.
    let mut ds_urls = std::collections::HashMap::new();
    for id in data_source_values(&template.interface, &given) {
        let row = data_sources::find(edp, scope, &id)
            .await
            .map_err(not_found_as(|| Error::InvalidReference(format!("data source {id} not found"))))?;
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
    for value in interface::apply(&template.interface, &given, &mut configs, &mut params, &mut args, &resolve_ds)? {
        secrets.add(value);
    }
    for key in edp.engines().secret_configs(&cluster.plugin_name) {
        if let Some(value) = cluster.cluster_configs.get(&key) {
            secrets.add(value.as_str().map_or_else(|| value.to_string(), str::to_string));
        }
    }
    let mut shown_interface = given.clone();
    for name in interface::secret_names(&template.interface) {
        if let Some(value) = shown_interface.get_mut(&name) {
            *value = Value::String(String::new());
        }
    }

    let (mains, libs) = job_templates::binaries(edp, &template.id).await?;
    // A template may be public while what it runs is not: each binary must
    // be one this project may use.
    if let Some(hidden) = mains.iter().chain(&libs).find(|b| !scope.sees(&b.project_id, b.is_public)) {
        return Err(Error::InvalidReference(format!(
            "job template {} runs job binary {}, which belongs to another project and is not public",
            template.id, hidden.id
        )));
    }
    let mains = stage_all(edp, mains).await?;
    let libs = stage_all(edp, libs).await?;

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

    let mut job_configs = serde_json::json!({"configs": configs, "params": params, "args": args});
    if let Some(info) = &new.job_configs.job_execution_info {
        job_configs["job_execution_info"] = info.clone();
    }
    let request = JobRequest {
        execution_id: execution_id.to_string(),
        job_type: template.kind.clone(),
        template_name: template.name.clone(),
        cluster: clusters::spec(&cluster),
        mains,
        libs,
        input,
        output,
        configs,
        params,
        args,
        callback,
    };
    Ok(Resolved {
        engine: engine.description.id.clone(),
        template,
        cluster,
        request,
        job_configs,
        data_source_urls: Value::Object(urls),
        callback_token: callback_token.map(|(_, token)| token),
        shown_interface: Value::Object(shown_interface),
        secrets,
    })
}

async fn data_source(
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

/// The binaries as local files. `rows` are binaries the launching project
/// may use; each carries only bytes its own project may read.
async fn stage_all(edp: &Edp, rows: Vec<job_binary::Model>) -> Result<Vec<Binary>> {
    let mut staged = Vec::with_capacity(rows.len());
    for row in rows {
        let path = match job_binaries::location(&row.url)? {
            Location::Internal(id) => {
                Some(stage_internal(edp, &Scope::member(row.project_id.clone()), &id, &row.name).await?)
            }
            Location::File(path) => {
                edp.settings().file_roots.check("job binary", &path)?;
                Some(path)
            }
            Location::Hdfs => None,
        };
        staged.push(Binary { id: row.id, name: row.name, url: row.url, path });
    }
    Ok(staged)
}

/// Internal binaries never change, so each is written to disk once, under
/// its id, and every launch reuses the file, once `scope` (the binary's
/// owner) is known to see the bytes: a file staged for one project is no
/// way around the check for another.
async fn stage_internal(edp: &Edp, scope: &Scope, internal_id: &str, name: &str) -> Result<PathBuf> {
    let dir = edp.settings().data_dir.join("binaries").join(internal_id);
    let path = dir.join(name);
    let missing = || Error::InvalidReference(format!("job binary internal {internal_id} not found"));
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        job_binaries::find_internal_meta(edp, scope, internal_id).await.map_err(not_found_as(missing))?;
        return Ok(path);
    }
    let blob: job_binary_internal::Model =
        catalog::find::<job_binary_internal::Entity>(edp, scope, internal_id).await.map_err(not_found_as(missing))?;
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
