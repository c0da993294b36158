//! Whether a job's output already exists, for `use_existing`.
//!
//! `file`: the path exists and holds data (a non-empty file, or a
//! directory with `_SUCCESS` or any entry). Anything else is asked of the
//! cluster's engine through `invoke("output_exists", {url, cluster})`,
//! since the engine knows its storage (the Oozie engine asks WebHDFS).

use std::path::Path;

use edp_engine_api::wire::ClusterSpec;
use serde_json::json;

use crate::Edp;
use crate::validate;

/// What is known of one output.
pub(crate) enum Output {
    Exists,
    Missing,
    /// Nobody could tell; the job runs.
    Unknown(String),
}

pub(crate) async fn check(edp: &Edp, engine: &str, cluster: &ClusterSpec, kind: &str, url: &str) -> Output {
    if kind == "file" {
        let Ok(path) = validate::local_path(url) else {
            return Output::Unknown(format!("'{url}' is not a local path"));
        };
        return match tokio::task::spawn_blocking(move || holds_data(&path)).await {
            Ok(true) => Output::Exists,
            Ok(false) => Output::Missing,
            Err(e) => Output::Unknown(e.to_string()),
        };
    }
    let Some(client) = edp.engines().client(engine) else {
        return Output::Unknown(format!("engine '{engine}' is not loaded"));
    };
    let ask = json!({"url": url, "kind": kind, "cluster": cluster});
    match client.invoke("output_exists", &ask, edp.settings().call_timeout).await {
        Ok(answer) => match answer.get("exists").and_then(|e| e.as_bool()) {
            Some(true) => Output::Exists,
            Some(false) => Output::Missing,
            None => Output::Unknown(format!("engine '{engine}' answered output_exists without `exists`")),
        },
        Err(e) => Output::Unknown(format!("engine '{engine}' cannot tell: {e}")),
    }
}

fn holds_data(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta.len() > 0,
        Ok(meta) if meta.is_dir() => {
            path.join("_SUCCESS").exists() || std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
        }
        _ => false,
    }
}
