//! `GET /v2/job-types`: which job types the loaded engines run.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Edp;

/// Sahara's shape: `[{"name": type, "plugins": [{name, title, description,
/// versions: {version: {}}}]}]`, only types some engine runs. `types`, when
/// not empty, keeps only those; `plugin_name` only that engine.
pub fn list(edp: &Edp, types: &[String], plugin_name: Option<&str>) -> Vec<Value> {
    let mut by_type: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for engine in edp.engines().loaded() {
        let d = &engine.description;
        if plugin_name.is_some_and(|p| p != d.id) {
            continue;
        }
        for job_type in &d.job_types {
            if !types.is_empty() && !types.contains(job_type) {
                continue;
            }
            by_type.entry(job_type).or_default().push(json!({
                "name": d.id,
                "title": d.title,
                "description": d.description,
                "versions": {d.version.clone(): {}},
            }));
        }
    }
    by_type.into_iter().map(|(name, plugins)| json!({"name": name, "plugins": plugins})).collect()
}
