//! The engine's own settings: `[engines.oozie]` in edpd's configuration.

use std::time::Duration;

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::{EngineSettings, PollingHints};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Connecting to Oozie or WebHDFS.
    pub connect_timeout: Duration,
    /// One request to Oozie or the NameNode. Below the host's call timeout
    /// (30 s by default), so a hung server is a transient error of ours.
    pub request_timeout: Duration,
    /// One file upload to a DataNode (below the host's launch timeout).
    pub upload_timeout: Duration,
    /// Notifications make a poll due at once; polling is the fallback.
    pub polling: PollingHints,
}

const KEYS: [&str; 5] =
    ["connect_timeout_ms", "request_timeout_ms", "upload_timeout_ms", "poll_initial_ms", "poll_max_ms"];

impl Settings {
    pub fn from_engine_settings(engine: &EngineSettings) -> Result<Self> {
        let s = &engine.settings;
        for key in s.keys() {
            if !KEYS.contains(&key.as_str()) {
                tracing::warn!("[engines.oozie] has an unknown setting `{key}`; it is ignored");
            }
        }
        let ms = |key: &str, default: u64| -> Result<u64> {
            match s.get(key) {
                None => Ok(default),
                // Environment variables arrive as strings.
                Some(Value::String(v)) => v.trim().parse().map_err(|_| bad(key, &s[key])),
                Some(v) => v.as_u64().ok_or_else(|| bad(key, v)),
            }
        };
        let initial = ms("poll_initial_ms", 5_000)?.max(10);
        Ok(Self {
            connect_timeout: Duration::from_millis(ms("connect_timeout_ms", 5_000)?),
            request_timeout: Duration::from_millis(ms("request_timeout_ms", 20_000)?),
            upload_timeout: Duration::from_millis(ms("upload_timeout_ms", 90_000)?),
            polling: PollingHints { initial_ms: initial, max_ms: ms("poll_max_ms", 60_000)?.max(initial) },
        })
    }
}

fn bad(key: &str, got: &Value) -> Error {
    Error::fatal(format!("[engines.oozie] `{key}` must be a number of milliseconds, not {got}"))
}
