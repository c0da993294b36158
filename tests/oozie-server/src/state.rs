//! What the server holds and how workflows move: submissions, the node-by-
//! node progress of a workflow as a test scripts it, the job log, and which
//! notifications a change calls for.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, SubsecRound as _, Utc};

use crate::fs::Fs;
use crate::workflow::{CoordinatorDef, NodeKind, WorkflowDef};

/// Which Oozie the server imitates, where versions differ in their JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Flavor {
    /// Oozie 4.2+ (the 2016 fixtures): actions carry `userRetryCount`,
    /// `userRetryMax` and `userRetryInterval` (23 keys).
    #[default]
    Current,
    /// Oozie 3.x / 4.1 (the 2015 HDInsight fixture): 20 action keys.
    Legacy,
}

/// How the current action of a workflow ends, as a test scripts it.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every action still to run succeeds: the workflow ends SUCCEEDED.
    Succeeded,
    /// Only the current action succeeds; the workflow moves to its next node.
    ActionOk,
    /// The action fails and takes its `<error>` transition (normally into a
    /// `<kill>` node, so the workflow ends KILLED), as a launcher whose main
    /// exits non-zero does (`JA018`).
    ActionError { code: String, message: String },
    /// The workflow fails outright (FAILED), as on an EL or executor error.
    Failed { code: String, message: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WfStatus {
    Prep,
    Running,
    Suspended,
    Succeeded,
    Killed,
    Failed,
}

impl WfStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prep => "PREP",
            Self::Running => "RUNNING",
            Self::Suspended => "SUSPENDED",
            Self::Succeeded => "SUCCEEDED",
            Self::Killed => "KILLED",
            Self::Failed => "FAILED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Killed | Self::Failed)
    }
}

#[derive(Clone, Debug)]
pub struct Action {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub conf: String,
    pub transition: Option<String>,
    pub external_id: String,
    pub external_status: Option<String>,
    pub tracker_uri: String,
    pub console_url: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl Action {
    /// A control node (`:start:`, `:END:`, `:KILL:`): always `-` and `OK`.
    fn control(job: &str, name: &str, kind: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: format!("{job}@{name}"),
            name: name.into(),
            kind: kind.into(),
            status: "OK".into(),
            conf: String::new(),
            transition: None,
            external_id: "-".into(),
            external_status: Some("OK".into()),
            tracker_uri: "-".into(),
            console_url: "-".into(),
            error_code: None,
            error_message: None,
            start: Some(now),
            end: Some(now),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Workflow {
    pub id: String,
    pub app_name: String,
    pub app_path: String,
    pub conf: Vec<(String, String)>,
    pub user: String,
    pub group: Option<String>,
    pub acl: Option<String>,
    pub parent_id: Option<String>,
    pub external_id: Option<String>,
    pub status: WfStatus,
    pub created: DateTime<Utc>,
    pub started: Option<DateTime<Utc>>,
    pub last_mod: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    pub run: i64,
    pub actions: Vec<Action>,
    pub def: WorkflowDef,
    /// The workflow.xml text, as `show=definition` returns it.
    pub definition: String,
    pub log: Vec<String>,
    last_error: Option<(String, String)>,
}

impl Workflow {
    /// A job property, or a `<parameters>` default.
    pub fn var(&self, name: &str) -> Option<String> {
        self.conf
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| self.def.parameters.iter().find(|(k, _)| k == name).and_then(|(_, default)| default.clone()))
    }

    pub fn current_action(&self) -> Option<usize> {
        self.actions.iter().rposition(|a| a.status == "RUNNING")
    }

    /// Resolves `${...}` as Oozie's EL would for what the server needs:
    /// job properties, `wf:` functions. An unknown variable is an error.
    pub fn resolve(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let expr = rest[start + 2..start + len].trim();
            let is_var = !expr.is_empty() && expr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            let value = if is_var {
                Some(self.var(expr).ok_or_else(|| expr.to_string())?)
            } else {
                let (node, message) = self.last_error.clone().unwrap_or_default();
                match expr.replace(' ', "").as_str() {
                    "wf:errorMessage(wf:lastErrorNode())" => Some(message),
                    "wf:lastErrorNode()" => Some(node),
                    "wf:id()" => Some(self.id.clone()),
                    "wf:name()" => Some(self.app_name.clone()),
                    "wf:user()" => Some(self.user.clone()),
                    _ => None,
                }
            };
            match value {
                Some(v) => out.push_str(&v),
                None => out.push_str(&rest[start..=start + len]),
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn log_line(&mut self, level: &str, class: &str, action: Option<&str>, message: &str) {
        let now = Utc::now();
        let action = action.map(|a| format!("{}@{a}", self.id)).unwrap_or_default();
        self.log.push(format!(
            "{} {level:>5} {class}:520 - SERVER[oozie-test] USER[{}] GROUP[-] TOKEN[] APP[{}] JOB[{}] ACTION[{action}] {message}",
            now.format("%Y-%m-%d %H:%M:%S,%3f"),
            self.user,
            self.app_name,
            self.id,
        ));
    }

    /// Sets the job's status; the notification this calls for, if any.
    fn set_status(&mut self, status: WfStatus, now: DateTime<Utc>) -> Vec<Pending> {
        if self.status == status {
            return Vec::new();
        }
        self.status = status;
        self.last_mod = now;
        if status.is_terminal() {
            self.ended = Some(now);
        }
        let id = self.id.clone();
        match self.var("oozie.wf.workflow.notification.url") {
            Some(url) => {
                let url = url
                    .replace("$jobId", &id)
                    .replace("$status", status.as_str())
                    .replace("$parentId", self.parent_id.as_deref().unwrap_or(""));
                self.log.push(format!(
                    "{}  INFO WorkflowNotificationXCommand:520 - SERVER[oozie-test] USER[-] GROUP[-] TOKEN[-] APP[-] \
                     JOB[{id}] ACTION[] Sending notification to [{url}]",
                    now.format("%Y-%m-%d %H:%M:%S,%3f")
                ));
                vec![Pending { url, job_id: id, status: status.as_str().into() }]
            }
            None => {
                self.log.push(format!(
                    "{}  INFO WorkflowNotificationXCommand:520 - SERVER[oozie-test] USER[-] GROUP[-] TOKEN[-] APP[-] \
                     JOB[{id}] ACTION[] No Notification URL is defined. Therefore nothing to notify for job {id}",
                    now.format("%Y-%m-%d %H:%M:%S,%3f")
                ));
                Vec::new()
            }
        }
    }

    /// PREP → RUNNING: the `:start:` node, then its target.
    fn start(&mut self, ids: &mut HadoopIds) -> Vec<Pending> {
        let now = now();
        self.started = Some(now);
        let mut start = Action::control(&self.id, ":start:", ":START:", now);
        start.transition = Some(self.def.start.clone());
        self.actions.push(start);
        self.log_line("INFO", "ActionStartXCommand", Some(":start:"), &format!(
            "Start action [{}@:start:] with user-retry state : userRetryCount [0], userRetryMax [0], userRetryInterval [10]",
            self.id
        ));
        let mut pending = self.set_status(WfStatus::Running, now);
        let first = self.def.start.clone();
        pending.extend(self.enter(&first, ids));
        pending
    }

    /// Runs the workflow from `node` until an action is RUNNING or the
    /// workflow ends.
    fn enter(&mut self, node: &str, ids: &mut HadoopIds) -> Vec<Pending> {
        let mut name = node.to_string();
        loop {
            let now = now();
            let Some(node) = self.def.node(&name).cloned() else {
                return self.fail_job(&name, "E0708", &format!("Invalid transition, node [{name}]"), now);
            };
            match node.kind {
                NodeKind::Action(def) => {
                    let conf = match self.resolve(&def.xml) {
                        Ok(conf) => conf,
                        Err(var) => {
                            let mut action = Action::control(&self.id, &name, &def.kind, now);
                            action.conf = def.xml.clone();
                            action.status = "FAILED".into();
                            action.external_status = None;
                            action.end = None;
                            action.error_code = Some("EL_ERROR".into());
                            action.error_message = Some(format!("variable [{var}] cannot be resolved"));
                            self.actions.push(action);
                            self.log_line("WARN", "ActionStartXCommand", Some(&name), &format!(
                                "Error starting action [{name}]. ErrorType [FAILED], ErrorCode [EL_ERROR], Message [variable [{var}] cannot be resolved]"
                            ));
                            return self.set_status(WfStatus::Failed, now);
                        }
                    };
                    self.log_line("INFO", "ActionStartXCommand", Some(&name), &format!(
                        "Start action [{}@{name}] with user-retry state : userRetryCount [0], userRetryMax [0], userRetryInterval [10]",
                        self.id
                    ));
                    if def.kind == "fs" {
                        // Oozie runs fs actions synchronously.
                        let mut action = Action::control(&self.id, &name, "fs", now);
                        action.conf = conf;
                        action.transition = Some(def.ok.clone());
                        self.actions.push(action);
                        name = def.ok;
                        continue;
                    }
                    let tracker = self
                        .var("jobTracker")
                        .or_else(|| self.var("resourceManager"))
                        .unwrap_or_else(|| "local".into());
                    let host = tracker.split(':').next().unwrap_or("resourcemanager").to_string();
                    let n = ids.next();
                    self.actions.push(Action {
                        id: format!("{}@{name}", self.id),
                        name: name.clone(),
                        kind: def.kind.clone(),
                        status: "RUNNING".into(),
                        conf,
                        transition: None,
                        external_id: format!("job_{}_{n:04}", ids.cluster),
                        external_status: Some("RUNNING".into()),
                        tracker_uri: tracker,
                        console_url: format!("http://{host}:8088/proxy/application_{}_{n:04}/", ids.cluster),
                        error_code: None,
                        error_message: None,
                        start: Some(now),
                        end: None,
                    });
                    self.log_line(
                        "INFO",
                        "ActionStartXCommand",
                        Some(&name),
                        &format!("[***{}@{name}***]Action status=RUNNING", self.id),
                    );
                    return Vec::new();
                }
                NodeKind::Kill { message } => {
                    let mut action = Action::control(&self.id, &name, ":KILL:", now);
                    action.error_code = Some("E0729".into());
                    action.error_message = Some(self.resolve(&message).unwrap_or(message));
                    self.actions.push(action);
                    return self.set_status(WfStatus::Killed, now);
                }
                NodeKind::End => {
                    self.actions.push(Action::control(&self.id, &name, ":END:", now));
                    return self.set_status(WfStatus::Succeeded, now);
                }
                NodeKind::Fork { .. } | NodeKind::Join { .. } | NodeKind::Decision { .. } => {
                    let message = "the test server does not run fork, join or decision nodes";
                    return self.fail_job(&name, "E0720", message, now);
                }
            }
        }
    }

    fn fail_job(&mut self, node: &str, code: &str, message: &str, now: DateTime<Utc>) -> Vec<Pending> {
        let mut action = Action::control(&self.id, node, ":FAILED:", now);
        action.status = "FAILED".into();
        action.error_code = Some(code.into());
        action.error_message = Some(message.into());
        self.actions.push(action);
        self.set_status(WfStatus::Failed, now)
    }

    fn finish(&mut self, outcome: &Outcome, ids: &mut HadoopIds) -> Result<Vec<Pending>, String> {
        if self.status != WfStatus::Running {
            return Err(format!("workflow {} is {}, not RUNNING", self.id, self.status.as_str()));
        }
        let mut pending = Vec::new();
        loop {
            let Some(at) = self.current_action() else {
                return Err(format!("workflow {} has no running action", self.id));
            };
            let now = now();
            let name = self.actions[at].name.clone();
            let Some(NodeKind::Action(def)) = self.def.node(&name).map(|n| n.kind.clone()) else {
                return Err(format!("node {name} is not an action"));
            };
            let action = &mut self.actions[at];
            action.end = Some(now);
            match outcome {
                Outcome::Succeeded | Outcome::ActionOk => {
                    action.status = "OK".into();
                    action.external_status = Some("SUCCEEDED".into());
                    action.transition = Some(def.ok.clone());
                    self.log_line(
                        "INFO",
                        "ActionEndXCommand",
                        Some(&name),
                        &format!("[***{}@{name}***]Action status=DONE", self.id),
                    );
                    pending.extend(self.enter(&def.ok, ids));
                    if matches!(outcome, Outcome::Succeeded) && self.status == WfStatus::Running {
                        continue;
                    }
                }
                Outcome::ActionError { code, message } => {
                    action.status = "ERROR".into();
                    action.external_status = Some("FAILED/KILLED".into());
                    action.error_code = Some(code.clone());
                    action.error_message = Some(message.clone());
                    action.transition = Some(def.error.clone());
                    self.last_error = Some((name.clone(), message.clone()));
                    self.log_line("WARN", "ActionEndXCommand", Some(&name), &format!(
                        "Error ending action [{name}]. ErrorType [FAILED], ErrorCode [{code}], Message [{code}: {message}]"
                    ));
                    pending.extend(self.enter(&def.error, ids));
                }
                Outcome::Failed { code, message } => {
                    action.status = "FAILED".into();
                    action.external_status = Some("FAILED".into());
                    action.error_code = Some(code.clone());
                    action.error_message = Some(message.clone());
                    self.log_line(
                        "ERROR",
                        "ActionEndXCommand",
                        Some(&name),
                        &format!("Workflow action failed : {code}: {message}"),
                    );
                    pending.extend(self.set_status(WfStatus::Failed, now));
                }
            }
            return Ok(pending);
        }
    }

    /// `PUT ?action=kill`: Oozie ignores it on a finished job (a silent 200).
    pub fn kill(&mut self) -> Vec<Pending> {
        if !matches!(self.status, WfStatus::Prep | WfStatus::Running | WfStatus::Suspended | WfStatus::Failed) {
            self.log_line(
                "WARN",
                "KillXCommand",
                None,
                &format!("E0725: Workflow instance can not be killed, {}, Error Code: E0725", self.id),
            );
            return Vec::new();
        }
        let now = now();
        for action in self.actions.iter_mut().filter(|a| matches!(a.status.as_str(), "RUNNING" | "PREP")) {
            action.status = "KILLED".into();
            action.external_status = Some("KILLED".into());
            action.end = Some(now);
        }
        self.log_line("INFO", "KillXCommand", None, "STARTED WorkflowKillXCommand for jobId");
        self.set_status(WfStatus::Killed, now)
    }

    pub fn suspend(&mut self) -> Vec<Pending> {
        if self.status != WfStatus::Running {
            return Vec::new();
        }
        self.log_line("INFO", "SuspendXCommand", None, "STARTED WorkflowSuspendXCommand");
        self.set_status(WfStatus::Suspended, now())
    }

    pub fn resume(&mut self) -> Vec<Pending> {
        if self.status != WfStatus::Suspended {
            return Vec::new();
        }
        self.log_line("INFO", "ResumeXCommand", None, "STARTED WorkflowResumeXCommand");
        self.set_status(WfStatus::Running, now())
    }
}

#[derive(Clone, Debug)]
pub struct Coordinator {
    pub id: String,
    pub def: CoordinatorDef,
    pub path: String,
    pub conf: Vec<(String, String)>,
    pub user: String,
    pub status: WfStatus,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
}

/// A notification to send: where, for which change.
#[derive(Clone, Debug)]
pub struct Pending {
    pub url: String,
    pub job_id: String,
    pub status: String,
}

/// A notification as the server sent it, for tests to look at.
#[derive(Clone, Debug)]
pub struct Notification {
    pub url: String,
    pub job_id: String,
    pub status: String,
    pub attempts: u32,
    /// The HTTP status of the last attempt (None: no answer).
    pub answer: Option<u16>,
    pub delivered: bool,
}

/// One request the server answered, for tests to count.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
}

/// The launcher job ids a Hadoop cluster would hand out.
#[derive(Debug)]
pub struct HadoopIds {
    pub cluster: i64,
    next: u32,
}

impl HadoopIds {
    fn next(&mut self) -> u32 {
        self.next += 1;
        self.next
    }
}

#[derive(Debug)]
pub struct Store {
    pub started: DateTime<Utc>,
    pub system_id: String,
    pub system_mode: String,
    pub build_version: String,
    seq: u64,
    pub ids: HadoopIds,
    pub workflows: Vec<Workflow>,
    pub coordinators: Vec<Coordinator>,
    pub fs: Fs,
    pub submissions: usize,
    pub lose_next_submit_reply: bool,
    pub notifications: Vec<Notification>,
    pub requests: Vec<Request>,
}

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

impl Store {
    pub fn new(system_id: &str, build_version: &str) -> Self {
        let started = Utc::now();
        Self {
            started,
            system_id: system_id.into(),
            system_mode: "NORMAL".into(),
            build_version: build_version.into(),
            seq: 0,
            ids: HadoopIds { cluster: started.timestamp_millis() - 86_400_000, next: 0 },
            workflows: Vec::new(),
            coordinators: Vec::new(),
            fs: Fs::default(),
            submissions: 0,
            lose_next_submit_reply: false,
            notifications: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// Oozie's UUIDService: `%07d-<server start yyMMddHHmmssSSS>-<system id>-<W|C>`.
    fn next_id(&mut self, suffix: char) -> String {
        let id = format!("{:07}-{}-{}-{suffix}", self.seq, self.started.format("%y%m%d%H%M%S%3f"), self.system_id);
        self.seq += 1;
        id
    }

    pub fn workflow(&self, id: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.id == id)
    }

    pub fn workflow_mut(&mut self, id: &str) -> Option<&mut Workflow> {
        self.workflows.iter_mut().find(|w| w.id == id)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_workflow(
        &mut self,
        def: WorkflowDef,
        definition: String,
        app_path: String,
        conf: Vec<(String, String)>,
        user: String,
        start: bool,
    ) -> (String, Vec<Pending>) {
        let id = self.next_id('W');
        let now = now();
        let lookup = |k: &str| conf.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut wf = Workflow {
            id: id.clone(),
            app_name: def.name.clone(),
            app_path,
            group: lookup("group.name"),
            acl: lookup("oozie.job.acl"),
            external_id: lookup("oozie.wf.external.id"),
            conf,
            user,
            parent_id: None,
            status: WfStatus::Prep,
            created: now,
            started: None,
            last_mod: now,
            ended: None,
            run: 0,
            actions: Vec::new(),
            def,
            definition,
            log: Vec::new(),
            last_error: None,
        };
        wf.log_line("INFO", "SubmitXCommand", None, "Submitted workflow");
        let pending = if start { wf.start(&mut self.ids) } else { Vec::new() };
        self.workflows.push(wf);
        self.submissions += 1;
        (id, pending)
    }

    pub fn add_coordinator(
        &mut self,
        def: CoordinatorDef,
        path: String,
        conf: Vec<(String, String)>,
        user: String,
        start: bool,
    ) -> String {
        let id = self.next_id('C');
        let parse = |s: &str| {
            NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M").ok().map(|t| t.and_utc())
        };
        self.coordinators.push(Coordinator {
            id: id.clone(),
            start: parse(&def.start),
            end: parse(&def.end),
            def,
            path,
            conf,
            user,
            status: if start { WfStatus::Running } else { WfStatus::Prep },
            created: now(),
        });
        self.submissions += 1;
        id
    }

    pub fn start(&mut self, id: &str) -> Vec<Pending> {
        let ids = &mut self.ids;
        match self.workflows.iter_mut().find(|w| w.id == id) {
            Some(wf) if wf.status == WfStatus::Prep => wf.start(ids),
            _ => Vec::new(),
        }
    }

    pub fn finish(&mut self, id: &str, outcome: &Outcome) -> Result<Vec<Pending>, String> {
        let ids = &mut self.ids;
        let wf = self.workflows.iter_mut().find(|w| w.id == id).ok_or_else(|| format!("no workflow {id}"))?;
        wf.finish(outcome, ids)
    }

    /// Workflows by filter, newest first, as `GET /jobs` lists them.
    pub fn filter_workflows(&self, filter: &BTreeMap<String, Vec<String>>) -> Vec<&Workflow> {
        let mut found: Vec<&Workflow> = self
            .workflows
            .iter()
            .filter(|w| {
                filter.iter().all(|(key, values)| {
                    values.iter().any(|v| match key.as_str() {
                        "name" => &w.app_name == v,
                        "user" => &w.user == v,
                        "group" => w.group.as_deref() == Some(v),
                        "status" => w.status.as_str() == v,
                        "id" => &w.id == v,
                        "text" => w.app_name.contains(v.as_str()) || w.user.contains(v.as_str()),
                        _ => true,
                    })
                })
            })
            .collect();
        found.reverse();
        found
    }
}
