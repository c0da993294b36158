//! MapReduce.Streaming on the local engine, the plugin's side: a request
//! becomes the runner's spec (`mapreduce::spec::RunnerSpec`), checked
//! before anything is launched, and the runner's status file becomes the
//! job's progress and info. The job itself is `edp-mapreduce` (the runner)
//! under the supervisor, like any other local job.
//!
//! Sahara's rules: no mains; libs optional (staged in the job directory,
//! the tasks' working directory); configs `edp.streaming.mapper` and
//! `edp.streaming.reducer` required (`edp.streaming.combiner` optional);
//! input and output data sources required. Hadoop's configs that mean
//! something here are honoured (see [`plan`]); others reach the tasks'
//! environment only, as Hadoop streaming exports them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::{JobRequest, JobStatus, Progress, Stage, StatusReport};
use edp_supervised::JobDir;
use serde_json::{Value, json};

use crate::checks;
use crate::mapreduce::spec::{RunnerSpec, RunnerStatus, SPEC_FILE, write_atomic};
use crate::mapreduce::{argv, input};

pub const JOB_TYPE: &str = "MapReduce.Streaming";

const MAPPER: &str = "edp.streaming.mapper";
const REDUCER: &str = "edp.streaming.reducer";
const COMBINER: &str = "edp.streaming.combiner";
const SLOTS: &str = "edp.local.slots";

/// (keys, default, min, max): the first key present wins (current Hadoop
/// name first, then the old one).
struct Number {
    keys: &'static [&'static str],
    min: u64,
    max: u64,
}

const REDUCES: Number = Number { keys: &["mapreduce.job.reduces", "mapred.reduce.tasks"], min: 0, max: 10_000 };
const SORT_MB: Number = Number { keys: &["mapreduce.task.io.sort.mb", "io.sort.mb"], min: 1, max: 2047 };
const SORT_FACTOR: Number = Number { keys: &["mapreduce.task.io.sort.factor", "io.sort.factor"], min: 2, max: 1000 };
const MAP_ATTEMPTS: Number =
    Number { keys: &["mapreduce.map.maxattempts", "mapred.map.max.attempts"], min: 1, max: 100 };
const REDUCE_ATTEMPTS: Number =
    Number { keys: &["mapreduce.reduce.maxattempts", "mapred.reduce.max.attempts"], min: 1, max: 100 };
const SPLIT_MIN: Number =
    Number { keys: &["mapreduce.input.fileinputformat.split.minsize", "mapred.min.split.size"], min: 1, max: u64::MAX };
const SPLIT_MAX: Number =
    Number { keys: &["mapreduce.input.fileinputformat.split.maxsize", "mapred.max.split.size"], min: 1, max: u64::MAX };
const SLOTS_NUMBER: Number = Number { keys: &[SLOTS], min: 1, max: 256 };
const RECURSIVE: &str = "mapreduce.input.fileinputformat.input.dir.recursive";

/// Defaults: Hadoop's, except the fan-in (Hadoop's 10 makes needless
/// merge passes; a reader costs 64 KiB here) and the slots (the cores).
const DEFAULT_REDUCES: u64 = 1;
const DEFAULT_SORT_MB: u64 = 100;
const DEFAULT_SORT_FACTOR: u64 = 64;
const DEFAULT_ATTEMPTS: u64 = 4;

fn number(job: &JobRequest, n: &Number, default: u64) -> Result<u64> {
    let Some((key, value)) = n.keys.iter().find_map(|k| job.configs.get(*k).map(|v| (*k, v))) else {
        return Ok(default);
    };
    let parsed = match value {
        Value::Number(v) => v.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match parsed {
        Some(v) if (n.min..=n.max).contains(&v) => Ok(v),
        _ => Err(Error::invalid_input(format!(
            "configs `{key}` must be a whole number from {} to {}, not {value}",
            n.min,
            if n.max == u64::MAX { "any".to_owned() } else { n.max.to_string() }
        ))),
    }
}

fn text(job: &JobRequest, key: &str) -> Result<Option<String>> {
    match job.configs.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid_input(format!("configs `{key}` must be a string, not {other}"))),
    }
}

fn command(job: &JobRequest, key: &str, required: bool) -> Result<Option<Vec<String>>> {
    let Some(line) = text(job, key)? else {
        if required {
            return Err(Error::invalid_input(format!("a {JOB_TYPE} job needs configs `{key}` (a command line)")));
        }
        return Ok(None);
    };
    argv::split(&line).map(Some).map_err(|why| Error::invalid_input(format!("configs `{key}` `{line}` {why}")))
}

fn boolean(job: &JobRequest, key: &str) -> Result<bool> {
    match job.configs.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(Error::invalid_input(format!("configs `{key}` must be true or false, not {other}"))),
    }
}

/// A config as Hadoop streaming exports it to tasks: the name with every
/// character outside `[A-Za-z0-9_]` replaced by `_`.
fn env_name(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// The runner's spec for a request (pure: nothing is read from disk).
pub fn plan(job: &JobRequest, job_dir: &Path, warnings: &mut Vec<String>) -> Result<RunnerSpec> {
    if !job.mains.is_empty() {
        return Err(Error::invalid_input(format!(
            "a {JOB_TYPE} job has no mains: ship the mapper's and reducer's scripts as libs"
        )));
    }
    if !job.args.is_empty() {
        warnings.push(format!("a {JOB_TYPE} job takes no args; they are ignored"));
    }
    let mapper = command(job, MAPPER, true)?.expect("required");
    let reducer = command(job, REDUCER, true)?.expect("required");
    let combiner = command(job, COMBINER, false)?;
    let (Some(input), Some(output)) = (&job.input, &job.output) else {
        return Err(Error::invalid_input(format!("a {JOB_TYPE} job needs an input and an output data source")));
    };
    let input = PathBuf::from(checks::file_source_path(input)?);
    let output = PathBuf::from(checks::file_source_path(output)?);
    if input == output || output.starts_with(&input) {
        return Err(Error::invalid_input(format!(
            "the output `{}` must not be the input `{}` or inside it",
            output.display(),
            input.display()
        )));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let split_min = number(job, &SPLIT_MIN, 1)?;
    let split_max = number(job, &SPLIT_MAX, u64::MAX)?;
    let mut env = BTreeMap::new();
    for (key, value) in &job.configs {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            _ => continue,
        };
        if value.contains('\0') {
            return Err(Error::invalid_input(format!("configs `{key}` contains a NUL character")));
        }
        env.insert(env_name(key), value);
    }
    Ok(RunnerSpec {
        execution_id: job.execution_id.clone(),
        job_dir: job_dir.to_owned(),
        input,
        output,
        mapper,
        reducer,
        combiner,
        reduces: number(job, &REDUCES, DEFAULT_REDUCES)? as u32,
        slots: number(job, &SLOTS_NUMBER, cores)? as u32,
        sort_mb: number(job, &SORT_MB, DEFAULT_SORT_MB)? as u32,
        sort_factor: number(job, &SORT_FACTOR, DEFAULT_SORT_FACTOR)? as u32,
        map_attempts: number(job, &MAP_ATTEMPTS, DEFAULT_ATTEMPTS)? as u32,
        reduce_attempts: number(job, &REDUCE_ATTEMPTS, DEFAULT_ATTEMPTS)? as u32,
        split_min,
        split_max,
        recursive: boolean(job, RECURSIVE)?,
        env,
    })
}

/// What Hadoop checks at submission: the input exists (and, being a
/// directory, holds no subdirectory unless read recursively); the output
/// does not. Blocking.
pub fn check_paths(spec: &RunnerSpec) -> Result<()> {
    input::list(&spec.input, spec.recursive).map_err(Error::invalid_input)?;
    if spec.output.symlink_metadata().is_ok() {
        return Err(Error::invalid_input(format!(
            "output directory `{}` already exists; remove it or choose another output",
            spec.output.display()
        )));
    }
    Ok(())
}

/// Writes the spec into the job directory, unless a runner already took it.
/// Blocking.
pub fn write_spec(dir: &JobDir, spec: &RunnerSpec) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(spec).map_err(|e| Error::fatal(format!("{SPEC_FILE}: {e}")))?;
    std::fs::create_dir_all(dir.path()).map_err(|e| Error::fatal(format!("`{}`: {e}", dir.path().display())))?;
    write_atomic(dir.path(), SPEC_FILE, &bytes)
        .map_err(|e| Error::fatal(format!("`{}`: {e}", dir.file(SPEC_FILE).display())))
}

/// Adds the runner's progress and counters to a status report, and its
/// reason when the job failed. Blocking: one small read.
pub fn decorate(dir: &JobDir, report: &mut StatusReport) {
    let status = match RunnerStatus::read(dir.path()) {
        Ok(Some(status)) => status,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("{}: unreadable runner status: {e}", dir.path().display());
            return;
        }
    };
    report.progress = Some(Progress {
        stages: vec![
            Stage { name: "maps".into(), done: status.maps.done, total: status.maps.total },
            Stage { name: "reduces".into(), done: status.reduces.done, total: status.reduces.total },
        ],
    });
    let info = &mut report.info;
    info.insert("phase".into(), json!(status.phase));
    info.insert("maps".into(), json!(status.maps));
    info.insert("reduces".into(), json!(status.reduces));
    info.insert("spills".into(), json!(status.spills));
    info.insert(
        "counters".into(),
        json!({
            "map_input_bytes": status.input_bytes,
            "map_output_records": status.map_output_records,
            "map_output_bytes": status.map_output_bytes,
            "spills": status.spills,
            "runs": status.runs,
            "spilled_bytes": status.spilled_bytes,
            "merge_passes": status.merge_passes,
            "combine_input_records": status.combine_input_records,
            "combine_output_records": status.combine_output_records,
            "reduce_input_records": status.reduce_input_records,
        }),
    );
    info.insert(
        "memory".into(),
        json!({
            "runner_peak_rss_kb": status.peak_rss_kb,
            "supervisor_peak_rss_kb": status.supervisor_peak_rss_kb,
            "runner_bound_kb": status.memory_bound_kb,
        }),
    );
    if report.status == JobStatus::Failed
        && let Some(reason) = status.reason
    {
        info.insert("reason".into(), json!(reason));
    }
}
