//! The check run when a cluster is registered: Oozie answers, serves API v2
//! and is in NORMAL mode; WebHDFS answers.

use edp_engine_api::wire::{ClusterCheck, Object};
use serde_json::json;

use crate::cluster::ClusterConfig;
use crate::http::Http;
use crate::oozie::Oozie;
use crate::webhdfs::WebHdfs;

pub async fn check(http: &Http, cluster: &ClusterConfig) -> ClusterCheck {
    let mut info = Object::new();
    let reason = problems(http, cluster, &mut info).await.err();
    ClusterCheck { ok: reason.is_none(), reason, info }
}

async fn problems(http: &Http, cluster: &ClusterConfig, info: &mut Object) -> Result<(), String> {
    let oozie = Oozie::new(http, cluster);
    let versions = oozie.versions().await.map_err(|e| e.message)?;
    info.insert("oozie_api_versions".into(), json!(versions));
    if !versions.contains(&2) {
        return Err(format!(
            "Oozie at {} does not serve web services API v2 (it serves {versions:?})",
            cluster.oozie_url
        ));
    }
    let mode = oozie.system_mode().await.map_err(|e| e.message)?;
    info.insert("oozie_system_mode".into(), json!(mode));
    if mode != "NORMAL" {
        return Err(format!("Oozie at {} is in system mode {mode}, not NORMAL", cluster.oozie_url));
    }
    // Informative only: older servers may not answer it.
    if let Ok(version) = oozie.build_version().await {
        info.insert("oozie_version".into(), json!(version));
    }
    let home = format!("/user/{}", cluster.hdfs_user);
    let exists = WebHdfs::new(http, cluster).exists(&home).await.map_err(|e| e.message)?;
    info.insert("hdfs_home".into(), json!(home));
    info.insert("hdfs_home_exists".into(), json!(exists));
    Ok(())
}
