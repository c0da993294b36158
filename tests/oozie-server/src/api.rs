//! The Oozie web services API (v1 and v2, v0 answered as v1): versions,
//! admin, job submission and lists, one job's info / status / log /
//! definition, and job management (start, suspend, resume, kill).

// Handlers answer errors as responses, early: boxing them buys nothing.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::json::{self, Tz};
use crate::net::CutConnection;
use crate::state::WfStatus;
use crate::workflow::{self, SchemaError};
use crate::{Role, Shared, errors};

type Params = Query<HashMap<String, String>>;
type AppState = State<(Arc<Shared>, Role)>;

const JSON: &str = "application/json;charset=UTF-8";

fn reply(status: StatusCode, value: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], json::body(value)).into_response()
}

fn schema_error(e: SchemaError) -> Response {
    let message = e.message.strip_prefix(&format!("{}: ", e.code)).unwrap_or(&e.message).to_string();
    errors::bad_request(e.code, &message)
}

/// `v0`/`v1`/`v2`, or a 404 as the servlet mapping gives.
fn version(v: &str) -> Result<u8, Response> {
    match v {
        "v0" | "v1" => Ok(1),
        "v2" => Ok(2),
        _ => Err((StatusCode::NOT_FOUND, "Not Found").into_response()),
    }
}

/// In safe mode Oozie refuses whatever would change a job.
fn safe_mode(shared: &Shared) -> Option<Response> {
    let mode = shared.store.lock().expect("store lock").system_mode.clone();
    (mode == "SAFEMODE").then(|| errors::oozie(StatusCode::SERVICE_UNAVAILABLE, "E0002", "System is in safe mode"))
}

pub async fn versions() -> Response {
    reply(StatusCode::OK, &json!([0, 1, 2]))
}

pub async fn admin(State((shared, _)): AppState, Path((v, what)): Path<(String, String)>) -> Response {
    if let Err(r) = version(&v) {
        return r;
    }
    let store = shared.store.lock().expect("store lock");
    match what.as_str() {
        "status" => reply(StatusCode::OK, &json!({"systemMode": store.system_mode})),
        "build-version" => reply(StatusCode::OK, &json!({"buildVersion": store.build_version})),
        _ => {
            errors::oozie(StatusCode::BAD_REQUEST, "E0303", &format!("Invalid parameter value, [resource] = [{what}]"))
        }
    }
}

/// `name=value;name=value`: the same name ORs, different names AND.
fn parse_filter(filter: &str) -> Result<BTreeMap<String, Vec<String>>, Response> {
    const NAMES: &[&str] = &[
        "user",
        "name",
        "group",
        "status",
        "id",
        "text",
        "startcreatedtime",
        "endcreatedtime",
        "sortby",
        "frequency",
        "unit",
    ];
    let mut parsed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for part in filter.split(';').filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(errors::bad_request(
                "E0420",
                &format!(
                    "Invalid jobs filter [{filter}], filter elements must be semicolon-separated name=value pairs"
                ),
            ));
        };
        let name = name.trim().to_ascii_lowercase();
        if !NAMES.contains(&name.as_str()) {
            return Err(errors::bad_request(
                "E0420",
                &format!("Invalid jobs filter [{filter}], invalid name [{name}]"),
            ));
        }
        if name == "status"
            && !["PREP", "RUNNING", "SUSPENDED", "SUCCEEDED", "KILLED", "FAILED"].contains(&value.trim())
        {
            return Err(errors::bad_request(
                "E0420",
                &format!("Invalid jobs filter [{filter}], invalid status value [{value}]"),
            ));
        }
        parsed.entry(name).or_default().push(value.trim().to_string());
    }
    Ok(parsed)
}

fn number(q: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, Response> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| errors::bad_request("E0303", &format!("Invalid parameter value, [{name}] = [{v}]"))),
    }
}

pub async fn jobs_get(State((shared, _)): AppState, Path(v): Path<String>, Query(q): Params) -> Response {
    if let Err(r) = version(&v) {
        return r;
    }
    let store = shared.store.lock().expect("store lock");
    if let Some(external) = q.get("external-id") {
        let id =
            store.workflows.iter().find(|w| w.external_id.as_deref() == Some(external.as_str())).map(|w| w.id.clone());
        return reply(StatusCode::OK, &json!({ "id": id }));
    }
    let filter = match parse_filter(q.get("filter").map(String::as_str).unwrap_or("")) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (offset, len) = match (number(&q, "offset", 1), number(&q, "len", 50)) {
        (Ok(o), Ok(l)) => (o.max(1), l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let tz = Tz::parse(q.get("timezone").map(String::as_str));
    let base = shared.oozie_url();
    match q.get("jobtype").map(String::as_str).unwrap_or("wf") {
        "wf" | "" => {
            let found = store.filter_workflows(&filter);
            let items = found
                .iter()
                .skip(offset - 1)
                .take(len)
                .map(|w| json::workflow(w, &base, tz, shared.options.flavor, true, None))
                .collect();
            reply(StatusCode::OK, &json::list("workflows", items, found.len(), offset, len))
        }
        "coord" | "coordinator" => {
            let found: Vec<_> = store
                .coordinators
                .iter()
                .rev()
                .filter(|c| {
                    filter.iter().all(|(k, vals)| {
                        vals.iter().any(|val| match k.as_str() {
                            "name" => &c.def.name == val,
                            "user" => &c.user == val,
                            "status" => c.status.as_str() == val,
                            "id" => &c.id == val,
                            _ => true,
                        })
                    })
                })
                .collect();
            let items = found.iter().skip(offset - 1).take(len).map(|c| json::coordinator(c, tz, true)).collect();
            reply(StatusCode::OK, &json::list("coordinatorjobs", items, found.len(), offset, len))
        }
        "bundle" => reply(StatusCode::OK, &json::list("bundlejobs", Vec::new(), 0, offset, len)),
        other => errors::bad_request("E0303", &format!("Invalid parameter value, [jobtype] = [{other}]")),
    }
}

/// Where an app path points: `hdfs://nn:8020/a/b` → `/a/b`.
fn hdfs_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
    crate::fs::normalize(rest).unwrap_or_else(|_| rest.to_string())
}

pub async fn jobs_post(
    State((shared, _)): AppState,
    Path(v): Path<String>,
    Query(q): Params,
    cut: Option<Extension<CutConnection>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = version(&v) {
        return r;
    }
    if let Some(refused) = safe_mode(&shared) {
        return refused;
    }
    let mut lose = false;
    let response = submit(&shared, &q, &headers, &body, &mut lose);
    if lose && let Some(Extension(cut)) = cut {
        // The job exists; the client never hears of it.
        cut.0.notify_one();
        std::future::pending::<()>().await;
    }
    response
}

/// The submission itself; whether its reply is to be lost.
fn submit(
    shared: &Arc<Shared>,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    lose: &mut bool,
) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|h| h.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/xml" {
        return errors::bad_request("E0300", &format!("Invalid content-type [{content_type}]"));
    }
    let action = q.get("action").map(String::as_str);
    if !matches!(action, None | Some("start") | Some("dryrun")) {
        return errors::bad_request(
            "E0303",
            &format!("Invalid parameter value, [action] = [{}]", action.unwrap_or("")),
        );
    }
    let text = String::from_utf8_lossy(body).into_owned();
    let mut conf = match workflow::parse_configuration(&text) {
        Ok(c) => c,
        Err(e) => return schema_error(e),
    };
    let get = |conf: &[(String, String)], k: &str| conf.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // Pseudo authentication: the query's user.name wins over the body's.
    let user = match q.get("user.name").cloned().or_else(|| get(&conf, "user.name")) {
        Some(u) if !u.is_empty() => u,
        _ => return errors::bad_request("E0401", "Missing configuration property [user.name]"),
    };
    if get(&conf, "user.name").as_deref() != Some(user.as_str()) {
        conf.retain(|(k, _)| k != "user.name");
        conf.push(("user.name".into(), user.clone()));
    }
    let paths: Vec<(&str, String)> =
        ["oozie.wf.application.path", "oozie.coord.application.path", "oozie.bundle.application.path"]
            .iter()
            .filter_map(|k| get(&conf, k).map(|v| (*k, v)))
            .collect();
    if paths.len() > 1 {
        return errors::bad_request(
            "E0302",
            "Invalid parameter [{0}], multiple app paths specified, only one is allowed",
        );
    }
    let (kind, app_path) = match paths.into_iter().next() {
        Some(found) => (found.0, found.1),
        None => match get(&conf, "oozie.libpath") {
            Some(lib) => ("oozie.wf.application.path", lib),
            None => return errors::bad_request("E0405", "Submission request doesn't have any application or lib path"),
        },
    };
    let mut store = shared.store.lock().expect("store lock");
    let read = |store: &crate::state::Store, dir: &str, default_file: &str| -> Result<String, Response> {
        let base = hdfs_path(dir);
        let file = if base.ends_with(".xml") { base } else { format!("{}/{default_file}", base.trim_end_matches('/')) };
        match store.fs.get(&file) {
            Some(crate::fs::Entry { kind: crate::fs::Kind::File(bytes), .. }) => {
                Ok(String::from_utf8_lossy(bytes).into_owned())
            }
            _ => Err(errors::bad_request("E0505", &format!("App definition [{file}] does not exist"))),
        }
    };
    match kind {
        "oozie.wf.application.path" => {
            let definition = match read(&store, &app_path, "workflow.xml") {
                Ok(d) => d,
                Err(r) => return r,
            };
            let def = match workflow::parse(&definition) {
                Ok(d) => d,
                Err(e) => return schema_error(e),
            };
            let missing: Vec<&str> = def
                .parameters
                .iter()
                .filter(|(name, default)| default.is_none() && get(&conf, name).is_none())
                .map(|(name, _)| name.as_str())
                .collect();
            if !missing.is_empty() {
                return errors::bad_request(
                    "E0738",
                    &format!(
                        "The following {} parameters are required but were not defined and no default values are available: {}",
                        missing.len(),
                        missing.join(",")
                    ),
                );
            }
            if action == Some("dryrun") {
                return reply(StatusCode::CREATED, &json!({"id": "OK"}));
            }
            let (id, pending) = store.add_workflow(def, definition, app_path, conf, user, action == Some("start"));
            *lose = std::mem::take(&mut store.lose_next_submit_reply);
            drop(store);
            shared.dispatch(pending);
            reply(StatusCode::CREATED, &json!({"id": id}))
        }
        "oozie.coord.application.path" => {
            let text = match read(&store, &app_path, "coordinator.xml") {
                Ok(d) => d,
                Err(r) => return r,
            };
            let def = match workflow::parse_coordinator(&text) {
                Ok(d) => d,
                Err(e) => return schema_error(e),
            };
            if action == Some("dryrun") {
                return reply(StatusCode::CREATED, &json!({"id": "OK"}));
            }
            let id = store.add_coordinator(def, app_path, conf, user, action == Some("start"));
            reply(StatusCode::CREATED, &json!({"id": id}))
        }
        _ => errors::bad_request(
            "E0303",
            &format!("Invalid parameter value, [{kind}] = [{app_path}]: bundles are not served here"),
        ),
    }
}

pub async fn job_get(
    State((shared, _)): AppState,
    Path((v, id)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let v = match version(&v) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let store = shared.store.lock().expect("store lock");
    let tz = Tz::parse(q.get("timezone").map(String::as_str));
    let flavor = shared.options.flavor;
    if let Some((job, name)) = id.split_once('@') {
        return match store.workflow(job).and_then(|w| w.actions.iter().find(|a| a.name == name)) {
            Some(action) => reply(StatusCode::OK, &json::action(action, tz, flavor)),
            None => errors::bad_request("E0605", &format!("Action does not exist [{id}]")),
        };
    }
    let show = q.get("show").map(String::as_str).unwrap_or("info");
    if let Some(c) = store.coordinators.iter().find(|c| c.id == id) {
        return match show {
            "info" => reply(StatusCode::OK, &json::coordinator(c, tz, false)),
            "status" if v == 2 => reply(StatusCode::OK, &json!({"status": c.status.as_str()})),
            "log" => {
                (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], String::new()).into_response()
            }
            _ => errors::bad_request("E0303", &format!("Invalid parameter value, [show] = [{show}]")),
        };
    }
    let Some(wf) = store.workflow(&id) else {
        return errors::job_not_found(&id);
    };
    match show {
        "info" => {
            let page = match (q.get("offset"), q.get("len")) {
                (None, None) => None,
                _ => match (number(&q, "offset", 1), number(&q, "len", usize::MAX)) {
                    (Ok(o), Ok(l)) => Some((o, l)),
                    (Err(r), _) | (_, Err(r)) => return r,
                },
            };
            reply(StatusCode::OK, &json::workflow(wf, &shared.oozie_url(), tz, flavor, false, page))
        }
        "status" if v == 2 => reply(StatusCode::OK, &json!({"status": wf.status.as_str()})),
        "status" => errors::bad_request("E0302", "Invalid parameter [Not supported in this version]"),
        "log" => {
            let mut text = wf.log.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], text).into_response()
        }
        "errorlog" | "auditlog" if v == 2 => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], String::new()).into_response()
        }
        "definition" => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/xml;charset=UTF-8")], wf.definition.clone())
                .into_response()
        }
        other => errors::bad_request("E0303", &format!("Invalid parameter value, [show] = [{other}]")),
    }
}

pub async fn job_put(
    State((shared, _)): AppState,
    Path((v, id)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    if let Err(r) = version(&v) {
        return r;
    }
    if let Some(refused) = safe_mode(&shared) {
        return refused;
    }
    let Some(action) = q.get("action").cloned() else {
        return errors::bad_request("E0305", "Missing parameter [action]");
    };
    if !["start", "suspend", "resume", "kill"].contains(&action.as_str()) {
        return errors::bad_request("E0303", &format!("Invalid parameter value, [action] = [{action}]"));
    }
    let mut store = shared.store.lock().expect("store lock");
    if let Some(c) = store.coordinators.iter_mut().find(|c| c.id == id) {
        match action.as_str() {
            "kill" if !c.status.is_terminal() => c.status = WfStatus::Killed,
            "suspend" if c.status == WfStatus::Running => c.status = WfStatus::Suspended,
            "resume" if c.status == WfStatus::Suspended => c.status = WfStatus::Running,
            _ => {}
        }
        return StatusCode::OK.into_response();
    }
    if store.workflow(&id).is_none() {
        return errors::job_not_found(&id);
    }
    // Preconditions that fail are logged and answered 200, as Oozie does.
    let pending = match action.as_str() {
        "start" => store.start(&id),
        "suspend" => store.workflow_mut(&id).map(|w| w.suspend()).unwrap_or_default(),
        "resume" => store.workflow_mut(&id).map(|w| w.resume()).unwrap_or_default(),
        _ => store.workflow_mut(&id).map(|w| w.kill()).unwrap_or_default(),
    };
    drop(store);
    shared.dispatch(pending);
    StatusCode::OK.into_response()
}
