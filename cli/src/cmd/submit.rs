//! `edp submit`: from flags and/or a job file to a launched job (or a dry
//! run). Order matters for a clean failure: everything that can be checked
//! locally is checked before the first request, and nothing is launched
//! until every binary, the template and the data sources exist.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::args::SubmitArgs;
use crate::cmd::monitor::{self, Until};
use crate::cmd::prepare::{self, sanitize};
use crate::cmd::resolve::{self, CLUSTER, DATA_SOURCE, JobTypes};
use crate::cmd::{Ctx, dry_run};
use crate::error::{Failure, Result, code};
use crate::jobfile::{self, Layer, Resources, Scalar};
use crate::output::{self, note, status, text};

pub async fn run(ctx: &Ctx, args: SubmitArgs) -> Result<i32> {
    let spec = spec(&args)?;
    let name =
        spec.name.clone().ok_or_else(|| Failure::usage("a job needs a name: -n NAME, or `name:` in the job file"))?;
    let raw_kind =
        spec.kind.clone().ok_or_else(|| Failure::usage("a job needs a type: -t TYPE, or `type:` in the job file"))?;
    let job_configs = job_configs(&raw_kind, &spec)?;
    let kind = JobTypes::fetch(ctx).await?.canonical(&raw_kind)?;

    let cluster_ref = spec.cluster.clone().unwrap_or_else(|| ctx.settings.default_cluster.clone());
    let cluster = resolve::require(ctx, &CLUSTER, &cluster_ref).await?;
    if args.dry_run {
        return dry_run::run(ctx, &spec, &name, &kind, job_configs, &cluster).await;
    }
    if text(&cluster, "status") == "Error" {
        // edpd checks it again at launch; say why if that fails too.
        note(format!("cluster `{}` is in Error: {}", text(&cluster, "name"), text(&cluster, "status_description")));
    }
    let mut mains = Vec::new();
    for raw in spec.mains.iter().flatten() {
        mains.push(text(&prepare::binary(ctx, raw).await?, "id"));
    }
    let mut libs = Vec::new();
    for raw in spec.libs.iter().flatten() {
        libs.push(text(&prepare::binary(ctx, raw).await?, "id"));
    }
    let template = prepare::template(ctx, &name, &kind, &mains, &libs, spec.description.as_deref()).await?;

    let mut body = json!({
        "job_template_id": text(&template, "id"),
        "cluster_id": text(&cluster, "id"),
        "job_configs": job_configs,
    });
    if let Some(input) = &spec.input {
        body["input_id"] = json!(data_source(ctx, input).await?);
    }
    if let Some(output) = &spec.output {
        body["output_id"] = json!(data_source(ctx, output).await?);
    }

    let launched = match &args.idempotency_key {
        Some(key) => ctx.api.post_once("/v2/jobs", &body, key).await?,
        None => ctx.api.post("/v2/jobs", &body).await?,
    };
    let job = &launched["job"];
    note(format!(
        "job {} submitted: template `{}` on cluster `{}` ({})",
        text(job, "id"),
        text(&template, "name"),
        text(&cluster, "name"),
        status(job)
    ));
    launched_job(ctx, job, args.wait).await
}

/// What `submit` and `rerun` print once edpd accepted a job: with `wait`,
/// the job followed to its end and its outcome as the exit code; else its
/// id alone on stdout, for `ID=$(edp submit ...)`.
pub async fn launched_job(ctx: &Ctx, job: &Value, wait: bool) -> Result<i32> {
    let id = text(job, "id");
    if wait {
        let done = monitor::watch(ctx, &id, Until::End).await?;
        if ctx.json {
            output::json(&done);
        }
        return Ok(monitor::exit_code(&done));
    }
    if ctx.json {
        output::json(job);
    } else {
        println!("{id}");
        note(format!("follow it with `edp monitor {id}` or `edp logs -f {id}`"));
    }
    Ok(code::OK)
}

/// The job file (with its overlay), then the flags over it.
fn spec(args: &SubmitArgs) -> Result<Layer> {
    let mut layer = match &args.file {
        Some(path) => jobfile::load(path, args.env.as_deref())?,
        None => Layer::default(),
    };
    layer.overlay(flags(args));
    Ok(layer)
}

/// The flags as a layer: only what was given.
fn flags(args: &SubmitArgs) -> Layer {
    let some_vec = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let some_map = |v: &Vec<(String, String)>| {
        (!v.is_empty()).then(|| v.iter().map(|(k, v)| (k.clone(), Scalar::text(v))).collect::<BTreeMap<_, _>>())
    };
    let job_args: Vec<Scalar> = args.args.iter().chain(&args.rest).map(Scalar::text).collect();
    let resources = Resources {
        queue: args.queue.clone(),
        num_executors: args.num_executors,
        executor_memory: args.executor_memory.clone(),
        driver_memory: args.driver_memory.clone(),
    };
    Layer {
        name: args.name.clone(),
        kind: args.kind.clone(),
        description: args.description.clone(),
        cluster: args.cluster.clone(),
        mains: some_vec(&args.mains),
        libs: some_vec(&args.libs),
        input: args.input.clone(),
        output: args.output.clone(),
        configs: some_map(&args.confs),
        params: some_map(&args.params),
        args: (!job_args.is_empty()).then_some(job_args),
        resources: (resources != Resources::default()).then_some(resources),
        environments: None,
    }
}

/// `job_configs`: resources mapped to the configs engines read, then the
/// explicit configs (which win), params and args.
pub(super) fn job_configs(kind: &str, spec: &Layer) -> Result<Value> {
    let mut configs = Map::new();
    if let Some(r) = &spec.resources {
        for (key, value) in resource_configs(kind, r)? {
            configs.insert(key.to_string(), Value::String(value));
        }
    }
    for (key, value) in spec.configs.iter().flatten() {
        configs.insert(key.clone(), value.0.clone());
    }
    let params: Map<String, Value> = spec.params.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    let args: Vec<String> = spec.args.iter().flatten().map(Scalar::to_arg).collect();
    Ok(json!({"configs": configs, "params": params, "args": args}))
}

/// The configs Spark and Hadoop read for these resources. An engine that
/// has no use for one ignores it.
pub fn resource_configs(kind: &str, r: &Resources) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    if let Some(queue) = &r.queue {
        // Any case: the type's spelling is checked with edpd later.
        let spark = kind.get(..5).is_some_and(|k| k.eq_ignore_ascii_case("spark"));
        let key = if spark { "spark.yarn.queue" } else { "mapreduce.job.queuename" };
        out.push((key, queue.clone()));
    }
    if let Some(n) = r.num_executors {
        if n == 0 {
            return Err(Failure::usage("num-executors must be at least 1"));
        }
        out.push(("spark.executor.instances", n.to_string()));
    }
    for (key, flag, value) in [
        ("spark.executor.memory", "executor-memory", &r.executor_memory),
        ("spark.driver.memory", "driver-memory", &r.driver_memory),
    ] {
        if let Some(size) = value {
            check_size(flag, size)?;
            out.push((key, size.clone()));
        }
    }
    Ok(out)
}

/// JVM memory sizes as Spark takes them: `512m`, `8g`, `2048`.
fn check_size(flag: &str, size: &str) -> Result<()> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..].to_ascii_lowercase();
    let unit_ok = ["", "k", "m", "g", "t", "kb", "mb", "gb", "tb"].contains(&unit.as_str());
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !unit_ok {
        return Err(Failure::usage(format!("{flag} `{size}` is not a size like 512m or 8g")));
    }
    Ok(())
}

/// What `--input`/`--output` comes to, decided with reads only.
pub enum SourcePlan {
    Existing(String),
    /// A URL no data source has yet: one would be created under `name`.
    Create {
        name: String,
        kind: String,
        url: String,
    },
}

/// The id of `--input`/`--output`: a data source's name or id, or a URL for
/// which one is found (same URL) or created.
pub(super) async fn data_source(ctx: &Ctx, raw: &str) -> Result<String> {
    for round in 0..2 {
        let (name, kind, url) = match plan_data_source(ctx, raw).await? {
            SourcePlan::Existing(id) => return Ok(id),
            SourcePlan::Create { name, kind, url } => (name, kind, url),
        };
        match ctx.api.post(DATA_SOURCE.path, &json!({"name": name, "type": kind, "url": url})).await {
            Ok(created) => {
                note(format!("registered {url} as data source `{name}`"));
                return Ok(text(&created["data_source"], "id"));
            }
            Err(e) if round == 0 && e.error_name() == Some("NAME_ALREADY_EXISTS") => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the second round returns")
}

pub(super) async fn plan_data_source(ctx: &Ctx, raw: &str) -> Result<SourcePlan> {
    let url = if raw.starts_with('/') { format!("file://{raw}") } else { raw.to_string() };
    if !url.contains("://") {
        return Ok(SourcePlan::Existing(text(&resolve::require(ctx, &DATA_SOURCE, raw).await?, "id")));
    }
    let kind = url.split("://").next().unwrap_or_default().to_string();
    let all = ctx.api.list(DATA_SOURCE.path, DATA_SOURCE.list_key, &[]).await?;
    if let Some(found) = all.iter().find(|d| text(d, "url") == url || text(d, "url") == raw) {
        return Ok(SourcePlan::Existing(text(found, "id")));
    }
    let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    let base = sanitize(last);
    let name = if all.iter().any(|d| text(d, "name") == base) {
        let tag: String = Sha256::digest(url.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("{base}-{tag}")
    } else {
        base
    };
    Ok(SourcePlan::Create { name, kind, url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_map_to_engine_configs() {
        let r = Resources {
            queue: Some("etl".into()),
            num_executors: Some(4),
            executor_memory: Some("8g".into()),
            driver_memory: Some("2048".into()),
        };
        let spark = resource_configs("Spark", &r).unwrap();
        assert!(spark.contains(&("spark.yarn.queue", "etl".into())));
        assert!(spark.contains(&("spark.executor.instances", "4".into())));
        assert!(spark.contains(&("spark.executor.memory", "8g".into())));
        assert!(spark.contains(&("spark.driver.memory", "2048".into())));
        let lower = resource_configs("spark", &r).unwrap();
        assert!(lower.contains(&("spark.yarn.queue", "etl".into())));
        let mr = resource_configs("MapReduce", &r).unwrap();
        assert!(mr.contains(&("mapreduce.job.queuename", "etl".into())));
        let bad = Resources { executor_memory: Some("lots".into()), ..Default::default() };
        assert!(resource_configs("Spark", &bad).is_err());
    }

    #[test]
    fn flags_override_the_file_and_configs_override_resources() {
        let mut spec = Layer {
            configs: Some([("spark.executor.memory".to_string(), Scalar::text("1g"))].into()),
            resources: Some(Resources { executor_memory: Some("8g".into()), ..Default::default() }),
            args: Some(vec![Scalar::text("from-file")]),
            ..Default::default()
        };
        let args = SubmitArgs { args: vec!["a".into()], rest: vec!["b".into()], ..Default::default() };
        spec.overlay(flags(&args));
        let configs = job_configs("Spark", &spec).unwrap();
        assert_eq!(configs["configs"]["spark.executor.memory"], "1g");
        assert_eq!(configs["args"], json!(["a", "b"]));
    }
}
