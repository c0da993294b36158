//! Checks of single user-supplied values, each with the message a user
//! needs to fix it: those of this engine's requests, and (re-exported)
//! `edp_supervised`'s checks of what ends up in paths, argv and
//! environments.

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::DataSource;
pub use edp_supervised::checks::{binary_name, env_name, execution_id, no_nul};
use serde_json::Value;

/// A job parameter as the text of its environment variable.
pub fn param_value(name: &str, value: &Value) -> Result<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => {
            return Err(Error::invalid_input(format!(
                "param `{name}` must be a string, a number or a boolean to become an environment variable"
            )));
        }
    };
    no_nul(&text, &format!("param `{name}`"))?;
    Ok(text)
}

/// The local path of a `file` data source: `file:///abs/path`,
/// `file://localhost/abs/path` or a bare absolute path.
pub fn file_source_path(ds: &DataSource) -> Result<String> {
    if ds.kind != "file" {
        return Err(Error::invalid_input(format!(
            "data source `{}` has type `{}`; the local engine reads only `file` data sources",
            ds.name, ds.kind
        )));
    }
    let bad = |why: &str| {
        Error::invalid_input(format!("data source `{}`: `{}` {why}; use file:///absolute/path", ds.name, ds.url))
    };
    let path = match ds.url.strip_prefix("file://") {
        Some(rest) => {
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            if !rest.starts_with('/') {
                return Err(bad("names a remote host or a relative path"));
            }
            percent_decode(rest).ok_or_else(|| bad("has a malformed %-escape"))?
        }
        None if ds.url.starts_with('/') => ds.url.clone(),
        None => return Err(bad("is not a local path")),
    };
    if path.contains('\0') {
        return Err(bad("contains a NUL character"));
    }
    Ok(path)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(kind: &str, url: &str) -> DataSource {
        DataSource { id: "1".into(), name: "in".into(), kind: kind.into(), url: url.into() }
    }

    #[test]
    fn file_urls_become_paths() {
        assert_eq!(file_source_path(&ds("file", "file:///data/a%20b")).ok(), Some("/data/a b".to_owned()));
        assert_eq!(file_source_path(&ds("file", "file://localhost/x")).ok(), Some("/x".to_owned()));
        assert_eq!(file_source_path(&ds("file", "/abs")).ok(), Some("/abs".to_owned()));
        assert!(file_source_path(&ds("file", "file://host/x")).is_err());
        assert!(file_source_path(&ds("file", "rel/x")).is_err());
        assert!(file_source_path(&ds("file", "file:///x%zz")).is_err());
        let err = file_source_path(&ds("hdfs", "hdfs://nn/x")).err().map(|e| e.message).unwrap_or_default();
        assert!(err.contains("`in`"), "{err}");
    }
}
