//! `GET /v2/job-types` (and v1.1's): which job types the loaded engines run.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Edp;
use crate::catalog::job_templates;

/// Which job types to list; every field empty or `false` lists them all.
#[derive(Debug, Default)]
pub struct JobTypeFilter {
    /// Only these types.
    pub types: Vec<String>,
    /// Only this engine (Sahara's plugin).
    pub plugin_name: Option<String>,
    /// Only engines at this version.
    pub plugin_version: Option<String>,
    /// Each version's config hints instead of `{}` (Sahara's `hints=true`).
    pub hints: bool,
}

/// Sahara's shape: `[{"name": type, "plugins": [{name, title, description,
/// versions: {version: hints or {}}}]}]`, only types some engine runs.
pub fn list(edp: &Edp, filter: &JobTypeFilter) -> Vec<Value> {
    let mut by_type: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let engines = edp.engines().snapshot();
    for engine in engines.loaded() {
        let d = &engine.description;
        if filter.plugin_name.as_deref().is_some_and(|p| p != d.id)
            || filter.plugin_version.as_deref().is_some_and(|v| v != d.version)
        {
            continue;
        }
        for job_type in &d.job_types {
            if !filter.types.is_empty() && !filter.types.contains(job_type) {
                continue;
            }
            let hints =
                if filter.hints { job_templates::config_hints(edp, job_type).unwrap_or_default() } else { json!({}) };
            by_type.entry(job_type).or_default().push(json!({
                "name": d.id,
                "title": d.title,
                "description": d.description,
                "versions": {d.version.clone(): hints},
            }));
        }
    }
    by_type.into_iter().map(|(name, plugins)| json!({"name": name, "plugins": plugins})).collect()
}
