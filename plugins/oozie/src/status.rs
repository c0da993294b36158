//! Oozie's workflow states → edp's, and what a report shows.
//!
//! PREP, RUNNING, SUSPENDED and SUCCEEDED map to themselves; FAILED (an EL
//! or executor error) is FAILED. KILLED needs care: a workflow whose action
//! failed takes its error path into a `<kill>` node and ends KILLED, which
//! for edp is FAILED with the action's code and message as the reason;
//! KILLED is what a user's cancel gives (or a kill from outside edp, when no
//! action failed).

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::{JobStatus, Object, StatusReport};
use serde_json::{Value, json};

use crate::dates;
use crate::model::{WorkflowAction, WorkflowJob};

pub fn map(oozie: &str) -> Result<JobStatus> {
    Ok(match oozie {
        "PREP" => JobStatus::Prep,
        "RUNNING" => JobStatus::Running,
        "SUSPENDED" => JobStatus::Suspended,
        "SUCCEEDED" => JobStatus::Succeeded,
        "KILLED" => JobStatus::Killed,
        "FAILED" => JobStatus::Failed,
        other => return Err(Error::fatal(format!("Oozie reports an unknown workflow status `{other}`"))),
    })
}

pub fn is_terminal(oozie: &str) -> bool {
    matches!(oozie, "SUCCEEDED" | "KILLED" | "FAILED")
}

/// While the workflow runs: what `show=status` says and where it is.
pub fn running(id: &str, oozie_status: &str, app_path: Option<&str>) -> Result<StatusReport> {
    let mut report = StatusReport::new(map(oozie_status)?);
    report.info = base_info(id, oozie_status, app_path);
    Ok(report)
}

fn base_info(id: &str, oozie_status: &str, app_path: Option<&str>) -> Object {
    let mut info = Object::new();
    info.insert("oozie_job_id".into(), json!(id));
    info.insert("oozie_status".into(), json!(oozie_status));
    if let Some(path) = app_path {
        info.insert("app_path".into(), json!(path));
    }
    info
}

/// The action whose error ended the workflow: the last with an error code,
/// an action's own (ERROR, FAILED) before the `:KILL:` node's.
fn failing(actions: &[WorkflowAction]) -> Option<&WorkflowAction> {
    let with_code = || actions.iter().rev().filter(|a| a.error_code.is_some());
    with_code().find(|a| matches!(a.status.as_str(), "ERROR" | "FAILED")).or_else(|| with_code().next())
}

fn reason(action: &WorkflowAction) -> String {
    let code = action.error_code.as_deref().unwrap_or("");
    let message = action.error_message.as_deref().unwrap_or("");
    let detail = if message.is_empty() {
        code.to_string()
    } else if message.starts_with(code) {
        message.to_string()
    } else {
        format!("{code}: {message}")
    };
    format!("action {} ({}) failed: {detail}", action.name, action.kind)
}

/// `... exit code [3]` in a launcher's message (JA018).
fn exit_code(action: &WorkflowAction) -> Option<i32> {
    let message = action.error_message.as_deref()?;
    let start = message.find("exit code [")? + "exit code [".len();
    let end = message[start..].find(']')? + start;
    message[start..end].trim().parse().ok()
}

/// At the end: the status with its reason, and what `show=info` told that
/// users want (not the configuration, which may hold secrets).
pub fn finished(job: &WorkflowJob, cancel_requested: bool, app_path: Option<&str>) -> Result<StatusReport> {
    let failed_action = failing(&job.actions);
    let (status, reason) = match job.status.as_str() {
        "SUCCEEDED" => (JobStatus::Succeeded, None),
        "FAILED" => (
            JobStatus::Failed,
            Some(failed_action.map(reason).unwrap_or_else(|| "Oozie reports the workflow FAILED".into())),
        ),
        "KILLED" if cancel_requested => (JobStatus::Killed, None),
        "KILLED" => match failed_action {
            Some(action) => (JobStatus::Failed, Some(reason(action))),
            None => (JobStatus::Killed, Some("the workflow was killed in Oozie, not through edp".into())),
        },
        other => (map(other)?, None),
    };
    let mut report = StatusReport::new(status);
    report.return_code = match status {
        JobStatus::Succeeded => Some(0),
        JobStatus::Failed => failed_action.and_then(exit_code),
        _ => None,
    };
    let mut info = base_info(&job.id, &job.status, app_path.or(job.app_path.as_deref()));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            info.insert(key.into(), v);
        }
    };
    put("app_name", job.app_name.clone().map(Value::from));
    put("console_url", job.console_url.clone().map(Value::from));
    put("created_time", job.created_time.as_deref().map(|d| json!(dates::iso(d))));
    put("start_time", job.start_time.as_deref().map(|d| json!(dates::iso(d))));
    put("end_time", job.end_time.as_deref().map(|d| json!(dates::iso(d))));
    put("run", job.run.map(Value::from));
    let actions: Vec<Value> = job.actions.iter().filter(|a| !a.is_control()).map(action_summary).collect();
    info.insert("actions".into(), Value::Array(actions));
    if let Some(reason) = reason {
        info.insert("reason".into(), json!(reason));
    }
    report.info = info;
    Ok(report)
}

fn action_summary(a: &WorkflowAction) -> Value {
    let mut v = Object::new();
    v.insert("name".into(), json!(a.name));
    v.insert("type".into(), json!(a.kind));
    v.insert("status".into(), json!(a.status));
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(text) = value.filter(|t| !t.is_empty() && *t != "-") {
            v.insert(key.into(), json!(text));
        }
    };
    put("external_id", a.external_id.as_deref());
    put("external_status", a.external_status.as_deref());
    put("console_url", a.console_url.as_deref());
    put("error_code", a.error_code.as_deref());
    put("error_message", a.error_message.as_deref());
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(name: &str, kind: &str, status: &str, code: Option<&str>, message: Option<&str>) -> WorkflowAction {
        WorkflowAction {
            name: name.into(),
            kind: kind.into(),
            status: status.into(),
            external_id: Some("-".into()),
            external_status: None,
            console_url: None,
            error_code: code.map(Into::into),
            error_message: message.map(Into::into),
        }
    }

    fn job(status: &str, actions: Vec<WorkflowAction>) -> WorkflowJob {
        WorkflowJob {
            id: "0000001-200110100000000-oozie-oozi-W".into(),
            app_name: Some("a".into()),
            app_path: Some("hdfs://nn/app".into()),
            status: status.into(),
            created_time: Some("Fri, 10 Jan 2020 10:00:00 GMT".into()),
            start_time: None,
            end_time: Some("Fri, 10 Jan 2020 10:05:00 GMT".into()),
            run: Some(0),
            console_url: None,
            actions,
        }
    }

    fn error_path() -> Vec<WorkflowAction> {
        vec![
            action(":start:", ":START:", "OK", None, None),
            action(
                "job-node",
                "shell",
                "ERROR",
                Some("JA018"),
                Some("Main class [org.apache.oozie.action.hadoop.ShellMain], exit code [3]"),
            ),
            action("fail", ":KILL:", "OK", Some("E0729"), Some("Workflow failed, error message[...]")),
        ]
    }

    #[test]
    fn killed_by_its_error_path_is_failed_with_the_action_error() {
        let report = finished(&job("KILLED", error_path()), false, None).unwrap();
        assert_eq!(report.status, JobStatus::Failed);
        assert_eq!(
            report.info["reason"],
            "action job-node (shell) failed: JA018: Main class [org.apache.oozie.action.hadoop.ShellMain], exit code [3]"
        );
        assert_eq!(report.return_code, Some(3));
        assert_eq!(report.info["end_time"], "2020-01-10T10:05:00");
        assert_eq!(report.info["actions"].as_array().map(Vec::len), Some(1), "control nodes are left out");
    }

    #[test]
    fn a_kill_asked_for_is_killed() {
        let report = finished(&job("KILLED", error_path()), true, None).unwrap();
        assert_eq!(report.status, JobStatus::Killed);
        assert!(report.info.get("reason").is_none());
        let outside =
            finished(&job("KILLED", vec![action("job-node", "java", "KILLED", None, None)]), false, None).unwrap();
        assert_eq!(outside.status, JobStatus::Killed);
        assert!(outside.info["reason"].as_str().unwrap().contains("not through edp"));
    }

    #[test]
    fn failed_and_succeeded() {
        let el = vec![action(
            "job-node",
            "pig",
            "FAILED",
            Some("EL_ERROR"),
            Some("variable [jobTracker] cannot be resolved"),
        )];
        let report = finished(&job("FAILED", el), false, None).unwrap();
        assert_eq!(report.status, JobStatus::Failed);
        assert!(report.info["reason"].as_str().unwrap().contains("EL_ERROR: variable [jobTracker]"));
        let ok = finished(&job("SUCCEEDED", vec![]), false, None).unwrap();
        assert_eq!((ok.status, ok.return_code), (JobStatus::Succeeded, Some(0)));
        assert!(map("DONE").is_err());
    }
}
