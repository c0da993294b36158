//! WebHDFS, as far as the engine writes to HDFS: MKDIRS, the two-step
//! CREATE (the NameNode answers 307 with the DataNode to send the bytes
//! to), DELETE, GETFILESTATUS, LISTSTATUS; and reads a job's output for
//! previews with the two-step OPEN.

use std::path::Path;

use edp_engine_api::plugin::{Error, Result};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::cluster::ClusterConfig;
use crate::http::{self, Http};

/// What must be escaped in a path (`/` stays).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'+');

/// Bytes read from a set of files, and the size of the whole set.
pub struct Page {
    pub bytes: Vec<u8>,
    pub total: u64,
}

pub struct WebHdfs<'a> {
    http: &'a Http,
    cluster: &'a ClusterConfig,
}

impl<'a> WebHdfs<'a> {
    pub fn new(http: &'a Http, cluster: &'a ClusterConfig) -> Self {
        Self { http, cluster }
    }

    fn request(&self, method: Method, path: &str, op: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/webhdfs/v1{}", self.cluster.webhdfs_url, utf8_percent_encode(path, PATH));
        let request = self
            .http
            .client()
            .request(method, url)
            .query(&[("op", op), ("user.name", self.cluster.hdfs_user.as_str())]);
        http::authorize(request, self.cluster)
    }

    fn what(&self, op: &str, path: &str) -> String {
        format!("WebHDFS at {} ({op} {path})", self.cluster.webhdfs_url)
    }

    pub async fn mkdirs(&self, path: &str) -> Result<()> {
        let what = self.what("MKDIRS", path);
        let answer: Value =
            http::json(http::send(self.request(Method::PUT, path, "MKDIRS"), &what).await?, &what).await?;
        if answer["boolean"] == Value::Bool(true) {
            Ok(())
        } else {
            Err(Error::invalid_input(format!("{what}: the NameNode answered {answer}")))
        }
    }

    /// Writes `local` to `path`, replacing what is there (a launch retried
    /// after a crash writes the same files again).
    pub async fn create_from_file(&self, path: &str, local: &Path) -> Result<()> {
        let bytes = tokio::fs::read(local)
            .await
            .map_err(|e| Error::fatal(format!("cannot read the staged binary {}: {e}", local.display())))?;
        self.create(path, bytes).await
    }

    pub async fn create(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        let what = self.what("CREATE", path);
        // Step 1: the NameNode, without data, names the DataNode.
        let step1 = self.request(Method::PUT, path, "CREATE").query(&[("overwrite", "true")]);
        let response = http::send(step1, &what).await?;
        if response.status() != StatusCode::TEMPORARY_REDIRECT {
            if response.status().is_success() {
                // Some gateways take the data at once; this one did not get any.
                return Err(Error::invalid_input(format!(
                    "{what}: expected a redirect to a DataNode, got {}",
                    response.status()
                )));
            }
            return Err(http::failure(response, &what).await);
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| Error::invalid_input(format!("{what}: the NameNode's redirect has no Location")))?;
        // Step 2: the bytes, to the DataNode.
        let step2 = http::authorize(self.http.client().put(&location), self.cluster)
            .timeout(self.http.settings().upload_timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        let response = http::send(step2, &what).await?;
        if response.status() == StatusCode::CREATED || response.status().is_success() {
            Ok(())
        } else {
            Err(http::failure(response, &what).await)
        }
    }

    /// Recursive delete; a path already gone is fine.
    pub async fn delete(&self, path: &str) -> Result<()> {
        let what = self.what("DELETE", path);
        let request = self.request(Method::DELETE, path, "DELETE").query(&[("recursive", "true")]);
        let _: Value = http::json(http::send(request, &what).await?, &what).await?;
        Ok(())
    }

    /// Whether `path` holds data, as a job's output: a non-empty file, or
    /// a directory with `_SUCCESS` or any entry (what flows' `use_existing`
    /// counts as "already made").
    pub async fn holds_data(&self, path: &str) -> Result<bool> {
        let Some(status) = self.file_status(path).await? else { return Ok(false) };
        if status["type"] == "FILE" {
            return Ok(status["length"].as_u64().unwrap_or(0) > 0);
        }
        let what = self.what("LISTSTATUS", path);
        let listing: Value =
            http::json(http::send(self.request(Method::GET, path, "LISTSTATUS"), &what).await?, &what).await?;
        Ok(listing["FileStatuses"]["FileStatus"].as_array().is_some_and(|entries| !entries.is_empty()))
    }

    /// Up to `limit` bytes from `offset` of the `part-*` files under `dir`
    /// (in name order, taken as one stream), as Hadoop jobs write their
    /// output; and the total size of those files.
    pub async fn read_parts(&self, dir: &str, offset: u64, limit: u64) -> Result<Page> {
        let what = self.what("LISTSTATUS", dir);
        let response = http::send(self.request(Method::GET, dir, "LISTSTATUS"), &what).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(Error::invalid_input(format!("the output {dir} does not exist in HDFS")));
        }
        let listing: Value = http::json(response, &what).await?;
        let entries = listing["FileStatuses"]["FileStatus"].as_array().cloned().unwrap_or_default();
        if entries.iter().any(|e| e["pathSuffix"].as_str().unwrap_or_default().is_empty()) {
            return Err(Error::invalid_input(format!(
                "the output {dir} is a file: previews read a directory's part-* files"
            )));
        }
        let mut parts: Vec<(String, u64)> = entries
            .iter()
            .filter(|e| e["type"] == "FILE")
            .filter_map(|e| Some((e["pathSuffix"].as_str()?.to_string(), e["length"].as_u64()?)))
            .filter(|(name, _)| name.starts_with("part-"))
            .collect();
        if parts.is_empty() {
            return Err(Error::invalid_input(format!("the output {dir} has no part-* files")));
        }
        parts.sort();
        let total = parts.iter().map(|(_, len)| len).sum();
        let mut bytes = Vec::new();
        let mut start = 0u64;
        for (name, len) in parts {
            let end = start + len;
            let want = offset + bytes.len() as u64;
            if want < end && (bytes.len() as u64) < limit {
                let length = (limit - bytes.len() as u64).min(end - want);
                let path = format!("{}/{name}", dir.trim_end_matches('/'));
                bytes.extend(self.open(&path, want - start, length).await?);
            }
            start = end;
        }
        Ok(Page { bytes, total })
    }

    /// OPEN in two steps: the NameNode names a DataNode (307), which sends
    /// the bytes. At most `length` bytes are kept, whatever is sent.
    async fn open(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        let what = self.what("OPEN", path);
        let (offset_s, length_s) = (offset.to_string(), length.to_string());
        let step1 =
            self.request(Method::GET, path, "OPEN").query(&[("offset", offset_s.as_str()), ("length", &length_s)]);
        let response = http::send(step1, &what).await?;
        let response = if response.status() == StatusCode::TEMPORARY_REDIRECT {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| Error::invalid_input(format!("{what}: the NameNode's redirect has no Location")))?;
            http::send(http::authorize(self.http.client().get(&location), self.cluster), &what).await?
        } else {
            response
        };
        if !response.status().is_success() {
            return Err(http::failure(response, &what).await);
        }
        let mut bytes = response
            .bytes()
            .await
            .map_err(|e| Error::transient(format!("{what}: reading the data failed: {e}")))?
            .to_vec();
        bytes.truncate(length as usize);
        Ok(bytes)
    }

    /// `FileStatus` of `path`, or `None` when it does not exist.
    async fn file_status(&self, path: &str) -> Result<Option<Value>> {
        let what = self.what("GETFILESTATUS", path);
        let response = http::send(self.request(Method::GET, path, "GETFILESTATUS"), &what).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let answer: Value = http::json(response, &what).await?;
        Ok(Some(answer["FileStatus"].clone()))
    }

    /// Whether `path` exists.
    pub async fn exists(&self, path: &str) -> Result<bool> {
        let what = self.what("GETFILESTATUS", path);
        let response = http::send(self.request(Method::GET, path, "GETFILESTATUS"), &what).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        let _: Value = http::json(response, &what).await?;
        Ok(true)
    }
}
