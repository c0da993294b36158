//! v1.1's names for core's objects. Core (and v2) say `project_id`, v1.1
//! `tenant_id`; v1.1 calls a job template a job (so an execution has a
//! `job_id`), a cluster's plugin version `hadoop_version`, and gives an
//! execution's engine job id under its pre-v2 name `oozie_job_id` as well.
//! Everything else is core's object unchanged, secrets left out as there.

use edp_core::model::{Cluster, DataSource, Execution, JobBinary, JobBinaryInternal, JobTemplate};
use edp_core::paging::ListQuery;
use serde::Serialize;
use serde_json::{Map, Value};

/// (core's name, v1.1's name).
pub type Rename = (&'static str, &'static str);

const TENANT: Rename = ("project_id", "tenant_id");
const HADOOP_VERSION: Rename = ("plugin_version", "hadoop_version");

/// The renames of each object (the OpenAPI document's v1.1 schemas are
/// made from the v2 ones by the same tables).
pub const CLUSTER: &[Rename] = &[TENANT, HADOOP_VERSION];
pub const TENANT_ONLY: &[Rename] = &[TENANT];
pub const EXECUTION: &[Rename] = &[TENANT, ("job_template_id", "job_id")];

pub fn cluster(cluster: Cluster) -> Value {
    renamed(cluster, CLUSTER)
}

pub fn data_source(source: DataSource) -> Value {
    renamed(source, TENANT_ONLY)
}

pub fn job_binary(binary: JobBinary) -> Value {
    renamed(binary, TENANT_ONLY)
}

pub fn internal(internal: JobBinaryInternal) -> Value {
    renamed(internal, TENANT_ONLY)
}

/// A job template, as v1.1's "job"; its mains and libs in v1.1's names too.
pub fn job(template: JobTemplate) -> Value {
    let mut value = renamed(template, TENANT_ONLY);
    for list in ["mains", "libs"] {
        if let Some(Value::Array(binaries)) = value.get_mut(list) {
            for binary in binaries {
                rename(binary, &[TENANT]);
            }
        }
    }
    value
}

pub fn execution(execution: Execution) -> Value {
    let mut value = renamed(execution, EXECUTION);
    if let Value::Object(map) = &mut value {
        let engine_job_id = map.get("engine_job_id").cloned().unwrap_or(Value::Null);
        map.insert("oozie_job_id".into(), engine_job_id);
    }
    value
}

/// Paging with a v1.1 sort field named as core knows it.
pub fn list_query(mut query: ListQuery, sort_renames: &[Rename]) -> ListQuery {
    if let Some(spec) = &query.sort_by {
        let (desc, field) = match spec.strip_prefix('-') {
            Some(field) => ("-", field),
            None => ("", spec.as_str()),
        };
        if let Some((core, _)) = sort_renames.iter().find(|(_, v11)| *v11 == field) {
            query.sort_by = Some(format!("{desc}{core}"));
        }
    }
    query
}

fn renamed(object: impl Serialize, renames: &[Rename]) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Object(Map::new()));
    rename(&mut value, renames);
    value
}

fn rename(value: &mut Value, renames: &[Rename]) {
    if let Value::Object(map) = value {
        for (core, v11) in renames {
            if let Some(field) = map.remove(*core) {
                map.insert((*v11).to_string(), field);
            }
        }
    }
}

/// v1.1's sort field for clusters' plugin version.
pub const CLUSTER_SORTS: &[Rename] = &[HADOOP_VERSION];
