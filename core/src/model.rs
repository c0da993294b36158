//! The objects as users see them: Sahara v2's field names, with secrets
//! (data-source credentials, job-binary `extra`, execution `extra`, secret
//! cluster configs) left out by construction: these types have no field to
//! hold them.

use chrono::{DateTime, Utc};
use edp_engine_api::wire::Object;
use serde::Serialize;
use serde_json::Value;

use crate::entity::{cluster, data_source, job_binary, job_binary_internal, job_execution, job_template};
use crate::redact;

#[derive(utoipa::ToSchema, Serialize, Clone, Debug)]
pub struct Cluster {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub plugin_name: String,
    pub plugin_version: String,
    /// `Active` or `Error`.
    pub status: String,
    pub status_description: Option<String>,
    pub cluster_configs: Object,
    pub info: Value,
    pub is_transient: bool,
    /// Sahara's provisioning fields, always empty here (a registered cluster
    /// has no image or node groups), present because Sahara's clients read
    /// them (`openstack dataprocessing cluster show` fails without them).
    pub default_image_id: Option<String>,
    pub node_groups: Vec<Value>,
    pub anti_affinity: Vec<String>,
    /// Declared in the configuration file rather than registered by a user.
    pub declared: bool,
    /// Jobs running at once on it (an extension); absent: unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_jobs: Option<i32>,
    pub is_public: bool,
    pub is_protected: bool,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub updated_at: DateTime<Utc>,
}

impl Cluster {
    pub(crate) fn from_row(row: cluster::Model, secret_configs: &[String]) -> Self {
        let mut configs = row.cluster_configs.as_object().cloned().unwrap_or_default();
        for key in secret_configs {
            configs.remove(key);
        }
        Self {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            description: row.description,
            plugin_name: row.plugin_name,
            plugin_version: row.plugin_version,
            status: row.status,
            status_description: row.status_description,
            cluster_configs: configs,
            info: row.info,
            is_transient: false,
            default_image_id: None,
            node_groups: Vec::new(),
            anti_affinity: Vec::new(),
            declared: row.declared,
            max_concurrent_jobs: row.max_concurrent_jobs,
            is_public: row.is_public,
            is_protected: row.is_protected,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(utoipa::ToSchema, Serialize, Clone, Debug)]
pub struct DataSource {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub is_public: bool,
    pub is_protected: bool,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub updated_at: DateTime<Utc>,
}

impl From<data_source::Model> for DataSource {
    fn from(row: data_source::Model) -> Self {
        Self {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            description: row.description,
            kind: row.kind,
            url: row.url,
            is_public: row.is_public,
            is_protected: row.is_protected,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(utoipa::ToSchema, Serialize, Clone, Debug)]
pub struct JobBinary {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub url: String,
    pub is_public: bool,
    pub is_protected: bool,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub updated_at: DateTime<Utc>,
}

impl From<job_binary::Model> for JobBinary {
    fn from(row: job_binary::Model) -> Self {
        Self {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            description: row.description,
            url: row.url,
            is_public: row.is_public,
            is_protected: row.is_protected,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Uploaded bytes, referenced by job binaries as `internal-db://<id>`.
#[derive(utoipa::ToSchema, Serialize, Clone, Debug)]
pub struct JobBinaryInternal {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub datasize: i64,
    pub is_public: bool,
    pub is_protected: bool,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub updated_at: DateTime<Utc>,
}

impl From<job_binary_internal::Model> for JobBinaryInternal {
    fn from(row: job_binary_internal::Model) -> Self {
        Self {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            datasize: row.datasize,
            is_public: row.is_public,
            is_protected: row.is_protected,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(utoipa::ToSchema, Serialize, Clone, Debug)]
pub struct JobTemplate {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub mains: Vec<JobBinary>,
    pub libs: Vec<JobBinary>,
    pub interface: Value,
    pub is_public: bool,
    pub is_protected: bool,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub updated_at: DateTime<Utc>,
}

impl JobTemplate {
    pub(crate) fn from_row(row: job_template::Model, mains: Vec<JobBinary>, libs: Vec<JobBinary>) -> Self {
        Self {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            description: row.description,
            kind: row.kind,
            mains,
            libs,
            interface: row.interface,
            is_public: row.is_public,
            is_protected: row.is_protected,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A job execution: Sahara v2 calls it a "job".
#[derive(utoipa::ToSchema, Serialize, Clone, Debug)]
pub struct Execution {
    pub id: String,
    pub project_id: String,
    pub job_template_id: String,
    pub cluster_id: String,
    pub input_id: Option<String>,
    pub output_id: Option<String>,
    /// The engine it runs on.
    pub engine: String,
    /// Sahara's `info.status`, also here for convenience.
    pub status: String,
    pub info: Value,
    pub engine_job_id: Option<String>,
    pub return_code: Option<i32>,
    pub job_configs: Value,
    pub interface: Value,
    pub data_source_urls: Value,
    /// The flow the job runs for, if any.
    pub flow_id: Option<String>,
    /// The edpd node whose host runs the job, for jobs that run as
    /// processes on an edpd host (its logs and files are there).
    pub node_id: Option<String>,
    pub is_public: bool,
    pub is_protected: bool,
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, example = "2026-12-06T12:00:00")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, example = "2026-12-06T12:00:00")]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub updated_at: DateTime<Utc>,
}

/// What [`Execution::from`] reads of a row's `extra`: the values to mask
/// and the policy. The rest (the request as given, the submit, the
/// engine's own) is never shown, so a row read only to be shown need not
/// build it (issue 16: parsing and dropping the whole `extra` was a third
/// of a `GET /v2/jobs/{id}`). A key absent and a key `null` read alike.
#[derive(serde::Deserialize)]
pub(crate) struct ShownExtra {
    masked: Option<Value>,
    callback_token: Option<Value>,
    policy: Option<Value>,
}

impl ShownExtra {
    /// Those keys of a stored `extra`, skipping the others unread.
    pub(crate) fn parse(stored: &[u8]) -> serde_json::Result<Value> {
        Ok(Self::shown(serde_json::from_slice(stored)?))
    }

    /// As the `extra` of a row: an object of the keys present. A stored
    /// `null` (`None`) shows as no keys, as the whole `null` would.
    pub(crate) fn shown(stored: Option<Self>) -> Value {
        let Some(stored) = stored else { return Value::Object(Object::new()) };
        let mut extra = Object::new();
        for (key, value) in
            [("masked", stored.masked), ("callback_token", stored.callback_token), ("policy", stored.policy)]
        {
            if let Some(value) = value {
                extra.insert(key.into(), value);
            }
        }
        Value::Object(extra)
    }
}

impl From<job_execution::Model> for Execution {
    fn from(row: job_execution::Model) -> Self {
        // Reads of `row.extra` here are the keys of `ShownExtra`.
        // An engine's payload may echo what it was given.
        let mut info = row.info;
        redact::Secrets::of_execution(&row.extra).scrub(&mut info);
        crate::manager::policy::show(&row.extra, &mut info);
        Self {
            id: row.id,
            project_id: row.project_id,
            job_template_id: row.job_template_id,
            cluster_id: row.cluster_id,
            input_id: row.input_id,
            output_id: row.output_id,
            engine: row.engine,
            status: row.status,
            info,
            engine_job_id: row.engine_job_id,
            return_code: row.return_code,
            job_configs: redact::job_configs(row.job_configs),
            interface: row.interface,
            data_source_urls: row.data_source_urls,
            flow_id: row.flow_id,
            node_id: row.node_id.filter(|_| row.host_bound),
            is_public: row.is_public,
            is_protected: row.is_protected,
            start_time: row.start_time,
            end_time: row.end_time,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One page of a list, with Sahara's markers.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `marker` to get the previous page; `None` when that page is
    /// the first one (or there is none).
    pub prev: Option<String>,
    /// Pass as `marker` to get the next page; `None` on the last page.
    pub next: Option<String>,
    /// Whether the request used paging at all (Sahara then adds `markers`).
    pub paged: bool,
}

impl<T> Page<T> {
    /// The same page of something else (rows into views).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), prev: self.prev, next: self.next, paged: self.paged }
    }
}
