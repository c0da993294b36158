//! The engines this edpd runs. The set grows while edpd serves: a library
//! dropped into the plugin directory is loaded within seconds, without a
//! restart. Libraries are never unloaded, so a new version of a loaded
//! plugin is listed as needing a restart while the loaded one keeps serving.
//!
//! One thread (`edp-plugins`) owns the [`Loader`] and runs every scan, so
//! plugin code never runs on an async worker and scans never overlap. It
//! scans when the directory's watch (inotify) reports a change, after the
//! changes have been quiet for a moment; every `rescan_interval` anyway, in
//! case the watch missed something (or could not be set up); and when asked
//! ([`Engines::rescan`], `POST /v2/engines/rescan`). Each scan publishes an
//! immutable [`EngineSet`]; readers (every job launch and poll) take the
//! current one under a read lock held for a pointer copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use edp_engine_api::host::{
    Change, EngineClient, HostHooks, LoadedEngine, Loader, LoaderConfig, Refused, RestartNeeded, SettingsFor,
};
use edp_engine_api::wire::{EngineDescription, EngineSettings, Object};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

/// How quiet the directory must be before a scan: a copy writes many times.
const QUIET: Duration = Duration::from_millis(200);
/// A directory that never goes quiet is scanned this often all the same.
const MAX_DEBOUNCE: Duration = Duration::from_secs(2);
/// A file changed while it was read: look again this soon.
const BUSY_RETRY: Duration = Duration::from_millis(500);

/// Where plugins come from and how they are loaded.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    pub plugin_dir: PathBuf,
    /// Each engine gets `<data_dir>/engines/<id>`; libraries are opened from
    /// copies in `<data_dir>/plugin-copies`.
    pub data_dir: PathBuf,
    /// `[engines.<id>]` from the configuration.
    pub settings: BTreeMap<String, Object>,
    /// How long a library may take to load, construct and describe itself.
    pub load_timeout: Duration,
    /// Scan this often even when the directory's watch reports nothing.
    pub rescan_interval: Duration,
    /// Watch the directory for changes (inotify).
    pub watch: bool,
}

/// The engines as one scan left them.
#[derive(Default)]
pub struct EngineSet {
    loaded: BTreeMap<String, Arc<LoadedEngine>>,
    refused: Vec<Refused>,
    restart_needed: Vec<RestartNeeded>,
}

impl EngineSet {
    pub fn loaded(&self) -> impl Iterator<Item = &Arc<LoadedEngine>> {
        self.loaded.values()
    }

    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    pub fn restart_needed(&self) -> &[RestartNeeded] {
        &self.restart_needed
    }
}

enum Wake {
    /// Someone waits for a scan's outcome.
    Scan(oneshot::Sender<Arc<EngineSet>>),
    /// The directory's watch saw something.
    Changed,
}

pub struct Engines {
    current: Arc<RwLock<Arc<EngineSet>>>,
    wake: Sender<Wake>,
}

impl Engines {
    /// Starts the loader thread and waits for its first scan. Status hints
    /// from engines are sent to `hints`.
    pub async fn start(config: PluginConfig, hints: UnboundedSender<String>) -> crate::Result<Self> {
        let current = Arc::new(RwLock::new(Arc::new(EngineSet::default())));
        let (wake, wakes) = std::sync::mpsc::channel();
        let (ready, started) = oneshot::channel();
        let thread = LoaderThread { current: Arc::downgrade(&current), wake: wake.clone(), watcher: None };
        std::thread::Builder::new()
            .name("edp-plugins".into())
            .spawn(move || thread.run(config, hints, wakes, ready))
            .map_err(|e| crate::Error::Internal(format!("cannot start the plugin loader: {e}")))?;
        started.await.map_err(|_| crate::Error::Internal("the plugin loader died".into()))??;
        Ok(Self { current, wake })
    }

    /// A fixed set of engines, with no directory behind it: engines linked
    /// into a test binary, built with `edp_engine_api::host::construct_module`.
    pub fn fixed(engines: Vec<LoadedEngine>) -> Self {
        let loaded = engines.into_iter().map(|e| (e.description.id.clone(), Arc::new(e))).collect();
        let set = EngineSet { loaded, refused: Vec::new(), restart_needed: Vec::new() };
        let (wake, _) = std::sync::mpsc::channel();
        Self { current: Arc::new(RwLock::new(Arc::new(set))), wake }
    }

    /// Scans the plugin directory now; the engines as the scan left them.
    pub async fn rescan(&self) -> Arc<EngineSet> {
        let (reply, answer) = oneshot::channel();
        if self.wake.send(Wake::Scan(reply)).is_err() {
            return self.snapshot();
        }
        answer.await.unwrap_or_else(|_| self.snapshot())
    }

    /// The engines now: loaded, refused, waiting for a restart.
    pub fn snapshot(&self) -> Arc<EngineSet> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn get(&self, id: &str) -> Option<Arc<LoadedEngine>> {
        self.snapshot().loaded.get(id).cloned()
    }

    pub fn client(&self, id: &str) -> Option<EngineClient> {
        self.snapshot().loaded.get(id).map(|e| e.client.clone())
    }

    pub fn loaded(&self) -> impl Iterator<Item = Arc<LoadedEngine>> {
        self.snapshot().loaded.values().cloned().collect::<Vec<_>>().into_iter()
    }

    /// Cluster config keys the engine marks `writeOnly`: never shown.
    pub fn secret_configs(&self, id: &str) -> Vec<String> {
        self.get(id).map(|e| secret_properties(&e.description)).unwrap_or_default()
    }
}

struct LoaderThread {
    /// The published set; gone when [`Engines`] is dropped, which ends the thread.
    current: Weak<RwLock<Arc<EngineSet>>>,
    wake: Sender<Wake>,
    watcher: Option<notify::RecommendedWatcher>,
}

impl LoaderThread {
    fn run(
        mut self,
        config: PluginConfig,
        hints: UnboundedSender<String>,
        wakes: Receiver<Wake>,
        ready: oneshot::Sender<crate::Result<()>>,
    ) {
        let data_dir = config.data_dir.clone();
        let settings = config.settings.clone();
        let settings_for: SettingsFor = Arc::new(move |id: &str, file: &Path| EngineSettings {
            plugin_path: file.to_path_buf(),
            data_dir: data_dir.join("engines").join(id),
            settings: settings.get(id).cloned().unwrap_or_default(),
        });
        let copies = config.data_dir.join("plugin-copies");
        let loader_config =
            LoaderConfig { dir: config.plugin_dir.clone(), copies: copies.clone(), timeout: config.load_timeout };
        let mut loader = match Loader::new(loader_config, settings_for, Arc::new(HintSender(hints))) {
            Ok(loader) => loader,
            Err(e) => {
                let _ = ready.send(Err(crate::Error::Internal(format!("cannot prepare {}: {e}", copies.display()))));
                return;
            }
        };
        tracing::info!(dir = %config.plugin_dir.display(), "loading engine plugins");
        if config.watch {
            self.watch(&config.plugin_dir);
        }
        if !self.scan(&mut loader, Vec::new()) {
            return;
        }
        let _ = ready.send(Ok(()));
        loop {
            let wait = if loader.busy() { BUSY_RETRY.min(config.rescan_interval) } else { config.rescan_interval };
            let waiting = match wakes.recv_timeout(wait) {
                Ok(Wake::Scan(reply)) => vec![reply],
                Ok(Wake::Changed) => debounce(&wakes),
                Err(RecvTimeoutError::Timeout) => {
                    if config.watch && self.watcher.is_none() {
                        self.watch(&config.plugin_dir);
                    }
                    Vec::new()
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if !self.scan(&mut loader, waiting) {
                return;
            }
        }
    }

    /// Scans, logs what changed, publishes the new set and answers who
    /// asked. False once nobody holds the engines any more.
    fn scan(&self, loader: &mut Loader, waiting: Vec<oneshot::Sender<Arc<EngineSet>>>) -> bool {
        let Some(current) = self.current.upgrade() else { return false };
        let changes = loader.scan();
        for change in &changes {
            log(change);
        }
        let set = if changes.is_empty() {
            current.read().unwrap_or_else(PoisonError::into_inner).clone()
        } else {
            let set = Arc::new(EngineSet {
                loaded: loader.loaded().map(|e| (e.description.id.clone(), Arc::new(e.clone()))).collect(),
                refused: loader.refused(),
                restart_needed: loader.restart_needed(),
            });
            *current.write().unwrap_or_else(PoisonError::into_inner) = set.clone();
            set
        };
        for reply in waiting {
            let _ = reply.send(set.clone());
        }
        true
    }

    /// Sets up the directory's watch; without one, the periodic scan alone
    /// finds new plugins.
    fn watch(&mut self, dir: &Path) {
        use notify::{EventKind, RecursiveMode, Watcher as _};

        let wake = self.wake.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reads (our own copies of a library among them) change nothing;
            // an error (a lost event) may hide a change.
            if !event.is_ok_and(|e| matches!(e.kind, EventKind::Access(_))) {
                let _ = wake.send(Wake::Changed);
            }
        })
        .and_then(|mut watcher| watcher.watch(dir, RecursiveMode::NonRecursive).map(|()| watcher));
        match watcher {
            Ok(watcher) => self.watcher = Some(watcher),
            // Logged at debug: a missing directory is already listed as
            // refused, and this is tried again at every periodic scan.
            Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "cannot watch the plugin directory"),
        }
    }
}

/// Waits until the directory has been quiet for [`QUIET`] (at most
/// [`MAX_DEBOUNCE`]); a scan asked for meanwhile ends the wait.
fn debounce(wakes: &Receiver<Wake>) -> Vec<oneshot::Sender<Arc<EngineSet>>> {
    let deadline = Instant::now() + MAX_DEBOUNCE;
    let mut waiting = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match wakes.recv_timeout(QUIET.min(left)) {
            Ok(Wake::Changed) => {}
            Ok(Wake::Scan(reply)) => {
                waiting.push(reply);
                break;
            }
            Err(_) => break,
        }
    }
    waiting
}

fn log(change: &Change) {
    match change {
        Change::Loaded { engine, version, file } => {
            tracing::info!(engine = %engine, version = %version, file = %file.display(), "plugin loaded")
        }
        Change::Refused(refused) => {
            tracing::warn!(file = %refused.file.display(), reason = %refused.reason, "plugin refused")
        }
        Change::RestartNeeded(r) => {
            tracing::warn!(engine = %r.engine, file = %r.file.display(), reason = %r.reason, "restart needed")
        }
        Change::Restored { engine, file } => {
            tracing::info!(engine = %engine, file = %file.display(), "plugin file restored as loaded; no restart needed")
        }
    }
}

fn secret_properties(description: &EngineDescription) -> Vec<String> {
    let Some(props) = description.cluster_config_schema.get("properties").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    props
        .iter()
        .filter(|(_, schema)| schema.get("writeOnly").and_then(|w| w.as_bool()) == Some(true))
        .map(|(name, _)| name.clone())
        .collect()
}

struct HintSender(UnboundedSender<String>);

impl HostHooks for HintSender {
    fn status_hint(&self, _engine_id: &str, execution_id: &str) {
        // The receiver lives as long as the service; after shutdown a hint
        // has nobody to tell.
        let _ = self.0.send(execution_id.to_string());
    }
}
