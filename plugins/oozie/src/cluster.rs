//! A cluster's `cluster_configs` for this engine and their schema: where
//! Oozie, the NameNode, the ResourceManager and WebHDFS are, as whom to act,
//! and extra `oozie.*` job properties for every job.

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::Object;
use serde_json::{Value, json};

/// Job properties the engine sets itself.
pub const RESERVED_PROPERTIES: [&str; 3] =
    ["oozie.wf.application.path", "oozie.libpath", "oozie.wf.workflow.notification.url"];

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// `http://host:11000/oozie`, without a trailing slash.
    pub oozie_url: String,
    /// `hdfs://host:8020`, without a trailing slash.
    pub name_node: String,
    /// The `jobTracker` of Oozie's actions (a YARN ResourceManager address).
    pub job_tracker: String,
    pub hdfs_user: String,
    /// `http://host:9870`, without `/webhdfs/v1`.
    pub webhdfs_url: String,
    /// A hive-site.xml in HDFS for Hive actions' `<job-xml>`.
    pub hive_site_xml: Option<String>,
    pub spark_master: String,
    pub spark_mode: String,
    /// HTTP basic authentication in front of Oozie and WebHDFS (a gateway
    /// such as Apache Knox).
    pub gateway_user: Option<String>,
    pub gateway_password: Option<String>,
    /// `oozie.*` job properties for every job on this cluster.
    pub oozie_properties: Vec<(String, String)>,
}

const KEYS: [&str; 11] = [
    "oozie_url",
    "name_node",
    "job_tracker",
    "resource_manager",
    "hdfs_user",
    "webhdfs_url",
    "hive_site_xml",
    "spark_master",
    "spark_mode",
    "gateway_user",
    "gateway_password",
];

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_input(message)
}

fn string(configs: &Object, key: &str) -> Result<Option<String>> {
    match configs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(invalid(format!("cluster_configs.{key} must be a string, not {other}"))),
    }
}

/// An `http(s)://host[:port][/path]` URL, trailing slashes removed.
fn http_url(key: &str, value: String) -> Result<String> {
    let rest = value.strip_prefix("http://").or_else(|| value.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !value.contains(char::is_whitespace) => {
            Ok(value.trim_end_matches('/').to_string())
        }
        _ => Err(invalid(format!("cluster_configs.{key} must be an http:// or https:// URL, not `{value}`"))),
    }
}

impl ClusterConfig {
    pub fn parse(configs: &Object) -> Result<Self> {
        let mut oozie_properties = Vec::new();
        for (key, value) in configs {
            if key.starts_with("oozie.") {
                if RESERVED_PROPERTIES.contains(&key.as_str()) {
                    return Err(invalid(format!("cluster_configs.{key} is set by the engine for each job")));
                }
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    other => return Err(invalid(format!("cluster_configs.{key} must be a string, not {other}"))),
                };
                crate::xml::check_text(&format!("cluster_configs.{key}"), &value)?;
                oozie_properties.push((key.clone(), value));
            } else if !KEYS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "cluster_configs.{key} is not a setting of the oozie engine (known: {}, and oozie.* job properties)",
                    KEYS.join(", ")
                )));
            }
        }
        let required = |key: &str| -> Result<String> {
            string(configs, key)?.ok_or_else(|| invalid(format!("cluster_configs.{key} is required")))
        };
        let oozie_url = http_url("oozie_url", required("oozie_url")?)?;
        let webhdfs_url = http_url("webhdfs_url", required("webhdfs_url")?)?;
        let webhdfs_url = webhdfs_url.strip_suffix("/webhdfs/v1").unwrap_or(&webhdfs_url).to_string();
        let name_node = required("name_node")?;
        match name_node.split_once("://") {
            Some((scheme, authority))
                if !scheme.is_empty()
                    && !authority.trim_end_matches('/').is_empty()
                    && !authority.trim_end_matches('/').contains('/') => {}
            _ => {
                return Err(invalid(format!(
                    "cluster_configs.name_node must look like hdfs://host:8020, not `{name_node}`"
                )));
            }
        }
        let name_node = name_node.trim_end_matches('/').to_string();
        let job_tracker = match (string(configs, "job_tracker")?, string(configs, "resource_manager")?) {
            (Some(jt), None) | (None, Some(jt)) => jt,
            (Some(a), Some(b)) if a == b => a,
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "cluster_configs: give job_tracker or resource_manager (the same setting), not both",
                ));
            }
            (None, None) => return Err(invalid("cluster_configs.job_tracker (or resource_manager) is required")),
        };
        let hdfs_user = string(configs, "hdfs_user")?.unwrap_or_else(|| "hadoop".into());
        if !hdfs_user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            || hdfs_user.starts_with('.')
        {
            return Err(invalid(format!("cluster_configs.hdfs_user `{hdfs_user}` is not a valid user name")));
        }
        let hive_site_xml = string(configs, "hive_site_xml")?;
        let gateway_user = string(configs, "gateway_user")?;
        let gateway_password = string(configs, "gateway_password")?;
        if gateway_password.is_some() && gateway_user.is_none() {
            return Err(invalid("cluster_configs.gateway_password needs gateway_user"));
        }
        for (key, value) in [("job_tracker", Some(&job_tracker)), ("hive_site_xml", hive_site_xml.as_ref())] {
            if let Some(v) = value {
                crate::xml::check_text(&format!("cluster_configs.{key}"), v)?;
            }
        }
        Ok(Self {
            oozie_url,
            name_node,
            job_tracker,
            hdfs_user,
            webhdfs_url,
            hive_site_xml,
            spark_master: string(configs, "spark_master")?.unwrap_or_else(|| "yarn".into()),
            spark_mode: string(configs, "spark_mode")?.unwrap_or_else(|| "cluster".into()),
            gateway_user,
            gateway_password,
            oozie_properties,
        })
    }

    /// A path in the cluster's HDFS as a URI Hadoop resolves.
    pub fn hdfs_uri(&self, path: &str) -> String {
        format!("{}{path}", self.name_node)
    }
}

pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["oozie_url", "name_node", "webhdfs_url"],
        "oneOf": [{"required": ["job_tracker"]}, {"required": ["resource_manager"]}],
        "additionalProperties": false,
        "properties": {
            "oozie_url": {"type": "string", "format": "uri", "description": "Oozie's base URL", "examples": ["http://oozie:11000/oozie"]},
            "name_node": {"type": "string", "description": "The default file system of jobs (nameNode)", "examples": ["hdfs://namenode:8020"]},
            "job_tracker": {"type": "string", "description": "The jobTracker of actions: the YARN ResourceManager address", "examples": ["resourcemanager:8032"]},
            "resource_manager": {"type": "string", "description": "Another name for job_tracker"},
            "hdfs_user": {"type": "string", "default": "hadoop", "description": "The user jobs run as (user.name) and whose HDFS home holds their files"},
            "webhdfs_url": {"type": "string", "format": "uri", "description": "The NameNode's HTTP address for WebHDFS", "examples": ["http://namenode:9870"]},
            "hive_site_xml": {"type": "string", "description": "HDFS path of a hive-site.xml given to Hive actions as <job-xml>"},
            "spark_master": {"type": "string", "default": "yarn", "description": "<master> of Spark actions"},
            "spark_mode": {"type": "string", "default": "cluster", "description": "<mode> of Spark actions"},
            "gateway_user": {"type": "string", "description": "HTTP basic-auth user of a gateway in front of Oozie and WebHDFS"},
            "gateway_password": {"type": "string", "writeOnly": true, "description": "HTTP basic-auth password of that gateway"}
        },
        "patternProperties": {
            "^oozie\\.": {"type": ["string", "number", "boolean"], "description": "An Oozie job property for every job on this cluster"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> Object {
        v.as_object().cloned().unwrap()
    }

    fn good() -> Value {
        json!({
            "oozie_url": "http://oozie:11000/oozie/",
            "name_node": "hdfs://nn:8020",
            "resource_manager": "rm:8032",
            "webhdfs_url": "http://nn:9870/webhdfs/v1",
            "oozie.launcher.mapreduce.map.memory.mb": 2048,
        })
    }

    #[test]
    fn a_good_config_is_normalised() {
        let c = ClusterConfig::parse(&object(good())).unwrap();
        assert_eq!(c.oozie_url, "http://oozie:11000/oozie");
        assert_eq!(c.webhdfs_url, "http://nn:9870");
        assert_eq!(c.job_tracker, "rm:8032");
        assert_eq!(c.hdfs_user, "hadoop");
        assert_eq!(c.oozie_properties, [("oozie.launcher.mapreduce.map.memory.mb".to_string(), "2048".to_string())]);
        assert_eq!(c.hdfs_uri("/user/x"), "hdfs://nn:8020/user/x");
    }

    #[test]
    fn bad_configs_are_refused_with_the_key() {
        let cases = [
            ("oozie_url", json!("ftp://x")),
            ("name_node", json!("nn:8020")),
            ("name_node", json!("hdfs://nn:8020/path")),
            ("hdfs_user", json!("../root")),
            ("oozie.libpath", json!("/x")),
            ("unknown", json!(1)),
            ("job_tracker", json!("other:1")),
        ];
        for (key, value) in cases {
            let mut v = good();
            v[key] = value;
            let e = ClusterConfig::parse(&object(v)).expect_err(key);
            assert!(e.message.contains(key), "{key}: {}", e.message);
        }
        let mut v = good();
        v.as_object_mut().unwrap().remove("resource_manager");
        assert!(ClusterConfig::parse(&object(v)).unwrap_err().message.contains("job_tracker"));
    }
}
