//! The OpenAPI 3.1 document at `/openapi.json`, generated from the code:
//! each handler's `#[utoipa::path]` (its path, parameters, body and
//! answers) is collected by the router that mounts it (`utoipa_axum`), so a
//! route cannot be served without being described; query parameters come
//! from the same structs [`crate::extract::Query`] reads them into. The
//! dashboard's routes (`/` for browsers, `/ui/...`) are left out: they are
//! HTML and assets, not API.
//!
//! What is added here, once for all operations: the error shape (Sahara's,
//! as the `default` answer of every operation, and the 503 of an API
//! request when the database does not answer), the `X-Auth-Token` header,
//! and the project that v1.1 paths start with (lifted out before routing,
//! so the routes themselves do not have it). v2 paths are described
//! without the optional `/{project_id}` (`/v2/jobs`, also served as
//! `/v2/{project_id}/jobs`).

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use edp_core::flows::Flow;
use edp_core::manager::OutputChunk;
use edp_core::model::{Cluster, DataSource, Execution, JobBinary, JobBinaryInternal, JobTemplate};
use serde_json::Value;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayItems, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

/// Every error: `{"error_code": <HTTP status>, "error_name": "NOT_FOUND",
/// "error_message": "..."}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// The HTTP status, again.
    error_code: u16,
    /// Sahara's name of the error (`VALIDATION_ERROR`, `NOT_FOUND`, ...).
    error_name: String,
    error_message: String,
}

/// Where the neighbouring pages start (paged lists only).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Markers {
    prev: Option<String>,
    next: Option<String>,
}

/// `{key: object}`, the shape of every single-object answer.
macro_rules! envelope {
    ($name:ident { $key:ident: $ty:ty }) => {
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            $key: $ty,
        }
    };
}

/// `{key: [objects], "markers"?}`, the shape of every list.
macro_rules! listing {
    ($name:ident { $key:ident: $ty:ty }) => {
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            $key: Vec<$ty>,
            markers: Option<Markers>,
        }
    };
}

envelope!(ClusterBody { cluster: Cluster });
listing!(ClusterList { clusters: Cluster });
envelope!(DataSourceBody { data_source: DataSource });
listing!(DataSourceList { data_sources: DataSource });
envelope!(JobBinaryBody { job_binary: JobBinary });
listing!(JobBinaryList { binaries: JobBinary });
envelope!(InternalBody { job_binary_internal: JobBinaryInternal });
listing!(InternalList { binaries: JobBinaryInternal });
envelope!(JobTemplateBody { job_template: JobTemplate });
listing!(JobTemplateList { job_templates: JobTemplate });
envelope!(JobBody { job: Execution });
listing!(JobList { jobs: Execution });
envelope!(FlowBody { flow: Flow });
listing!(FlowList { flows: Flow });
envelope!(OutputBody { output: OutputChunk });
envelope!(LogBody { log: LogChunk });
envelope!(DryRunBody { dry_run: DryRunAnswer });
envelope!(GraphBody { graph: Value });
envelope!(JobTypesBody { job_types: Vec<Value> });
envelope!(VersionBody { version: Version });

envelope!(V1ClusterBody { cluster: V1Cluster });
listing!(V1ClusterList { clusters: V1Cluster });
envelope!(V1DataSourceBody { data_source: V1DataSource });
listing!(V1DataSourceList { data_sources: V1DataSource });
envelope!(V1JobBinaryBody { job_binary: V1JobBinary });
listing!(V1JobBinaryList { binaries: V1JobBinary });
envelope!(V1InternalBody { job_binary_internal: V1Internal });
listing!(V1InternalList { binaries: V1Internal });
envelope!(V1JobBody { job: V1Job });
listing!(V1JobList { jobs: V1Job });
envelope!(V1ExecutionBody { job_execution: V1Execution });
listing!(V1ExecutionList { job_executions: V1Execution });

/// A chunk of a job's log (`GET /v2/jobs/{id}/logs`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LogChunk {
    stream: String,
    /// Every stream the job has.
    streams: Vec<String>,
    offset: u64,
    /// Where the next read starts.
    next_offset: u64,
    data: String,
    /// Nothing more will ever be written to this stream.
    complete: bool,
}

/// What a launch would submit, in the engine's own terms.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DryRunAnswer {
    /// What `request` holds: `argv`, `workflow`, `spark-submit`, `rest`, ...
    kind: String,
    /// The exact request, in the engine's own terms.
    request: Value,
    /// The cluster's status as registered.
    cluster_status: String,
    warnings: Vec<String>,
}

/// `GET /v2/engines`: engines loaded (each as it describes itself, with
/// its `file`), libraries refused and why, loaded ones whose file changed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EngineListing {
    engines: Vec<Value>,
    refused: Vec<RefusedPlugin>,
    restart_needed: Vec<RestartNeeded>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefusedPlugin {
    file: String,
    reason: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RestartNeeded {
    engine: String,
    file: String,
    reason: String,
}

/// One server-sent event (`text/event-stream`), as clients parse it: the
/// event's name, its id, and its data (a JSON document as text).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServerSentEvent {
    event: Option<String>,
    id: Option<String>,
    data: String,
    retry: Option<u64>,
}

/// An API version, as OpenStack services describe one.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Version {
    id: String,
    status: String,
    links: Vec<Value>,
    min_version: Option<String>,
    max_version: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Versions {
    versions: Vec<Version>,
}

/// A v1.1 object: the v2 schema with v1.1's names (`routes/v1/shape.rs`
/// renames the answers by the same table).
macro_rules! v1_schema {
    ($name:ident = $core:ty, $renames:expr, extra: [$($extra:literal),*], refs: [$($from:ty => $to:ty),*]) => {
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let refs: &[(Cow<'static, str>, Cow<'static, str>)] = &[$((<$from>::name(), <$to>::name())),*];
                renamed(<$core>::schema(), $renames, &[$($extra),*], refs)
            }
        }

        impl ToSchema for $name {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                <$core>::schemas(schemas);
                $(
                    schemas.push((<$to>::name().into_owned(), <$to>::schema()));
                    <$to>::schemas(schemas);
                )*
            }
        }
    };
}

use crate::routes::v1::shape as v1;

v1_schema!(V1Cluster = Cluster, v1::CLUSTER, extra: [], refs: []);
v1_schema!(V1DataSource = DataSource, v1::TENANT_ONLY, extra: [], refs: []);
v1_schema!(V1JobBinary = JobBinary, v1::TENANT_ONLY, extra: [], refs: []);
v1_schema!(V1Internal = JobBinaryInternal, v1::TENANT_ONLY, extra: [], refs: []);
v1_schema!(V1Job = JobTemplate, v1::TENANT_ONLY, extra: [], refs: [JobBinary => V1JobBinary]);
v1_schema!(V1Execution = Execution, v1::EXECUTION, extra: ["oozie_job_id"], refs: []);

/// `schema` with its properties renamed (and in `required`), `extra`
/// properties added as nullable strings, and references to `refs.0`
/// pointed at `refs.1`. Done on utoipa's types: a round trip through JSON
/// would not read back an empty schema (`"info": {}`).
fn renamed(
    schema: RefOr<Schema>,
    renames: &[(&str, &str)],
    extra: &[&str],
    refs: &[(Cow<'static, str>, Cow<'static, str>)],
) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = schema else { return schema };
    for (from, to) in renames {
        if let Some(property) = object.properties.remove(*from) {
            object.properties.insert((*to).to_string(), property);
        }
        for name in object.required.iter_mut().filter(|name| name == from) {
            *name = (*to).to_string();
        }
    }
    for name in extra {
        let nullable = ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
        object.properties.insert((*name).to_string(), nullable.into());
    }
    for property in object.properties.values_mut() {
        repoint(property, refs);
    }
    RefOr::T(Schema::Object(object))
}

/// Points references to `refs.0` at `refs.1`, in arrays and alternatives.
fn repoint(schema: &mut RefOr<Schema>, refs: &[(Cow<'static, str>, Cow<'static, str>)]) {
    match schema {
        RefOr::Ref(reference) => {
            for (from, to) in refs {
                if reference.ref_location == format!("#/components/schemas/{from}") {
                    reference.ref_location = format!("#/components/schemas/{to}");
                }
            }
        }
        RefOr::T(Schema::Array(array)) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                repoint(items, refs);
            }
        }
        RefOr::T(Schema::OneOf(one_of)) => one_of.items.iter_mut().for_each(|item| repoint(item, refs)),
        RefOr::T(Schema::AnyOf(any_of)) => any_of.items.iter_mut().for_each(|item| repoint(item, refs)),
        RefOr::T(Schema::AllOf(all_of)) => all_of.items.iter_mut().for_each(|item| repoint(item, refs)),
        _ => {}
    }
}

/// Fills in what every operation shares, and the v1.1 project; see the
/// module's comment.
pub fn complete(mut openapi: OpenApi) -> OpenApi {
    openapi.info.title = "edp".into();
    openapi.info.version = env!("CARGO_PKG_VERSION").into();
    openapi.info.description = Some(
        "Launch, poll and cancel data-processing jobs on pluggable engines: OpenStack Sahara's EDP API v2 (also \
         under /v2/{project_id}/...) and v1.1 (under /v1.1/{project_id}/...), with edp's extensions. Every error \
         is {\"error_code\", \"error_name\", \"error_message\"}. With [auth] tokens configured, requests carry \
         X-Auth-Token."
            .into(),
    );
    openapi.info.license = None;
    openapi.info.contact = None;

    let components = openapi.components.get_or_insert_with(Default::default);
    components.schemas.insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    let mut error_schemas = Vec::new();
    ErrorBody::schemas(&mut error_schemas);
    components.schemas.extend(error_schemas);
    components.add_security_scheme(
        "token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Auth-Token",
            "A token from [auth] tokens; none needed in the single-user mode",
        ))),
    );
    // Optional: anonymous requests are served where the configuration
    // allows them.
    openapi.security =
        Some(vec![SecurityRequirement::default(), SecurityRequirement::new("token", Vec::<String>::new())]);

    let error_response = |description: &str| {
        utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    let error = error_response("An error, in Sahara's shape");
    let unavailable = error_response("DATABASE_UNAVAILABLE: the database does not answer; try again");
    let paths = std::mem::take(&mut openapi.paths.paths);
    for (path, mut item) in paths {
        let v1 = path.strip_prefix("/v1.1/").filter(|rest| !rest.is_empty());
        let shown = match v1 {
            Some(rest) => format!("/v1.1/{{project_id}}/{rest}"),
            None => path.clone(),
        };
        for (method, operation) in operations(&mut item) {
            // Unique, from what is unique: the method and the path.
            operation.operation_id = Some(operation_id(method, &shown));
            operation.responses.responses.entry("default".into()).or_insert_with(|| error.clone().into());
            // Every API request may read the database; the version
            // documents, the probes and this document do not (`/readyz`
            // lists its own 503).
            if v1.is_some() || path.strip_prefix("/v2/").is_some_and(|rest| !rest.is_empty()) {
                operation.responses.responses.entry("503".into()).or_insert_with(|| unavailable.clone().into());
            }
            if v1.is_some() {
                operation.parameters.get_or_insert_with(Vec::new).insert(0, project_parameter().into());
            }
        }
        openapi.paths.paths.insert(shown, item);
    }
    openapi
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
}

/// `get /v2/jobs/{id}/logs` → `get_v2_jobs_id_logs`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> =
        path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect();
    if words.is_empty() { format!("{method}_root") } else { format!("{method}_{}", words.join("_")) }
}

fn project_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("project_id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The project the request acts in (Sahara's tenant)"))
        .schema(Some(String::schema()))
        .build()
}

/// The document as served, made once.
static DOCUMENT: OnceLock<String> = OnceLock::new();

pub fn publish(openapi: &OpenApi) {
    let _ = DOCUMENT.set(openapi.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialise");
        "{}".to_string()
    }));
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)))]
pub async fn document() -> Response {
    let body = DOCUMENT.get().cloned().unwrap_or_else(|| "{}".to_string());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
