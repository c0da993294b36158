//! WebHDFS (`/webhdfs/v1/<path>?op=...`) as a NameNode and a DataNode
//! answer it: MKDIRS, GETFILESTATUS, LISTSTATUS, DELETE on the NameNode;
//! CREATE and OPEN in two steps, the NameNode redirecting (307) to the
//! DataNode, which holds the bytes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use crate::fs::{self, Entry, FsError, Kind};
use crate::{Role, Shared, errors};

const PATH: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'?').add(b'<').add(b'>').add(b'`').add(b'{').add(b'}');

type Params = Query<HashMap<String, String>>;

pub async fn root(
    State((shared, role)): State<(Arc<Shared>, Role)>,
    method: Method,
    Query(q): Params,
    body: Bytes,
) -> Response {
    handle(shared, role, method, String::new(), q, body)
}

pub async fn path(
    State((shared, role)): State<(Arc<Shared>, Role)>,
    method: Method,
    Path(path): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Response {
    handle(shared, role, method, path, q, body)
}

fn fs_error(e: FsError) -> Response {
    match e {
        FsError::NotFound(m) => {
            errors::webhdfs(StatusCode::NOT_FOUND, "FileNotFoundException", "java.io.FileNotFoundException", &m)
        }
        FsError::AlreadyExists(m) => errors::webhdfs(
            StatusCode::FORBIDDEN,
            "FileAlreadyExistsException",
            "org.apache.hadoop.fs.FileAlreadyExistsException",
            &m,
        ),
        FsError::NotADirectory(m) => errors::webhdfs(
            StatusCode::FORBIDDEN,
            "ParentNotDirectoryException",
            "org.apache.hadoop.fs.ParentNotDirectoryException",
            &m,
        ),
        FsError::NotEmpty(m) => errors::webhdfs(
            StatusCode::FORBIDDEN,
            "PathIsNotEmptyDirectoryException",
            "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
            &m,
        ),
        FsError::Invalid(m) => bad_argument(&m),
    }
}

fn bad_argument(message: &str) -> Response {
    errors::webhdfs(StatusCode::BAD_REQUEST, "IllegalArgumentException", "java.lang.IllegalArgumentException", message)
}

fn json_reply(status: StatusCode, value: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

fn file_status(suffix: &str, entry: &Entry, children: usize) -> Value {
    let (kind, length, permission, replication) = match &entry.kind {
        Kind::Dir => ("DIRECTORY", 0, "755", 0),
        Kind::File(bytes) => ("FILE", bytes.len(), "644", 3),
    };
    let ms = entry.modified.timestamp_millis();
    json!({
        "accessTime": if kind == "FILE" { ms } else { 0 },
        "blockSize": if kind == "FILE" { 134_217_728 } else { 0 },
        "childrenNum": children,
        "fileId": entry.file_id,
        "group": "supergroup",
        "length": length,
        "modificationTime": ms,
        "owner": entry.owner,
        "pathSuffix": suffix,
        "permission": permission,
        "replication": replication,
        "storagePolicy": 0,
        "type": kind,
    })
}

fn handle(
    shared: Arc<Shared>,
    role: Role,
    method: Method,
    raw: String,
    q: HashMap<String, String>,
    body: Bytes,
) -> Response {
    let path = match fs::normalize(&format!("/{raw}")) {
        Ok(p) => p,
        Err(e) => return fs_error(e),
    };
    let Some(op) = q.get("op").map(|o| o.to_ascii_uppercase()) else {
        return bad_argument("Invalid value for webhdfs parameter \"op\": No operation given");
    };
    let user = q.get("user.name").cloned().unwrap_or_else(|| "dr.who".into());
    let flag = |name: &str| q.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut store = shared.store.lock().expect("store lock");
    match (role, &method, op.as_str()) {
        (Role::NameNode, &Method::PUT, "MKDIRS") => match store.fs.mkdirs(&path, &user) {
            Ok(()) => json_reply(StatusCode::OK, json!({"boolean": true})),
            Err(e) => fs_error(e),
        },
        (Role::NameNode, &Method::PUT, "CREATE") | (Role::NameNode, &Method::GET, "OPEN") => {
            if op == "OPEN" && !matches!(store.fs.get(&path), Some(Entry { kind: Kind::File(_), .. })) {
                return fs_error(FsError::NotFound(format!("File does not exist: {path}")));
            }
            // Where the bytes go or come from: a DataNode, named by the NameNode.
            let mut location = format!(
                "{}/webhdfs/v1{}?op={op}&user.name={}&namenoderpcaddress={}",
                shared.datanode_url(),
                utf8_percent_encode(&path, PATH),
                utf8_percent_encode(&user, PATH),
                crate::NAME_NODE.trim_start_matches("hdfs://"),
            );
            if op == "CREATE" {
                location.push_str(&format!("&createflag=&createparent=true&overwrite={}", flag("overwrite")));
            }
            // OPEN's range travels to the DataNode, as the NameNode sends it.
            for key in ["offset", "length"] {
                if let Some(value) = q.get(key) {
                    location.push_str(&format!("&{key}={}", utf8_percent_encode(value, PATH)));
                }
            }
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response()
        }
        (Role::DataNode, &Method::PUT, "CREATE") => {
            match store.fs.create(&path, &user, body.to_vec(), flag("overwrite")) {
                Ok(()) => {
                    (StatusCode::CREATED, [(header::LOCATION, format!("{}{path}", crate::NAME_NODE))]).into_response()
                }
                Err(e) => fs_error(e),
            }
        }
        (Role::DataNode, &Method::GET, "OPEN") => match store.fs.get(&path) {
            Some(Entry { kind: Kind::File(bytes), .. }) => {
                let number = |key: &str| q.get(key).and_then(|v| v.parse::<usize>().ok());
                let start = number("offset").unwrap_or(0).min(bytes.len());
                let end = number("length").map_or(bytes.len(), |n| start.saturating_add(n).min(bytes.len()));
                let range = bytes[start..end].to_vec();
                (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], range).into_response()
            }
            _ => fs_error(FsError::NotFound(format!("File does not exist: {path}"))),
        },
        (Role::NameNode, &Method::GET, "GETFILESTATUS") => match store.fs.get(&path) {
            Some(entry) => json_reply(
                StatusCode::OK,
                json!({"FileStatus": file_status("", entry, store.fs.children_count(&path))}),
            ),
            None => fs_error(FsError::NotFound(format!("File does not exist: {path}"))),
        },
        (Role::NameNode, &Method::GET, "LISTSTATUS") => match store.fs.list(&path) {
            Ok(entries) => {
                let statuses: Vec<Value> = entries
                    .iter()
                    .map(|(name, entry)| {
                        let full = if name.is_empty() {
                            path.clone()
                        } else {
                            format!("{}/{name}", path.trim_end_matches('/'))
                        };
                        file_status(name, entry, store.fs.children_count(&full))
                    })
                    .collect();
                json_reply(StatusCode::OK, json!({"FileStatuses": {"FileStatus": statuses}}))
            }
            Err(e) => fs_error(e),
        },
        (Role::NameNode, &Method::GET, "GETHOMEDIRECTORY") => {
            json_reply(StatusCode::OK, json!({"Path": format!("/user/{user}")}))
        }
        (Role::NameNode, &Method::DELETE, "DELETE") => match store.fs.delete(&path, flag("recursive")) {
            Ok(deleted) => json_reply(StatusCode::OK, json!({"boolean": deleted})),
            Err(e) => fs_error(e),
        },
        (_, method, op) => {
            bad_argument(&format!("Invalid value for webhdfs parameter \"op\": {op} is not a valid {method} operation"))
        }
    }
}
