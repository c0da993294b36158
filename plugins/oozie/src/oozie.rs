//! The Oozie web services API v2, as the engine uses it. Every request
//! names the user (`user.name`, Oozie's pseudo authentication) and asks for
//! GMT dates.

use edp_engine_api::plugin::{Error, Result};
use reqwest::Method;

use crate::cluster::ClusterConfig;
use crate::http::{self, Http};
use crate::model::{BuildVersion, Status, Submitted, SystemMode, WorkflowJob, WorkflowList};

pub struct Oozie<'a> {
    http: &'a Http,
    cluster: &'a ClusterConfig,
}

/// `PUT /v2/job/<id>?action=...`.
#[derive(Debug, Clone, Copy)]
pub enum Manage {
    Start,
    Suspend,
    Resume,
    Kill,
}

impl Manage {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Kill => "kill",
        }
    }
}

/// Job ids are `[0-9a-zA-Z-@:_]`; anything else did not come from Oozie.
fn check_id(id: &str) -> Result<&str> {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '@' | ':' | '.')) {
        Ok(id)
    } else {
        Err(Error::invalid_input(format!("`{id}` is not an Oozie job id")))
    }
}

impl<'a> Oozie<'a> {
    pub fn new(http: &'a Http, cluster: &'a ClusterConfig) -> Self {
        Self { http, cluster }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/{path}", self.cluster.oozie_url);
        let request = self.http.client().request(method, url).query(&[("user.name", self.cluster.hdfs_user.as_str())]);
        http::authorize(request, self.cluster)
    }

    fn what(&self, action: &str) -> String {
        format!("Oozie at {} ({action})", self.cluster.oozie_url)
    }

    /// `GET /versions`: `[0,1,2]`.
    pub async fn versions(&self) -> Result<Vec<i64>> {
        let what = self.what("versions");
        http::json(http::send(self.request(Method::GET, "versions"), &what).await?, &what).await
    }

    /// `GET /v2/admin/status`: `NORMAL`, `SAFEMODE` or `NOWEBSERVICE`.
    pub async fn system_mode(&self) -> Result<String> {
        let what = self.what("admin status");
        let mode: SystemMode =
            http::json(http::send(self.request(Method::GET, "v2/admin/status"), &what).await?, &what).await?;
        Ok(mode.system_mode)
    }

    pub async fn build_version(&self) -> Result<String> {
        let what = self.what("build version");
        let v: BuildVersion =
            http::json(http::send(self.request(Method::GET, "v2/admin/build-version"), &what).await?, &what).await?;
        Ok(v.build_version)
    }

    /// `POST /v2/jobs?action=start` with the job configuration: the new
    /// workflow's id (it is RUNNING).
    pub async fn submit(&self, configuration_xml: String) -> Result<String> {
        let what = self.what("submit");
        let request = self
            .request(Method::POST, "v2/jobs")
            .query(&[("action", "start")])
            .header(reqwest::header::CONTENT_TYPE, "application/xml;charset=UTF-8")
            .body(configuration_xml);
        let submitted: Submitted = http::json(http::send(request, &what).await?, &what).await?;
        check_id(&submitted.id)?;
        Ok(submitted.id)
    }

    /// Workflows of the engine's user named `app_name`, oldest first.
    pub async fn find_by_name(&self, app_name: &str) -> Result<Vec<WorkflowJob>> {
        const PAGE: u64 = 50;
        let what = self.what("list");
        let filter = format!("name={app_name};user={}", self.cluster.hdfs_user);
        let mut found = Vec::new();
        let mut offset = 1;
        loop {
            let request = self.request(Method::GET, "v2/jobs").query(&[
                ("jobtype", "wf"),
                ("filter", filter.as_str()),
                ("offset", &offset.to_string()),
                ("len", &PAGE.to_string()),
                ("timezone", "GMT"),
            ]);
            let page: WorkflowList = http::json(http::send(request, &what).await?, &what).await?;
            let got = page.workflows.len() as u64;
            // The filter is exact on name, but be sure.
            found.extend(page.workflows.into_iter().filter(|w| w.app_name.as_deref() == Some(app_name)));
            offset += got;
            if got == 0 || offset > page.total {
                break;
            }
        }
        found.reverse();
        Ok(found)
    }

    /// `show=status`: cheap, for polling.
    pub async fn status(&self, id: &str) -> Result<String> {
        let what = self.what(&format!("status of {id}"));
        let request = self
            .request(Method::GET, &format!("v2/job/{}", check_id(id)?))
            .query(&[("show", "status"), ("timezone", "GMT")]);
        let status: Status = http::json(http::send(request, &what).await?, &what).await?;
        Ok(status.status)
    }

    /// `show=info`: the job and its actions.
    pub async fn info(&self, id: &str) -> Result<WorkflowJob> {
        let what = self.what(&format!("info of {id}"));
        let request = self
            .request(Method::GET, &format!("v2/job/{}", check_id(id)?))
            .query(&[("show", "info"), ("timezone", "GMT")]);
        http::json(http::send(request, &what).await?, &what).await
    }

    /// `show=log`: Oozie's own log lines for the job.
    pub async fn log(&self, id: &str) -> Result<String> {
        let what = self.what(&format!("log of {id}"));
        let request = self.request(Method::GET, &format!("v2/job/{}", check_id(id)?)).query(&[("show", "log")]);
        let response = http::send(request, &what).await?;
        if !response.status().is_success() {
            return Err(http::failure(response, &what).await);
        }
        let bytes = response.bytes().await.map_err(|e| Error::transient(format!("{what}: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `PUT ?action=...`. Oozie answers 200 even when the job was in no state
    /// for it: callers read the status back.
    pub async fn manage(&self, id: &str, action: Manage) -> Result<()> {
        let what = self.what(&format!("{} {id}", action.as_str()));
        let request =
            self.request(Method::PUT, &format!("v2/job/{}", check_id(id)?)).query(&[("action", action.as_str())]);
        http::ok(http::send(request, &what).await?, &what).await
    }
}
