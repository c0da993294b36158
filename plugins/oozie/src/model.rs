//! Oozie's JSON answers, as far as the engine reads them. Unknown keys are
//! ignored (versions differ: `userRetry*`, `stats`, `cred` as `"null"`);
//! the keys every version sends are required.

use serde::Deserialize;

/// `WorkflowJobBean.toJSONObject` (`show=info`, and list items).
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowJob {
    pub id: String,
    pub app_name: Option<String>,
    pub app_path: Option<String>,
    pub status: String,
    pub created_time: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub run: Option<i64>,
    pub console_url: Option<String>,
    #[serde(default)]
    pub actions: Vec<WorkflowAction>,
}

/// `WorkflowActionBean.toJSONObject`.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowAction {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub external_id: Option<String>,
    pub external_status: Option<String>,
    pub console_url: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl WorkflowAction {
    /// `:START:`, `:END:`, `:KILL:`, `:FORK:`, `:JOIN:`, `switch`.
    pub fn is_control(&self) -> bool {
        self.kind.starts_with(':') || self.kind == "switch"
    }
}

/// `GET /jobs`: `{"total", "workflows", "len", "offset"}`.
#[derive(Deserialize, Debug, Clone)]
pub struct WorkflowList {
    pub total: u64,
    pub workflows: Vec<WorkflowJob>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Status {
    pub status: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Submitted {
    pub id: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct SystemMode {
    #[serde(rename = "systemMode")]
    pub system_mode: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct BuildVersion {
    #[serde(rename = "buildVersion")]
    pub build_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> String {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oozie-server/fixtures");
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn real_job_infos_parse() {
        let running: WorkflowJob =
            serde_json::from_str(&fixture("job-info-v2-running-shell-actions-shopify.json")).unwrap();
        assert_eq!(running.status, "RUNNING");
        assert_eq!(running.actions.len(), 6);
        let start = running.actions.iter().find(|a| a.name == ":start:").unwrap();
        let build = running.actions.iter().find(|a| a.name == "build").unwrap();
        assert!(start.is_control() && !build.is_control());
        assert_eq!(build.external_id.as_deref(), Some("job_1462280977085_18834"));

        let done: WorkflowJob =
            serde_json::from_str(&fixture("job-info-succeeded-subworkflow-fork-join-hdinsight.json")).unwrap();
        assert_eq!((done.status.as_str(), done.actions.len()), ("SUCCEEDED", 14));
        assert_eq!(done.end_time.as_deref(), Some("Thu, 22 Jan 2015 02:57:51 GMT"));
    }

    #[test]
    fn a_real_list_parses() {
        let list: WorkflowList = serde_json::from_str(&fixture("jobs-list-v2-workflows-tz-EST-shopify.json")).unwrap();
        assert_eq!((list.total, list.workflows.len()), (297, 50));
        assert!(list.workflows.iter().all(|w| w.actions.is_empty() && w.app_path.is_none()));
    }
}
