//! A preview of a finished job's result: the first bytes of its output
//! data source, paged like the logs (`GET /v2/jobs/{id}/output`).
//!
//! Outputs are read as Hadoop lays them out: a directory whose `part-*`
//! files, in name order, are the result. `file` outputs are read here;
//! other kinds are asked of the job's engine with
//! `invoke("read_output", {url, kind, cluster, offset, limit})`, which
//! answers `{data, next_offset, complete}` or UNSUPPORTED.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use edp_engine_api::abi::ErrorKind;
use edp_engine_api::host::CallError;
use edp_engine_api::wire::DataSource;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::scope::Scope;
use crate::{Edp, validate};

use super::{api, rows};

/// One page of a job's output, as text.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct OutputChunk {
    /// The output data source's location, as the job was given it.
    pub url: String,
    pub offset: u64,
    /// Where the next read starts (a byte offset in the concatenated
    /// `part-*` files).
    pub next_offset: u64,
    /// Text, cut at a character boundary; bytes that are not UTF-8 show
    /// as U+FFFD.
    pub data: String,
    /// The end of the output was reached.
    pub complete: bool,
}

/// What an engine's `read_output` answers.
#[derive(Deserialize)]
struct EngineChunk {
    data: String,
    next_offset: u64,
    complete: bool,
}

pub async fn output(edp: &Edp, scope: &Scope, id: &str, offset: u64, limit: u64) -> Result<OutputChunk> {
    let row = api::find(edp, scope, id).await?;
    let status = rows::status(&row);
    if !status.is_terminal() {
        return Err(Error::Validation(format!("job {id} is {status}: its output can be read once it has finished")));
    }
    let request = rows::request(&row)?;
    let Some(DataSource { url, kind, .. }) = request.output else {
        return Err(Error::Validation(format!("job {id} has no output data source")));
    };
    let (data, next_offset, complete) = if kind == "file" {
        // A host-bound job wrote its files on its node's host.
        rows::here_or_redirect(edp, &row).await?;
        let path = validate::local_path(&url)?;
        tokio::task::spawn_blocking(move || read_parts(&path, offset, limit))
            .await
            .map_err(|e| Error::Internal(format!("reading an output failed: {e}")))??
    } else {
        let client = edp
            .engines()
            .client(&row.engine)
            .ok_or_else(|| Error::EngineUnavailable(format!("engine '{}' is not loaded", row.engine)))?;
        let ask = json!({"url": url, "kind": kind, "cluster": request.cluster, "offset": offset, "limit": limit});
        let answer = client.invoke("read_output", &ask, edp.settings().call_timeout).await.map_err(|e| match e {
            CallError::Engine { kind: k, .. } if k == ErrorKind::UNSUPPORTED => Error::Validation(format!(
                "engine '{}' cannot read '{kind}' outputs: previews of its jobs' results are not supported",
                row.engine
            )),
            other => api::refused(other),
        })?;
        let chunk: EngineChunk = serde_json::from_value(answer).map_err(|e| {
            Error::EngineUnavailable(format!("engine '{}' answered read_output oddly: {e}", row.engine))
        })?;
        (chunk.data, chunk.next_offset, chunk.complete)
    };
    Ok(OutputChunk { url, offset, next_offset, data, complete })
}

/// Up to `limit` bytes from `offset` of the `part-*` files in `dir`, taken
/// as one stream. Only regular files count: a link in an output directory
/// is not followed.
fn read_parts(dir: &Path, offset: u64, limit: u64) -> Result<(String, u64, bool)> {
    let meta = std::fs::symlink_metadata(dir);
    if !meta.as_ref().is_ok_and(|m| m.is_dir()) {
        let why = if meta.is_ok() { "is not a directory" } else { "does not exist" };
        return Err(Error::Validation(format!(
            "the output {} {why}: previews read a directory's part-* files, as Hadoop writes them",
            dir.display()
        )));
    }
    let io = |e: std::io::Error| Error::Internal(format!("cannot read the output {}: {e}", dir.display()));
    let mut parts: Vec<(PathBuf, u64)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let is_part = entry.file_name().to_string_lossy().starts_with("part-");
        let meta = entry.metadata().map_err(io)?; // does not follow links
        if is_part && meta.is_file() {
            parts.push((entry.path(), meta.len()));
        }
    }
    if parts.is_empty() {
        return Err(Error::Validation(format!("the output {} has no part-* files", dir.display())));
    }
    parts.sort();
    let total: u64 = parts.iter().map(|(_, len)| len).sum();
    let mut bytes = Vec::with_capacity(limit.min(total.saturating_sub(offset)) as usize);
    let mut start = 0u64;
    for (path, len) in &parts {
        let end = start + len;
        let want = offset + bytes.len() as u64;
        if want < end && (bytes.len() as u64) < limit {
            let mut file = std::fs::File::open(path).map_err(io)?;
            file.seek(SeekFrom::Start(want - start)).map_err(io)?;
            let room = limit - bytes.len() as u64;
            file.take(room.min(end - want)).read_to_end(&mut bytes).map_err(io)?;
        }
        start = end;
    }
    let (data, used) = text_prefix(&bytes, offset + (bytes.len() as u64) >= total);
    let next = offset + used as u64;
    Ok((data, next, next >= total))
}

/// The longest prefix of `bytes` that does not end inside a character
/// (unless this is the end), as text, and how many bytes it took.
pub(crate) fn text_prefix(bytes: &[u8], at_end: bool) -> (String, usize) {
    let used = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        // Cut inside the last character: leave it for the next page.
        Err(e) if e.error_len().is_none() && !at_end => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    (String::from_utf8_lossy(&bytes[..used]).into_owned(), used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_read_as_one_stream_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part-00001"), "c\td\n").unwrap();
        std::fs::write(dir.path().join("part-00000"), "a\tb\n").unwrap();
        std::fs::write(dir.path().join("_SUCCESS"), "").unwrap();
        let (data, next, complete) = read_parts(dir.path(), 0, 1024).unwrap();
        assert_eq!((data.as_str(), next, complete), ("a\tb\nc\td\n", 8, true));
        // Pages cross file boundaries.
        let (data, next, complete) = read_parts(dir.path(), 2, 4).unwrap();
        assert_eq!((data.as_str(), next, complete), ("b\nc\t", 6, false));
        let (data, next, complete) = read_parts(dir.path(), 8, 4).unwrap();
        assert_eq!((data.as_str(), next, complete), ("", 8, true));
    }

    #[test]
    fn a_page_does_not_end_inside_a_character() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part-00000"), "é!").unwrap();
        let (data, next, _) = read_parts(dir.path(), 0, 1).unwrap();
        assert_eq!((data.as_str(), next), ("", 0));
        let (data, next, _) = read_parts(dir.path(), 0, 2).unwrap();
        assert_eq!((data.as_str(), next), ("é", 2));
    }

    #[test]
    fn files_and_empty_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_parts(dir.path(), 0, 10).unwrap_err().to_string().contains("no part-* files"));
        std::fs::write(dir.path().join("f"), "x").unwrap();
        assert!(read_parts(&dir.path().join("f"), 0, 10).unwrap_err().to_string().contains("not a directory"));
    }
}
