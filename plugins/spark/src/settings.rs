//! The engine's own settings: `[engines.spark]` in edpd's configuration
//! (or `EDP__ENGINES__SPARK__<KEY>`, whose values arrive as strings).

use std::path::{Path, PathBuf};
use std::time::Duration;

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::{EngineSettings, PollingHints};
use edp_supervised::SUPERVISOR_NAME;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where job directories go unless a cluster names its own; absolute.
    pub work_dir: PathBuf,
    /// `edp-supervisor`, which runs spark-submit: the `supervisor` setting,
    /// else beside the plugin. Only spark-submit jobs need it.
    pub supervisor: PathBuf,
    /// How long a cancelled spark-submit has between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Connecting to a master, worker or REST server.
    pub connect_timeout: Duration,
    /// One HTTP request; below the host's call timeout (30 s by default).
    pub request_timeout: Duration,
    /// `spark-submit --version` when a cluster is checked.
    pub check_timeout: Duration,
    pub polling: PollingHints,
}

const KEYS: [&str; 8] = [
    "work_dir",
    "supervisor",
    "kill_grace_ms",
    "connect_timeout_ms",
    "request_timeout_ms",
    "check_timeout_ms",
    "poll_initial_ms",
    "poll_max_ms",
];

impl Settings {
    pub fn from_engine_settings(engine: &EngineSettings) -> Result<Self> {
        let s = &engine.settings;
        for key in s.keys() {
            if !KEYS.contains(&key.as_str()) {
                tracing::warn!("[engines.spark] has an unknown setting `{key}`; it is ignored");
            }
        }
        let ms = |key: &str, default: u64| -> Result<Duration> {
            let value = match s.get(key) {
                None => default,
                Some(Value::String(v)) => {
                    v.trim().parse().map_err(|_| bad(key, "a number of milliseconds", &s[key]))?
                }
                Some(v) => v.as_u64().ok_or_else(|| bad(key, "a number of milliseconds", v))?,
            };
            Ok(Duration::from_millis(value))
        };
        let path = |key: &str, default: PathBuf| -> Result<PathBuf> {
            match s.get(key) {
                None => Ok(default),
                Some(Value::String(p)) if !p.is_empty() => Ok(PathBuf::from(p)),
                Some(other) => Err(bad(key, "a path", other)),
            }
        };
        let work_dir = path("work_dir", PathBuf::from("jobs"))?;
        let supervisor =
            path("supervisor", engine.plugin_path.parent().unwrap_or(Path::new(".")).join(SUPERVISOR_NAME))?;
        if !supervisor.is_file() {
            tracing::warn!(
                "the job supervisor `{}` is missing: spark-submit jobs cannot run until it is installed beside the \
                 plugin or named by `supervisor` in [engines.spark]",
                supervisor.display()
            );
        }
        let poll_initial = ms("poll_initial_ms", 2_000)?.max(Duration::from_millis(10));
        let poll_max = ms("poll_max_ms", 15_000)?.max(poll_initial);
        Ok(Self {
            work_dir: absolute(&engine.data_dir.join(work_dir), "work_dir")?,
            supervisor: absolute(&supervisor, "supervisor")?,
            kill_grace: ms("kill_grace_ms", 5_000)?,
            connect_timeout: ms("connect_timeout_ms", 5_000)?,
            request_timeout: ms("request_timeout_ms", 15_000)?,
            check_timeout: ms("check_timeout_ms", 25_000)?,
            polling: PollingHints {
                initial_ms: u64::try_from(poll_initial.as_millis()).unwrap_or(u64::MAX),
                max_ms: u64::try_from(poll_max.as_millis()).unwrap_or(u64::MAX),
            },
        })
    }
}

fn bad(key: &str, expected: &str, got: &Value) -> Error {
    Error::fatal(format!("[engines.spark] `{key}` must be {expected}, not {got}"))
}

fn absolute(path: &Path, key: &str) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::fatal(format!("[engines.spark] `{key}` `{}`: {e}", path.display())))
}
