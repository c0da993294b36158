//! The check run when a cluster is registered: can jobs run there now?
//! - rest mode: the REST server answers `readyz`;
//! - spark-submit mode: `spark-submit --version` runs (and says which
//!   Spark), a `spark://` master accepts connections, and in standalone
//!   cluster mode the REST server that follows drivers answers too.
//!
//! The job directory must be writable in every mode.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use edp_engine_api::plugin::{Result, blocking};
use edp_engine_api::wire::{ClusterCheck, Object};
use serde_json::json;

use crate::cluster::{ClusterConfig, MasterKind, SubmitMode};
use crate::rest::Http;
use crate::settings::Settings;

pub async fn check(cluster: &ClusterConfig, settings: &Settings, http: &Http) -> Result<ClusterCheck> {
    let mut info = Object::new();
    let work_dir = cluster.work_dir(&settings.work_dir);
    info.insert("work_dir".into(), json!(work_dir));
    info.insert(
        "submit_mode".into(),
        json!(if cluster.submit_mode == SubmitMode::Rest { "rest" } else { "spark-submit" }),
    );
    info.insert("deploy_mode".into(), json!(cluster.deploy_mode.as_str()));
    if let Some(master) = &cluster.master {
        info.insert("master".into(), json!(master));
    }
    let mut problems = Vec::new();
    let dir = work_dir.clone();
    if let Err(e) =
        blocking(move || writable(&dir).map_err(|e| edp_engine_api::plugin::Error::fatal(e.to_string()))).await
    {
        problems.push(format!("work directory `{}`: {}", work_dir.display(), e.message));
    }

    if cluster.submit_mode == SubmitMode::SparkSubmit {
        match spark_submit_version(cluster, settings).await {
            Ok(version) => {
                info.insert("spark_version".into(), json!(version));
            }
            Err(why) => problems.push(why),
        }
        if cluster.master_kind() == MasterKind::Standalone
            && let Err(why) = reach_master(cluster, settings.connect_timeout).await
        {
            problems.push(why);
        }
    }
    if cluster.submit_mode == SubmitMode::Rest || cluster.standalone_cluster() {
        let master = http.master(cluster)?;
        info.insert("rest_url".into(), json!(master.rest_url()));
        match master.readyz().await {
            Ok(answer) => {
                if let Some(version) = answer.get("serverSparkVersion") {
                    info.insert("server_spark_version".into(), version.clone());
                }
            }
            Err(e) => problems.push(format!("the REST server does not answer: {}", e.message)),
        }
    }
    let reason = (!problems.is_empty()).then(|| problems.join("; "));
    Ok(ClusterCheck { ok: reason.is_none(), reason, info })
}

/// Runs `spark-submit --version`; the version it names, or why not.
async fn spark_submit_version(cluster: &ClusterConfig, settings: &Settings) -> std::result::Result<String, String> {
    let home = cluster.spark_home.as_deref().unwrap_or(Path::new("/"));
    let program = home.join("bin/spark-submit");
    if !program.is_file() {
        return Err(format!("`{}` does not exist: is spark_home right?", program.display()));
    }
    let mut command = tokio::process::Command::new(&program);
    command
        .arg("--version")
        .envs(&cluster.env)
        .env("SPARK_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let run = tokio::time::timeout(settings.check_timeout, command.output());
    let output = match run.await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("cannot run `{}`: {e}", program.display())),
        Err(_) => {
            return Err(format!("`{} --version` did not end within {:?}", program.display(), settings.check_timeout));
        }
    };
    // It prints its banner on stderr.
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        let tail = text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
        return Err(format!("`{} --version` failed ({}): {tail}", program.display(), output.status));
    }
    let version = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .filter(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_owned);
    Ok(version.unwrap_or_else(|| "unknown".into()))
}

/// A TCP connection to one of the hosts of a `spark://` master.
async fn reach_master(cluster: &ClusterConfig, timeout: Duration) -> std::result::Result<(), String> {
    let master = cluster.master.as_deref().unwrap_or_default();
    let hosts = master.trim_start_matches("spark://");
    let mut errors = Vec::new();
    for host in hosts.split(',') {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(host)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => errors.push(format!("{host}: {e}")),
            Err(_) => errors.push(format!("{host}: timed out")),
        }
    }
    Err(format!("master `{master}` does not accept connections ({})", errors.join(", ")))
}

fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".edp-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}
