//! A cluster's `cluster_configs` for this engine and their schema. The
//! check run when a cluster is registered is in `check`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::Object;
use edp_supervised::checks;
use serde_json::{Value, json};

/// The `clientSparkVersion` sent to a REST server, which accepts any value.
pub const DEFAULT_SPARK_VERSION: &str = "4.3.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitMode {
    /// `$SPARK_HOME/bin/spark-submit`, run on the edpd host.
    SparkSubmit,
    /// A standalone master's REST submission server.
    Rest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMode {
    Client,
    Cluster,
}

impl DeployMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Cluster => "cluster",
        }
    }
}

/// What the `master` URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKind {
    Local,
    Standalone,
    Yarn,
    Kubernetes,
    Other,
}

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub spark_home: Option<PathBuf>,
    pub master: Option<String>,
    pub deploy_mode: DeployMode,
    pub submit_mode: SubmitMode,
    /// `http(s)://host:port` of the REST submission server, no trailing `/`.
    pub rest_url: Option<String>,
    pub rest_auth_token: Option<String>,
    /// The master's web UI (`/json/`, and from it the workers' log pages).
    pub master_ui_url: Option<String>,
    pub principal: Option<String>,
    pub keytab: Option<String>,
    pub proxy_user: Option<String>,
    pub spark_version: String,
    /// Added to spark-submit's environment; a REST submission's
    /// `environmentVariables`.
    pub env: BTreeMap<String, String>,
    pub work_dir: Option<PathBuf>,
    /// The cluster's default `spark.*` properties.
    pub properties: BTreeMap<String, String>,
}

impl ClusterConfig {
    pub fn parse(configs: &Object) -> Result<Self> {
        let mut config = Self {
            spark_home: None,
            master: None,
            deploy_mode: DeployMode::Client,
            submit_mode: SubmitMode::SparkSubmit,
            rest_url: None,
            rest_auth_token: None,
            master_ui_url: None,
            principal: None,
            keytab: None,
            proxy_user: None,
            spark_version: DEFAULT_SPARK_VERSION.into(),
            env: BTreeMap::new(),
            work_dir: None,
            properties: BTreeMap::new(),
        };
        let mut deploy_mode = None;
        for (key, value) in configs {
            let text = || string(key, value);
            match key.as_str() {
                "spark_home" => config.spark_home = Some(PathBuf::from(text()?)),
                "master" => config.master = Some(text()?),
                "deploy_mode" => {
                    deploy_mode = Some(match text()?.as_str() {
                        "client" => DeployMode::Client,
                        "cluster" => DeployMode::Cluster,
                        other => return Err(invalid(format!("deploy_mode must be client or cluster, not `{other}`"))),
                    })
                }
                "submit_mode" => {
                    config.submit_mode = match text()?.as_str() {
                        "spark-submit" => SubmitMode::SparkSubmit,
                        "rest" => SubmitMode::Rest,
                        other => {
                            return Err(invalid(format!("submit_mode must be spark-submit or rest, not `{other}`")));
                        }
                    }
                }
                "rest_url" => config.rest_url = Some(http_base(key, &text()?)?),
                "master_ui_url" => config.master_ui_url = Some(http_base(key, &text()?)?),
                "rest_auth_token" => config.rest_auth_token = Some(text()?),
                "principal" => config.principal = Some(text()?),
                "keytab" => config.keytab = Some(text()?),
                "proxy_user" => config.proxy_user = Some(text()?),
                "spark_version" => config.spark_version = text()?,
                "work_dir" => {
                    let dir = PathBuf::from(text()?);
                    if !dir.is_absolute() {
                        return Err(invalid(format!("work_dir must be an absolute path, not `{}`", dir.display())));
                    }
                    config.work_dir = Some(dir);
                }
                "env" => {
                    let Value::Object(vars) = value else {
                        return Err(invalid("env must be an object of environment variables"));
                    };
                    for (name, value) in vars {
                        checks::env_name(name, "cluster_configs.env")?;
                        config.env.insert(name.clone(), string(&format!("env.{name}"), value)?);
                    }
                }
                _ if key.starts_with("spark.") => {
                    config.properties.insert(key.clone(), property_value(key, value)?);
                }
                _ => {
                    return Err(invalid(format!(
                        "unknown key `{key}`; the spark engine takes spark_home, master, deploy_mode, submit_mode, \
                         rest_url, master_ui_url, rest_auth_token, principal, keytab, proxy_user, spark_version, \
                         work_dir, env and spark.* properties"
                    )));
                }
            }
        }
        config.deploy_mode = deploy_mode.unwrap_or(match config.submit_mode {
            SubmitMode::SparkSubmit => DeployMode::Client,
            SubmitMode::Rest => DeployMode::Cluster,
        });
        config.check_consistency()?;
        Ok(config)
    }

    fn check_consistency(&self) -> Result<()> {
        if self.principal.is_some() != self.keytab.is_some() {
            return Err(invalid("principal and keytab go together: give both or neither"));
        }
        match self.submit_mode {
            SubmitMode::SparkSubmit => {
                if self.spark_home.is_none() {
                    return Err(invalid("spark-submit mode needs spark_home (the directory holding bin/spark-submit)"));
                }
                let Some(master) = &self.master else {
                    return Err(invalid(
                        "spark-submit mode needs master (local[N], spark://host:port, yarn, k8s://...)",
                    ));
                };
                if self.master_kind() == MasterKind::Local && self.deploy_mode == DeployMode::Cluster {
                    return Err(invalid(format!(
                        "master `{master}` runs in the spark-submit process: use deploy_mode client"
                    )));
                }
                if self.standalone_cluster() && self.rest_base().is_none() {
                    return Err(invalid(format!(
                        "cannot tell the REST server of master `{master}`: set rest_url (status and kill of drivers go through it)"
                    )));
                }
            }
            SubmitMode::Rest => {
                if self.rest_url.is_none() {
                    return Err(invalid("rest mode needs rest_url, e.g. http://127.0.0.1:6066"));
                }
                if self.deploy_mode != DeployMode::Cluster {
                    return Err(invalid("the REST submission server runs drivers in cluster deploy mode only"));
                }
                if let Some(master) = &self.master
                    && self.master_kind() != MasterKind::Standalone
                {
                    return Err(invalid(format!(
                        "rest mode submits to a standalone master (spark://...), not `{master}`"
                    )));
                }
                if self.principal.is_some() || self.proxy_user.is_some() {
                    return Err(invalid(
                        "the standalone REST server has no Kerberos or proxy users: use submit_mode spark-submit",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn master_kind(&self) -> MasterKind {
        match self.master.as_deref() {
            Some(m) if m == "local" || m.starts_with("local[") || m.starts_with("local-cluster[") => MasterKind::Local,
            Some(m) if m.starts_with("spark://") => MasterKind::Standalone,
            Some("yarn") => MasterKind::Yarn,
            Some(m) if m.starts_with("k8s://") => MasterKind::Kubernetes,
            _ => MasterKind::Other,
        }
    }

    /// spark-submit in cluster mode against a standalone master: it only
    /// submits, and the driver is followed through the REST server.
    pub fn standalone_cluster(&self) -> bool {
        self.submit_mode == SubmitMode::SparkSubmit
            && self.deploy_mode == DeployMode::Cluster
            && self.master_kind() == MasterKind::Standalone
    }

    /// The REST server: `rest_url`, else port 6066 on the (first) host of a
    /// `spark://` master.
    pub fn rest_base(&self) -> Option<String> {
        if let Some(url) = &self.rest_url {
            return Some(url.clone());
        }
        let hosts = self.master.as_deref()?.strip_prefix("spark://")?;
        let first = hosts.split(',').next()?;
        let host = first.rsplit_once(':').map_or(first, |(h, _)| h);
        (!host.is_empty()).then(|| format!("http://{host}:6066"))
    }

    /// The master's web UI: `master_ui_url`, else port 8080 on the REST
    /// server's host.
    pub fn master_ui(&self) -> Option<String> {
        if let Some(url) = &self.master_ui_url {
            return Some(url.clone());
        }
        let rest = reqwest::Url::parse(&self.rest_base()?).ok()?;
        Some(format!("{}://{}:8080", rest.scheme(), rest.host_str()?))
    }

    pub fn work_dir(&self, default: &std::path::Path) -> PathBuf {
        self.work_dir.clone().unwrap_or_else(|| default.to_path_buf())
    }
}

fn invalid(message: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!("cluster_configs: {message}"))
}

fn string(key: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(s) if !s.is_empty() && !s.contains('\0') => Ok(s.clone()),
        _ => Err(invalid(format!("{key} must be a non-empty string"))),
    }
}

/// A `spark.*` property as Spark reads it: text.
pub fn property_value(key: &str, value: &Value) -> Result<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(Error::invalid_input(format!("`{key}` must be a string, a number or a boolean"))),
    };
    if text.contains('\0') {
        return Err(Error::invalid_input(format!("`{key}` contains a NUL character")));
    }
    Ok(text)
}

/// `http(s)://host[:port]`, without a trailing slash.
fn http_base(key: &str, url: &str) -> Result<String> {
    let trimmed = url.trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| invalid(format!("{key} `{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid(format!("{key} must be an http:// or https:// URL, not `{url}`")));
    }
    if parsed.path() != "/" || parsed.query().is_some() {
        return Err(invalid(format!("{key} must be the server's base URL (scheme, host and port), not `{url}`")));
    }
    Ok(trimmed.to_owned())
}

pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "spark_home": {"type": "string", "description": "The Spark installation holding bin/spark-submit (spark-submit mode)"},
            "master": {"type": "string", "description": "local[N], spark://host:port, yarn, k8s://https://host:port ..."},
            "deploy_mode": {"enum": ["client", "cluster"], "description": "Default: client for spark-submit, cluster for rest"},
            "submit_mode": {"enum": ["spark-submit", "rest"], "default": "spark-submit"},
            "rest_url": {"type": "string", "description": "The standalone master's REST server, e.g. http://127.0.0.1:6066 (rest mode; spark-submit cluster mode on a standalone master: default port 6066 on the master's host)"},
            "master_ui_url": {"type": "string", "description": "The standalone master's web UI, for driver logs; default port 8080 on the REST server's host"},
            "rest_auth_token": {"type": "string", "writeOnly": true, "description": "A JWS sent as Authorization: Bearer to the REST server (spark.master.rest.filters=org.apache.spark.ui.JWSFilter)"},
            "principal": {"type": "string", "description": "Kerberos principal (spark-submit --principal)"},
            "keytab": {"type": "string", "writeOnly": true, "description": "Keytab file of the principal (spark-submit --keytab)"},
            "proxy_user": {"type": "string", "description": "spark-submit --proxy-user"},
            "spark_version": {"type": "string", "default": DEFAULT_SPARK_VERSION, "description": "clientSparkVersion of REST submissions"},
            "work_dir": {"type": "string", "description": "Absolute directory for job directories; default: the engine's work_dir"},
            "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Environment of spark-submit; environmentVariables of REST submissions"}
        },
        "patternProperties": {
            "^spark\\.": {"type": ["string", "number", "boolean"], "description": "A default Spark property; job configs override it"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ClusterConfig> {
        ClusterConfig::parse(v.as_object().expect("an object"))
    }

    #[test]
    fn modes_and_their_needs() {
        let c = parse(json!({"spark_home": "/s", "master": "local[2]", "spark.executor.memory": "1g"})).unwrap();
        assert_eq!(
            (c.submit_mode, c.deploy_mode, c.master_kind()),
            (SubmitMode::SparkSubmit, DeployMode::Client, MasterKind::Local)
        );
        assert_eq!(c.properties["spark.executor.memory"], "1g");
        assert!(parse(json!({"master": "local[2]"})).is_err());
        assert!(parse(json!({"spark_home": "/s", "master": "local[2]", "deploy_mode": "cluster"})).is_err());
        assert!(parse(json!({"spark_home": "/s", "master": "yarn", "bogus": 1})).is_err());

        let r = parse(json!({"submit_mode": "rest", "rest_url": "http://127.0.0.1:6066/"})).unwrap();
        assert_eq!((r.deploy_mode, r.rest_url.as_deref()), (DeployMode::Cluster, Some("http://127.0.0.1:6066")));
        assert_eq!(r.master_ui().as_deref(), Some("http://127.0.0.1:8080"));
        assert!(parse(json!({"submit_mode": "rest"})).is_err());
        assert!(parse(json!({"submit_mode": "rest", "rest_url": "http://h:6066", "deploy_mode": "client"})).is_err());
        assert!(parse(json!({"submit_mode": "rest", "rest_url": "http://h:6066/v1/submissions"})).is_err());
        assert!(parse(json!({"submit_mode": "rest", "rest_url": "http://h:6066", "proxy_user": "u"})).is_err());

        let s =
            parse(json!({"spark_home": "/s", "master": "spark://m1:7077,m2:7077", "deploy_mode": "cluster"})).unwrap();
        assert!(s.standalone_cluster());
        assert_eq!(s.rest_base().as_deref(), Some("http://m1:6066"));
        assert!(parse(json!({"spark_home": "/s", "master": "yarn", "principal": "p"})).is_err());
    }
}
