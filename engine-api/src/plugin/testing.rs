//! Test support for plugin authors: drive an engine in-process, as edpd
//! would, with a host that records what the engine tells it.
//!
//! ```ignore
//! let host = TestHost::new();
//! let engine = MyEngine::new(host.context(data_dir, json!({ "timeout_ms": 1000 })))?;
//! let launched = engine.run_job(request).await?;
//! assert!(host.wait_for_hint(&request.execution_id, Duration::from_secs(20)).await, "no status hint");
//! ```
//!
//! The engine's `tracing` events and `log` calls go to stderr, which the test
//! harness shows for a failed test.

use std::path::Path;
use std::pin::pin;
use std::sync::Mutex;
use std::time::Duration;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RStr};
use tokio::sync::Notify;

use super::{EngineContext, HostHandle};
use crate::abi::{Host, Host_TO};
use crate::wire::EngineSettings;

/// A host that prints what an engine logs and records its status hints.
/// Clones share one record.
#[derive(Clone, Default)]
pub struct TestHost(RArc<Told>);

#[derive(Default)]
struct Told {
    /// Every hint, in the order told (an id once per hint).
    hints: Mutex<Vec<String>>,
    hinted: Notify,
}

impl Host for Told {
    fn log(&self, level: u8, target: RStr<'_>, message: RStr<'_>) {
        eprintln!("[{level}] {target}: {message}");
    }

    fn status_hint(&self, execution_id: RStr<'_>) {
        if let Ok(mut hints) = self.hints.lock() {
            hints.push(execution_id.as_str().to_owned());
        }
        self.hinted.notify_waiters();
    }
}

impl TestHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// What an engine's constructor gets for this host.
    pub fn handle(&self) -> HostHandle {
        HostHandle::new(Host_TO::from_ptr(self.0.clone(), TD_Opaque))
    }

    /// An engine's context: this host, `data_dir`, and `settings` (a JSON
    /// object: the engine's section of edpd's configuration). The plugin's
    /// path is taken to be `<data_dir>/plugin.so`.
    ///
    /// # Panics
    /// If `settings` is not a JSON object.
    pub fn context(&self, data_dir: &Path, settings: serde_json::Value) -> EngineContext {
        let serde_json::Value::Object(settings) = settings else { panic!("an engine's settings are a JSON object") };
        let settings = EngineSettings { plugin_path: data_dir.join("plugin.so"), data_dir: data_dir.into(), settings };
        self.context_with(settings)
    }

    /// An engine's context with settings built in full.
    pub fn context_with(&self, settings: EngineSettings) -> EngineContext {
        EngineContext { settings, host: self.handle() }
    }

    /// Every hint told so far, in order.
    pub fn hints(&self) -> Vec<String> {
        self.0.hints.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// How many hints were told (an execution hinted twice counts twice).
    pub fn hint_count(&self) -> usize {
        self.0.hints.lock().map_or(0, |h| h.len())
    }

    /// Whether `execution_id` was hinted.
    pub fn hinted(&self, execution_id: &str) -> bool {
        self.0.hints.lock().is_ok_and(|h| h.iter().any(|x| x == execution_id))
    }

    /// Waits up to `within` for a hint of `execution_id`; whether it came.
    #[must_use]
    pub async fn wait_for_hint(&self, execution_id: &str, within: Duration) -> bool {
        self.wait_until(within, || self.hinted(execution_id)).await
    }

    /// Waits up to `within` for a hint of `execution_id`, failing the test
    /// if none comes.
    pub async fn expect_hint(&self, execution_id: &str, within: Duration) {
        assert!(self.wait_for_hint(execution_id, within).await, "no status hint for {execution_id} within {within:?}");
    }

    /// Waits up to `within` until `count` hints were told in all; whether
    /// they were.
    #[must_use]
    pub async fn wait_for_hints(&self, count: usize, within: Duration) -> bool {
        self.wait_until(within, || self.hint_count() >= count).await
    }

    async fn wait_until(&self, within: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the check, so a hint between the two wakes it.
            let mut hinted = pin!(self.0.hinted.notified());
            hinted.as_mut().enable();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, hinted).await.is_err() {
                return done();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_hints_told_from_another_thread() {
        let host = TestHost::new();
        let told = host.handle();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            told.status_hint("a");
            told.status_hint("b");
            told.status_hint("a");
        });
        assert!(host.wait_for_hint("b", Duration::from_secs(10)).await);
        assert!(host.wait_for_hints(3, Duration::from_secs(10)).await);
        assert_eq!(host.hints(), ["a", "b", "a"]);
        assert!(host.hinted("a") && !host.hinted("c"));
        assert!(!host.wait_for_hint("c", Duration::from_millis(50)).await, "a hint never told");
    }
}
