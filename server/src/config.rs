//! Typed configuration: built-in defaults < edp.toml (or `--config FILE`) <
//! `EDP__SECTION__KEY` environment variables.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

const DEFAULTS: &str = include_str!("../edp.defaults.toml");

#[derive(Deserialize, Debug, Clone)]
pub struct Settings {
    pub server: Server,
    pub paths: Paths,
    pub database: Database,
    pub jobs: Jobs,
    pub auth: Auth,
    #[serde(default)]
    pub clusters: BTreeMap<String, DeclaredCluster>,
    #[serde(default)]
    pub engines: BTreeMap<String, Map<String, Value>>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Server {
    pub host: IpAddr,
    pub port: u16,
    pub max_body_bytes: usize,
    /// How engines' backends (an Oozie server) reach edpd, for status
    /// callbacks. Empty: the address edpd listens on.
    #[serde(default)]
    pub public_url: String,
    /// Origins of dashboards hosted elsewhere that may call the API from a
    /// browser (CORS), e.g. `["https://dash.example.com"]`. Empty: none.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub plugin_dir: PathBuf,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Database {
    pub url: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Jobs {
    pub call_timeout_secs: u64,
    pub launch_timeout_secs: u64,
    pub cancel_timeout_secs: u64,
    pub refresh_timeout_secs: u64,
    pub launch_attempts: i32,
    pub engine_concurrency: usize,
    pub max_binary_bytes: u64,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Auth {
    pub default_project: String,
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    #[serde(default)]
    pub allow_anonymous: Option<bool>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct DeclaredCluster {
    pub plugin_name: String,
    #[serde(default)]
    pub cluster_configs: Map<String, Value>,
}

impl Settings {
    /// Reads the layers. `file`: an explicit config file (must exist);
    /// otherwise `edp.toml` in the working directory, if there is one.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        builder = match file {
            Some(path) => builder.add_source(config::File::from(path).required(true)),
            None => builder.add_source(config::File::with_name("edp.toml").required(false)),
        };
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("EDP")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // EDP__SERVER__CORS_ORIGINS=https://a,https://b
                    .list_separator(",")
                    .with_list_parse_key("server.cors_origins"),
            )
            .build()?
            .try_deserialize()?;
        Ok(settings)
    }

    pub fn public_url(&self, bound: std::net::SocketAddr) -> String {
        if self.server.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            self.server.public_url.trim_end_matches('/').to_string()
        }
    }

    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.paths.data_dir.join("edp.sqlite").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The plugin directory: configured, else `plugins/` beside the
    /// executable if it exists, else the executable's own directory.
    pub fn plugin_dir(&self) -> PathBuf {
        if !self.paths.plugin_dir.as_os_str().is_empty() {
            return self.paths.plugin_dir.clone();
        }
        let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default();
        let plugins = exe_dir.join("plugins");
        if plugins.is_dir() { plugins } else { exe_dir }
    }

    /// Anonymous requests are fine on loopback with no tokens configured;
    /// anywhere else they must be allowed explicitly.
    pub fn anonymous_allowed(&self) -> bool {
        self.auth.allow_anonymous.unwrap_or(self.auth.tokens.is_empty() && self.server.host.is_loopback())
    }

    pub fn core(&self) -> edp_core::Settings {
        edp_core::Settings {
            data_dir: self.paths.data_dir.clone(),
            call_timeout: Duration::from_secs(self.jobs.call_timeout_secs),
            launch_timeout: Duration::from_secs(self.jobs.launch_timeout_secs),
            cancel_timeout: Duration::from_secs(self.jobs.cancel_timeout_secs),
            refresh_timeout: Duration::from_secs(self.jobs.refresh_timeout_secs),
            max_binary_size: self.jobs.max_binary_bytes,
            launch_attempts: self.jobs.launch_attempts.max(1),
            engine_concurrency: self.jobs.engine_concurrency.max(1),
            public_url: None,
        }
    }
}
