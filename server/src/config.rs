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
    pub retention: Retention,
    pub auth: Auth,
    pub plugins: Plugins,
    pub log: Log,
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
    /// `/metrics` for admins only (an admin's token; in the single-user
    /// mode every caller is). Default: open, as `/healthz` and `/readyz`.
    #[serde(default)]
    pub metrics_admin_only: bool,
    /// This edpd among those sharing a database (one process per id at a
    /// time). Empty: the host's name.
    #[serde(default)]
    pub node_id: String,
    /// A node not heard from for this long has its host-bound jobs say so.
    pub node_timeout_secs: u64,
}

/// `[log]`: what edpd writes on stderr.
#[derive(Deserialize, Debug, Clone)]
pub struct Log {
    /// A `tracing` filter (`info`, `warn,edp_core=debug`); `RUST_LOG` wins.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line a event, for people.
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub plugin_dir: PathBuf,
    /// Directories `file://` binaries and `file` data sources may point
    /// into. Unset: anywhere in the single-user mode, nowhere with tokens.
    #[serde(default)]
    pub file_roots: Option<Vec<PathBuf>>,
}

/// How plugins are loaded. (Not under `[engines]`: that table maps engine
/// ids to their settings.)
#[derive(Deserialize, Debug, Clone)]
pub struct Plugins {
    pub load_timeout_secs: f64,
    pub rescan_secs: f64,
    pub watch: bool,
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
    /// Engine calls under way at once per cluster (its fair share).
    pub cluster_concurrency: usize,
    /// How often jobs an engine watches (it says when they end) are polled
    /// anyway, at most.
    pub fallback_poll_secs: u64,
    pub max_binary_bytes: u64,
    /// Attempts of a job that does not set `edp.job.max_attempts`.
    pub max_attempts: u32,
    /// The first delay between attempts (`edp.job.retry_delay_secs`).
    pub retry_delay_secs: u64,
    /// A job's time limit per attempt (`edp.job.timeout_secs`); 0: none.
    pub timeout_secs: u64,
}

/// How long finished jobs and flows are kept.
#[derive(Deserialize, Debug, Clone)]
pub struct Retention {
    /// Days after its end a finished job (its logs and work directory) or
    /// flow is purged; fractions allowed; 0 keeps everything.
    pub finished_jobs_days: f64,
    /// How often the purge looks.
    pub interval_secs: u64,
    /// Rows purged per statement batch.
    pub batch: u64,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Auth {
    pub default_project: String,
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenEntry>,
    #[serde(default)]
    pub allow_anonymous: Option<bool>,
    /// Jobs one project may run at once, over all clusters; 0: no limit.
    #[serde(default)]
    pub max_concurrent_jobs_per_project: u32,
}

/// `"tok" = "team-a"`, or `"tok" = { project = "ops", admin = true }`.
#[derive(Deserialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum TokenEntry {
    Project(String),
    Role {
        project: String,
        #[serde(default)]
        admin: bool,
    },
}

impl TokenEntry {
    pub fn project(&self) -> String {
        match self {
            Self::Project(project) | Self::Role { project, .. } => project.clone(),
        }
    }

    pub fn admin(&self) -> bool {
        matches!(self, Self::Role { admin: true, .. })
    }
}

/// Tokens are secrets: a debug print of the settings shows their projects.
impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.project(), if self.admin() { " (admin)" } else { "" })
    }
}

#[derive(Deserialize, Debug, Clone)]
pub struct DeclaredCluster {
    pub plugin_name: String,
    #[serde(default)]
    pub cluster_configs: Map<String, Value>,
    /// Projects allowed to run jobs on it, when its jobs run on this host.
    /// Unset: the default project.
    #[serde(default)]
    pub projects: Option<Vec<String>>,
    /// Jobs running at once on it; more wait PENDING. Unset: unlimited.
    #[serde(default)]
    pub max_concurrent_jobs: Option<u32>,
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

    /// The database URL as the log may show it: no user, password or
    /// query string (a password may travel there).
    pub fn database_shown(&self) -> String {
        let url = self.database_url();
        let url = url.split('?').next().unwrap_or_default();
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
                match authority.rsplit_once('@') {
                    Some((_, host)) => format!("{scheme}://***@{host}/{path}"),
                    None => url.to_string(),
                }
            }
            None => "(not a URL)".to_string(),
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

    pub fn plugin_config(&self) -> edp_core::engines::PluginConfig {
        edp_core::engines::PluginConfig {
            plugin_dir: self.plugin_dir(),
            data_dir: self.paths.data_dir.clone(),
            settings: self.engines.clone(),
            load_timeout: Duration::from_secs_f64(self.plugins.load_timeout_secs.max(0.1)),
            rescan_interval: Duration::from_secs_f64(self.plugins.rescan_secs.max(0.1)),
            watch: self.plugins.watch,
        }
    }

    /// How requests are authenticated. Without tokens, edpd is one user's:
    /// on loopback by default, elsewhere only with `allow_anonymous = true`
    /// (else nobody could use it: `auth_problem` says so at start).
    pub fn auth(&self) -> crate::auth::Auth {
        use crate::auth::{Anonymous, Auth};
        if self.auth.tokens.is_empty() {
            return Auth::SingleUser { project: self.auth.default_project.clone() };
        }
        Auth::Tokens {
            tokens: self.auth.tokens.clone(),
            anonymous: if self.auth.allow_anonymous.unwrap_or(false) {
                Anonymous::DefaultProject
            } else {
                Anonymous::Refused
            },
            default_project: self.auth.default_project.clone(),
        }
    }

    /// A configuration no one could use safely, refused at start.
    pub fn auth_problem(&self) -> Option<String> {
        let open = self.auth.allow_anonymous.unwrap_or(false);
        (self.auth.tokens.is_empty() && !self.server.host.is_loopback() && !open).then(|| {
            format!(
                "edpd listens on {} with no [auth] tokens: anyone who reaches it would act as its operator. \
                 Configure [auth] tokens, listen on a loopback address, or set [auth] allow_anonymous = true \
                 to accept that",
                self.server.host
            )
        })
    }

    /// Where `file://` paths may point: the configured roots; unset, anywhere
    /// in the single-user mode and nowhere with tokens.
    pub fn file_roots(&self) -> (edp_core::host::FileRoots, Vec<String>) {
        use edp_core::host::FileRoots;
        match &self.paths.file_roots {
            Some(roots) => FileRoots::under(roots),
            None if self.auth.tokens.is_empty() && self.server.host.is_loopback() => (FileRoots::Anywhere, Vec::new()),
            None => (FileRoots::Under(Vec::new()), Vec::new()),
        }
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
            file_roots: self.file_roots().0,
            node_id: self.node_id(),
            node_timeout: Duration::from_secs(self.server.node_timeout_secs),
            cluster_concurrency: self.jobs.cluster_concurrency.max(1),
            fallback_poll: Duration::from_secs(self.jobs.fallback_poll_secs.max(1)),
            job_defaults: edp_core::manager::JobDefaults {
                max_attempts: self.jobs.max_attempts.clamp(1, edp_core::manager::MAX_ATTEMPTS),
                retry_delay_secs: self.jobs.retry_delay_secs.min(edp_core::manager::MAX_RETRY_DELAY_SECS),
                timeout_secs: self.jobs.timeout_secs,
            },
            project_job_limit: Some(self.auth.max_concurrent_jobs_per_project).filter(|&n| n > 0),
            retention: edp_core::retention::Retention {
                keep: (self.retention.finished_jobs_days > 0.0)
                    .then(|| Duration::from_secs_f64(self.retention.finished_jobs_days * 86_400.0)),
                interval: Duration::from_secs(self.retention.interval_secs.max(1)),
                batch: self.retention.batch.clamp(1, 10_000),
            },
        }
    }

    /// `[server] node_id`, else the host's name.
    pub fn node_id(&self) -> String {
        if !self.server.node_id.is_empty() {
            return self.server.node_id.clone();
        }
        rustix::system::uname().nodename().to_string_lossy().into_owned()
    }
}
