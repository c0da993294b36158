//! What the API asks of the job manager.

use edp_engine_api::abi::ErrorKind;
use edp_engine_api::host::CallError;
use edp_engine_api::wire::{LogChunk, LogRequest, Object};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, TryIntoModel};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Edp;
use crate::catalog::check_update;
use crate::entity::job_execution;
use crate::error::{Error, Result};
use crate::model::{Execution, Page};
use crate::paging::{self, ListQuery};
use crate::reads::{self, Executions, Extra};
use crate::scope::Scope;
use crate::status::Status;
use crate::time;

use super::lease::Claimed;
use super::{cancel, lease, policy, poll, request, rows, scheduler};

#[derive(utoipa::ToSchema, Deserialize, serde::Serialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    pub job_template_id: String,
    pub cluster_id: String,
    #[serde(default)]
    pub input_id: Option<String>,
    #[serde(default)]
    pub output_id: Option<String>,
    #[serde(default)]
    pub job_configs: JobConfigs,
    #[serde(default)]
    pub interface: Option<Object>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub is_protected: bool,
}

#[derive(utoipa::ToSchema, Deserialize, serde::Serialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct JobConfigs {
    #[serde(default)]
    pub configs: Object,
    #[serde(default)]
    pub params: Object,
    #[serde(default)]
    pub args: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_execution_info: Option<Value>,
}

impl JobConfigs {
    /// Sahara's `simple_config`: strings and numbers (booleans pass too).
    /// `edp.job.*` keys are the job's policy (`policy`): known names and
    /// ranges only.
    pub(crate) fn check(&self) -> Result<()> {
        policy::Policy::from_configs(&self.configs, policy::Defaults::default())?;
        for (section, map) in [("configs", &self.configs), ("params", &self.params)] {
            for (key, value) in map {
                if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    return Err(Error::Validation(format!("job_configs.{section}.{key} must be a string or a number")));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn args(&self) -> Result<Vec<String>> {
        self.args
            .iter()
            .map(|a| match a {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(Error::Validation("job_configs.args must be strings".into())),
            })
            .collect()
    }
}

#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ExecutionPatch {
    pub is_public: Option<bool>,
    pub is_protected: Option<bool>,
    pub info: Option<ActionInfo>,
}

#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ActionInfo {
    /// An action, lower case: `cancel`, `suspend` or `resume`.
    pub status: String,
}

#[derive(Debug, Default)]
pub struct ExecutionFilter {
    pub status: Option<String>,
    pub flow_id: Option<String>,
    pub cluster_id: Option<String>,
    pub job_template_id: Option<String>,
    /// The engine id (`local`, `oozie`, ...).
    pub engine: Option<String>,
    /// Jobs whose id starts with this (a client resolving a short id).
    pub id_prefix: Option<String>,
    /// Jobs the engine knows by this id (a YARN application, a pid, ...).
    pub engine_job_id: Option<String>,
}

/// Validates the launch with the engine and stores it PENDING; the
/// scheduler launches it. Nothing is written when anything is wrong.
pub async fn launch_job(edp: &Edp, scope: &Scope, new: NewJob) -> Result<Execution> {
    let prepared = prepare(edp, scope, new).await?;
    let at_once = scheduler::may_launch_at_once(edp, &prepared.resolved.cluster);
    let mut row = prepared.row(scope, None);
    let lease = at_once.then(|| lease::claim_new(edp, &mut row));
    // Inserted without reading it back: what is stored is what was built
    // (times are kept to the microsecond, as both databases keep them).
    edp.db_for(crate::db::Commit::Flushed).insert(job_execution::Entity::insert(row.clone())).await?;
    let row = row.try_into_model()?;
    Ok(match lease {
        Some(lease) => {
            let shown = Execution::from(row.clone());
            scheduler::launch_at_once(edp, Claimed { row, lease });
            shown
        }
        None => {
            edp.jobs().wake();
            row.into()
        }
    })
}

/// `POST /v2/jobs/{id}/rerun`: a new job from the request that made this
/// one, as it was given (secrets included, which is why only the job's own
/// project may re-run it), checked and launched as a new submit.
pub async fn rerun(edp: &Edp, scope: &Scope, id: &str) -> Result<Execution> {
    let row = find(edp, scope, id).await?;
    if !scope.owns(&row.project_id) {
        return Err(Error::Forbidden("only the job's own project can re-run it".into()));
    }
    let submitted = row.extra.get("submitted").cloned().filter(|v| !v.is_null()).ok_or_else(|| {
        Error::InvalidData(format!("job {id} was launched before re-runs were recorded: launch it again instead"))
    })?;
    let new: NewJob = serde_json::from_value(submitted)
        .map_err(|e| Error::Internal(format!("execution {id} has a malformed stored submit: {e}")))?;
    launch_job(edp, scope, new).await
}

/// A launch resolved and accepted by its engine's `validate`, not stored.
pub(crate) struct Prepared {
    id: String,
    new: NewJob,
    resolved: request::Resolved,
    policy: policy::Policy,
}

pub(crate) async fn prepare(edp: &Edp, scope: &Scope, new: NewJob) -> Result<Prepared> {
    new.job_configs.check()?;
    let policy = policy::Policy::from_configs(&new.job_configs.configs, edp.settings().job_defaults)?;
    let id = uuid::Uuid::new_v4().to_string();
    let resolved = request::resolve(edp, scope, &id, &new).await?;
    let client = edp.engines().client(&resolved.engine).ok_or_else(|| Error::Internal("engine vanished".into()))?;
    client.validate(&resolved.request, edp.settings().call_timeout).await.map_err(refused)?;
    Ok(Prepared { id, new, resolved, policy })
}

impl Prepared {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The PENDING row, due for launch now.
    pub(crate) fn row(self, scope: &Scope, flow_id: Option<&str>) -> job_execution::ActiveModel {
        let Prepared { id, new, resolved, policy } = self;
        // What a re-run submits again, as it was given (never shown).
        let submitted = serde_json::to_value(&new).unwrap_or(Value::Null);
        let now = time::now();
        // What the row shows is redacted once, here; the engine gets the
        // request as given, from `extra` (never shown).
        let mut shown_configs = crate::redact::job_configs(resolved.job_configs);
        resolved.secrets.scrub(&mut shown_configs);
        job_execution::ActiveModel {
            id: Set(id),
            project_id: Set(scope.project_id.clone()),
            job_template_id: Set(resolved.template.id.clone()),
            cluster_id: Set(resolved.cluster.id.clone()),
            input_id: Set(new.input_id),
            output_id: Set(new.output_id),
            engine: Set(resolved.engine),
            status: Set(Status::Pending.as_str().into()),
            info: Set(rows::info(Status::Pending, Object::new())),
            engine_job_id: Set(None),
            return_code: Set(None),
            job_configs: Set(shown_configs),
            interface: Set(resolved.shown_interface),
            data_source_urls: Set(resolved.data_source_urls),
            // `masked`: what logs, `info` and dry runs of this job must not show.
            extra: Set(json!({"request": resolved.request, "callback_token": resolved.callback_token,
                "masked": resolved.secrets, "policy": policy, "submitted": submitted})),
            is_public: Set(new.is_public),
            is_protected: Set(new.is_protected),
            start_time: Set(None),
            end_time: Set(None),
            next_action_at: Set(Some(now)),
            attempts: Set(0),
            cancel_deadline: Set(None),
            delete_requested: Set(false),
            flow_id: Set(flow_id.map(str::to_string)),
            lease_owner: Set(None),
            lease_token: Set(None),
            lease_expires_at: Set(None),
            // Set by the claim that launches it, on that node.
            node_id: Set(None),
            host_bound: Set(crate::host::placement(&resolved.cluster) == crate::host::Placement::Host),
            submitted: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }
}

/// One execution. With `refresh`, the engine is asked first (bounded by the
/// refresh timeout; a slow engine leaves the last known state).
pub async fn get(edp: &Edp, scope: &Scope, id: &str, refresh: bool) -> Result<Execution> {
    if !refresh {
        return shown(edp, scope, id).await;
    }
    let row = find(edp, scope, id).await?;
    if refresh
        && !rows::status(&row).is_terminal()
        && rows::status(&row) != Status::ToBeKilled
        && row.engine_job_id.is_some()
    {
        // The poll runs as a step of its own, so that a slow engine's
        // answer is still recorded (and the row's lease given back) after
        // this request stops waiting for it.
        if let Some(claimed) = lease::claim_one(edp, id).await? {
            let task_edp = edp.clone();
            let polled = tokio::spawn(async move {
                let outcome = poll::poll_once(&task_edp, claimed, &task_edp.jobs().scheduler.unchanged).await;
                task_edp.jobs().wake();
                outcome
            });
            match tokio::time::timeout(edp.settings().refresh_timeout, polled).await {
                Ok(Ok(Err(e))) => tracing::warn!(execution = %id, error = %e, "refresh failed"),
                Ok(Err(e)) => tracing::warn!(execution = %id, error = %e, "refresh failed"),
                _ => {}
            }
        }
        return Ok(find(edp, scope, id).await?.into());
    }
    Ok(row.into())
}

pub async fn list(edp: &Edp, scope: &Scope, filter: ExecutionFilter, query: &ListQuery) -> Result<Page<Execution>> {
    let mut select = job_execution::Entity::find()
        .filter(scope.visible(job_execution::Column::ProjectId, job_execution::Column::IsPublic));
    if let Some(status) = &filter.status {
        let wanted: Vec<&str> = status
            .split(',')
            .map(|s| {
                Status::parse(s.trim())
                    .map(Status::as_str)
                    .ok_or_else(|| Error::Validation(format!("unknown status '{s}': use {}", status_names())))
            })
            .collect::<Result<_>>()?;
        select = select.filter(job_execution::Column::Status.is_in(wanted));
    }
    if let Some(flow) = filter.flow_id {
        select = select.filter(job_execution::Column::FlowId.eq(flow));
    }
    if let Some(cluster) = filter.cluster_id {
        select = select.filter(job_execution::Column::ClusterId.eq(cluster));
    }
    if let Some(template) = filter.job_template_id {
        select = select.filter(job_execution::Column::JobTemplateId.eq(template));
    }
    if let Some(engine) = filter.engine {
        select = select.filter(job_execution::Column::Engine.eq(engine));
    }
    if let Some(prefix) = filter.id_prefix {
        // Ids are lower-case UUIDs: anything else matches nothing, and
        // LIKE's wildcards cannot get in.
        let prefix = prefix.to_ascii_lowercase();
        if prefix.is_empty() || prefix.len() > 36 || !prefix.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(Error::Validation(format!(
                "id_prefix '{prefix}' is not the start of a job id (hexadecimal digits and '-')"
            )));
        }
        select = select.filter(job_execution::Column::Id.like(format!("{prefix}%")));
    }
    if let Some(engine_job_id) = filter.engine_job_id {
        select = select.filter(job_execution::Column::EngineJobId.eq(engine_job_id));
    }
    let sort = paging::sort(
        query.sort_by.as_deref(),
        &[
            ("id", job_execution::Column::Id),
            ("job_template", job_execution::Column::JobTemplateId),
            ("cluster", job_execution::Column::ClusterId),
            ("status", job_execution::Column::Status),
            ("created_at", job_execution::Column::CreatedAt),
            ("updated_at", job_execution::Column::UpdatedAt),
        ],
        job_execution::Column::CreatedAt,
    )?;
    let page =
        paging::page_from(&Executions(edp, Extra::Shown), select, job_execution::Column::Id, sort, query).await?;
    Ok(page.map(Into::into))
}

fn status_names() -> String {
    Status::ALL.map(Status::as_str).join(", ")
}

/// Sahara's PATCH: visibility flags, and `info.status` actions. Everything
/// is checked before anything is written: a refused action leaves the flags
/// as they were.
pub async fn update(edp: &Edp, scope: &Scope, id: &str, patch: ExecutionPatch) -> Result<Execution> {
    let row = find(edp, scope, id).await?;
    let action = patch.info.as_ref().map(|info| Action::parse(&info.status)).transpose()?;
    let flags = patch.is_public.is_some() || patch.is_protected.is_some();
    if flags {
        check_update(scope, "job", &row.project_id, row.is_protected, true)?;
    }
    match action {
        Some(Action::Cancel) => cancel::request(edp, scope, row, cancel::Then::Keep).await?,
        Some(action @ (Action::Suspend | Action::Resume)) => poll::suspend_or_resume(edp, scope, row, action).await?,
        None => {}
    }
    if flags {
        let mut changes = rows::blank();
        if let Some(public) = patch.is_public {
            changes.is_public = Set(public);
        }
        if let Some(protected) = patch.is_protected {
            changes.is_protected = Set(protected);
        }
        rows::write(edp, id, changes).await?;
    }
    Ok(find(edp, scope, id).await?.into())
}

/// What `info.status` in a PATCH asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Cancel,
    Suspend,
    Resume,
}

impl Action {
    fn parse(status: &str) -> Result<Self> {
        match status.to_ascii_lowercase().as_str() {
            "cancel" => Ok(Self::Cancel),
            "suspend" => Ok(Self::Suspend),
            "resume" => Ok(Self::Resume),
            other => {
                Err(Error::Validation(format!("info.status '{other}' is not an action: use cancel, suspend or resume")))
            }
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }
}

/// Sahara's DELETE: a finished job goes at once; a running one is cancelled
/// first and removed when the engine confirms.
pub async fn delete(edp: &Edp, scope: &Scope, id: &str) -> Result<()> {
    let row = find(edp, scope, id).await?;
    crate::catalog::check_delete(scope, "job", &row.project_id, row.is_protected)?;
    if rows::status(&row).is_terminal() {
        if rows::elsewhere(edp, &row).is_some() {
            return rows::delete_on_its_node(edp, &row).await;
        }
        // The row goes now; the engine's clean-up may take a while.
        crate::events::deletions::delete_job(edp, &row).await?;
        let edp = edp.clone();
        tokio::spawn(async move { rows::free_engine(&edp, &row).await });
        return Ok(());
    }
    cancel::request(edp, scope, row, cancel::Then::Delete).await
}

/// Whether this node serves the job's host-side data (logs, files):
/// `Error::OnNode` names the node that does.
pub async fn served_here(edp: &Edp, scope: &Scope, id: &str) -> Result<()> {
    let row = find(edp, scope, id).await?;
    rows::here_or_redirect(edp, &row).await
}

pub async fn logs(
    edp: &Edp,
    scope: &Scope,
    id: &str,
    stream: Option<String>,
    offset: u64,
    limit: u64,
) -> Result<LogChunk> {
    let row = find(edp, scope, id).await?;
    rows::here_or_redirect(edp, &row).await?;
    if row.engine_job_id.is_none() {
        return Ok(LogChunk {
            stream: stream.unwrap_or_default(),
            streams: Vec::new(),
            offset,
            next_offset: offset,
            data: String::new(),
            complete: rows::status(&row).is_terminal(),
        });
    }
    let client = edp
        .engines()
        .client(&row.engine)
        .ok_or_else(|| Error::EngineUnavailable(format!("engine '{}' is not loaded", row.engine)))?;
    let request = LogRequest { handle: rows::handle(&row)?, stream, offset, limit };
    let mut chunk = client.fetch_logs(&request, edp.settings().call_timeout).await.map_err(refused)?;
    // Backends log what they were given: Oozie logs the notification URL,
    // callback token and all; a job may print its own password.
    chunk.data = crate::redact::Secrets::of_execution(&row.extra).scrub_str(&chunk.data);
    Ok(chunk)
}

/// The log of one attempt of a job (`?attempt=N`): earlier attempts' logs
/// stay readable after a retry.
pub async fn attempt_logs(
    edp: &Edp,
    scope: &Scope,
    id: &str,
    attempt: u32,
    stream: Option<String>,
    offset: u64,
    limit: u64,
) -> Result<LogChunk> {
    let row = find(edp, scope, id).await?;
    let current = policy::Policy::of(&row).attempt;
    if attempt == current {
        return logs(edp, scope, id, stream, offset, limit).await;
    }
    let past = policy::past_attempts(&row).into_iter().find(|p| p.attempt == attempt).ok_or_else(|| {
        Error::Validation(format!("job {id} has no attempt {attempt}: its attempts are 1 to {current}"))
    })?;
    rows::here_or_redirect(edp, &row).await?;
    if past.engine_job_id.is_none() {
        // That attempt never reached its engine.
        return Ok(LogChunk {
            stream: stream.unwrap_or_default(),
            streams: Vec::new(),
            offset,
            next_offset: offset,
            data: String::new(),
            complete: true,
        });
    }
    let client = edp
        .engines()
        .client(&row.engine)
        .ok_or_else(|| Error::EngineUnavailable(format!("engine '{}' is not loaded", row.engine)))?;
    let request = LogRequest { handle: rows::past_handle(&row, &past)?, stream, offset, limit };
    let mut chunk = client.fetch_logs(&request, edp.settings().call_timeout).await.map_err(refused)?;
    chunk.data = crate::redact::Secrets::of_execution(&row.extra).scrub_str(&chunk.data);
    Ok(chunk)
}

/// An engine's backend says the job changed (Oozie's notification URL).
/// Only the execution's own secret is accepted; the call itself changes
/// nothing but making the job due for a poll now.
pub async fn callback(edp: &Edp, id: &str, token: Option<&str>) -> Result<()> {
    let row = crate::db::by_key(job_execution::Entity::find_by_id(id), edp.db())
        .await?
        .ok_or_else(|| Error::not_found("job", id))?;
    let expected = row.extra.get("callback_token").and_then(Value::as_str);
    match (expected, token) {
        (Some(expected), Some(given)) if constant_time_eq(expected.as_bytes(), given.as_bytes()) => {
            if !rows::status(&row).is_terminal() {
                edp.poke(id);
            }
            Ok(())
        }
        _ => Err(Error::Unauthorized("the callback's token is missing or wrong".into())),
    }
}

/// Compares without stopping at the first difference, so the time taken
/// says nothing about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) async fn find(edp: &Edp, scope: &Scope, id: &str) -> Result<job_execution::Model> {
    find_read(edp, scope, id, Extra::Whole).await
}

/// The execution `id` as it is shown: on SQLite, read without building the
/// parts of `extra` that are never shown.
async fn shown(edp: &Edp, scope: &Scope, id: &str) -> Result<Execution> {
    find_read(edp, scope, id, Extra::Shown).await.map(Into::into)
}

async fn find_read(edp: &Edp, scope: &Scope, id: &str, extra: Extra) -> Result<job_execution::Model> {
    reads::execution(edp, id, scope, extra).await?.ok_or_else(|| Error::not_found("job", id))
}

/// An engine's refusal, as the user sees it.
pub(crate) fn refused(e: CallError) -> Error {
    match &e {
        CallError::Engine { kind, message } if *kind == ErrorKind::INVALID_INPUT => Error::InvalidData(message.clone()),
        CallError::Engine { kind, message } if *kind == ErrorKind::UNSUPPORTED => {
            Error::InvalidReference(message.clone())
        }
        CallError::Engine { kind, message } if *kind == ErrorKind::NOT_FOUND => Error::InvalidData(message.clone()),
        _ => Error::EngineUnavailable(e.to_string()),
    }
}
