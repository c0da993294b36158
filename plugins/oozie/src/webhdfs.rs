//! WebHDFS, as far as the engine writes to HDFS: MKDIRS, the two-step
//! CREATE (the NameNode answers 307 with the DataNode to send the bytes
//! to), DELETE, GETFILESTATUS, LISTSTATUS.

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
