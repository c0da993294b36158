//! The engines this edpd runs: loaded from the plugin directory once, at
//! start. Libraries are never unloaded, so a new version of a loaded plugin
//! needs a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use edp_engine_api::host::{self, EngineClient, HostHooks, LoadedEngine, Refused};
use edp_engine_api::wire::{EngineDescription, EngineSettings, Object};
use tokio::sync::mpsc::UnboundedSender;

pub struct Engines {
    loaded: BTreeMap<String, LoadedEngine>,
    refused: Vec<Refused>,
}

impl Engines {
    /// Loads every library in `plugin_dir`. Each engine gets
    /// `<data_dir>/engines/<id>` as its own directory and `[engines.<id>]`
    /// from the configuration. Status hints are sent to `hints`.
    pub fn load(
        plugin_dir: &Path,
        data_dir: &Path,
        settings: &BTreeMap<String, Object>,
        hints: UnboundedSender<String>,
    ) -> Self {
        let settings_for = |id: &str, file: &Path| EngineSettings {
            plugin_path: file.to_path_buf(),
            data_dir: data_dir.join("engines").join(id),
            settings: settings.get(id).cloned().unwrap_or_default(),
        };
        let report = host::load_dir(plugin_dir, &settings_for, Arc::new(HintSender(hints)));
        for engine in &report.loaded {
            tracing::info!(engine = %engine.description.id, version = %engine.description.version, file = %engine.file.display(), "engine loaded");
        }
        for refused in &report.refused {
            tracing::warn!(file = %refused.file.display(), reason = %refused.reason, "plugin refused");
        }
        let loaded = report.loaded.into_iter().map(|e| (e.description.id.clone(), e)).collect();
        Self { loaded, refused: report.refused }
    }

    pub fn get(&self, id: &str) -> Option<&LoadedEngine> {
        self.loaded.get(id)
    }

    pub fn client(&self, id: &str) -> Option<&EngineClient> {
        self.loaded.get(id).map(|e| &e.client)
    }

    pub fn loaded(&self) -> impl Iterator<Item = &LoadedEngine> {
        self.loaded.values()
    }

    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    /// Cluster config keys the engine marks `writeOnly`: never shown.
    pub fn secret_configs(&self, id: &str) -> Vec<String> {
        self.loaded.get(id).map(|e| secret_properties(&e.description)).unwrap_or_default()
    }
}

/// What GET /v2/engines shows of an engine.
#[derive(serde::Serialize)]
pub struct EngineInfo<'a> {
    #[serde(flatten)]
    pub description: &'a EngineDescription,
    pub file: PathBuf,
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
