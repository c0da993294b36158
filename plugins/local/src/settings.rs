//! The engine's own settings: `[engines.local]` in edpd's configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::EngineSettings;
use edp_supervised::SUPERVISOR_NAME;
use serde_json::Value;

const DEFAULT_KILL_GRACE_MS: u64 = 5_000;
/// The MapReduce.Streaming runner's file name (a binary of this crate).
pub const MAPREDUCE_RUNNER_NAME: &str = "edp-mapreduce";

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where job directories go unless a cluster names its own. Absolute:
    /// jobs are started with paths into it from their own directory.
    pub work_dir: PathBuf,
    /// How long a cancelled job has between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// `edp-supervisor`: the `supervisor` setting, else beside the plugin.
    pub supervisor: PathBuf,
    /// `edp-mapreduce`, the MapReduce.Streaming runner: the
    /// `mapreduce_runner` setting, else beside the plugin when it is there.
    /// Without it the engine runs no streaming jobs (and says so).
    pub mapreduce_runner: Option<PathBuf>,
}

impl Settings {
    pub fn from_engine_settings(engine: &EngineSettings) -> Result<Self> {
        let s = &engine.settings;
        for key in s.keys() {
            if !matches!(key.as_str(), "work_dir" | "kill_grace_ms" | "supervisor" | "mapreduce_runner") {
                tracing::warn!("[engines.local] has an unknown setting `{key}`; it is ignored");
            }
        }
        let work_dir = match s.get("work_dir") {
            None => engine.data_dir.join("jobs"),
            Some(Value::String(dir)) if !dir.is_empty() => engine.data_dir.join(dir),
            Some(other) => return Err(bad_setting("work_dir", "a directory path", other)),
        };
        let kill_grace_ms = match s.get("kill_grace_ms") {
            None => DEFAULT_KILL_GRACE_MS,
            Some(v) => v.as_u64().ok_or_else(|| bad_setting("kill_grace_ms", "a number of milliseconds", v))?,
        };
        let supervisor = match s.get("supervisor") {
            None => engine.plugin_path.parent().unwrap_or(Path::new(".")).join(SUPERVISOR_NAME),
            Some(Value::String(path)) if !path.is_empty() => PathBuf::from(path),
            Some(other) => return Err(bad_setting("supervisor", "a file path", other)),
        };
        if !supervisor.is_file() {
            return Err(Error::fatal(format!(
                "the job supervisor `{}` is missing: install it beside the plugin or set `supervisor` in [engines.local]",
                supervisor.display()
            )));
        }
        let mapreduce_runner = match s.get("mapreduce_runner") {
            None => {
                let beside = engine.plugin_path.parent().unwrap_or(Path::new(".")).join(MAPREDUCE_RUNNER_NAME);
                beside.is_file().then_some(beside)
            }
            Some(Value::String(path)) if !path.is_empty() => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(Error::fatal(format!(
                        "the MapReduce runner `{}` (setting `mapreduce_runner`) is missing",
                        path.display()
                    )));
                }
                Some(path)
            }
            Some(other) => return Err(bad_setting("mapreduce_runner", "a file path", other)),
        };
        if mapreduce_runner.is_none() {
            tracing::warn!("no `{MAPREDUCE_RUNNER_NAME}` beside the plugin: MapReduce.Streaming jobs will be refused");
        }
        Ok(Self {
            work_dir: absolute(&work_dir, "work_dir")?,
            kill_grace: Duration::from_millis(kill_grace_ms),
            supervisor: absolute(&supervisor, "supervisor")?,
            mapreduce_runner: mapreduce_runner.map(|p| absolute(&p, "mapreduce_runner")).transpose()?,
        })
    }
}

fn bad_setting(key: &str, expected: &str, got: &Value) -> Error {
    Error::fatal(format!("[engines.local] `{key}` must be {expected}, not {got}"))
}

fn absolute(path: &Path, key: &str) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::fatal(format!("[engines.local] `{key}` `{}`: {e}", path.display())))
}
