//! Job templates (Sahara v1's "jobs"): a job type, its main binaries and
//! libraries, and an optional interface. Launching one makes an execution.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    Set, TransactionTrait,
};
use serde::Deserialize;
use serde_json::Value;

use crate::Edp;
use crate::catalog::{self, SetCommon, check_delete, check_update, ensure_unique, like, name_conflict};
use crate::entity::{job_binary, job_execution, job_template, job_template_binary};
use crate::error::{Error, Result, not_found_as};
use crate::job_types::{self, Binaries};
use crate::model::{JobBinary, JobTemplate, Page};
use crate::paging::{self, ListQuery};
use crate::scope::Scope;
use crate::{interface, time, validate};

pub const MAIN: &str = "main";
pub const LIB: &str = "lib";

#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewJobTemplate {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub mains: Vec<String>,
    #[serde(default)]
    pub libs: Vec<String>,
    #[serde(default)]
    pub interface: Vec<Value>,
    /// Accepted for Sahara compatibility; the type says it all.
    #[serde(default)]
    pub streaming: Option<bool>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub is_protected: bool,
}

#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct JobTemplatePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
    pub is_protected: Option<bool>,
}

pub async fn create(edp: &Edp, scope: &Scope, new: NewJobTemplate) -> Result<JobTemplate> {
    validate::name("job template", &new.name, 50)?;
    validate::description(&new.description)?;
    if !job_types::known(&new.kind) && !edp.engines().loaded().any(|e| e.description.job_types.contains(&new.kind)) {
        return Err(Error::Validation(format!("job type '{}' is unknown: see GET /v2/job-types", new.kind)));
    }
    if let Some((mains, libs)) = job_types::binaries(&new.kind) {
        count_rule(&new.kind, "mains", mains, new.mains.len())?;
        count_rule(&new.kind, "libs", libs, new.libs.len())?;
    }
    for id in new.mains.iter().chain(&new.libs) {
        catalog::find::<job_binary::Entity>(edp, scope, id)
            .await
            .map_err(not_found_as(|| Error::InvalidReference(format!("job binary {id} not found"))))?;
    }
    let interface = interface::check(&new.kind, new.interface)?;
    ensure_unique::<job_template::Entity>(edp, scope, &new.name, None).await?;

    let now = time::now();
    let id = uuid::Uuid::new_v4().to_string();
    let txn = edp.db().begin().await?;
    let row = job_template::ActiveModel {
        id: Set(id.clone()),
        project_id: Set(scope.project_id.clone()),
        name: Set(new.name.clone()),
        description: Set(new.description),
        kind: Set(new.kind),
        interface: Set(interface),
        is_public: Set(new.is_public),
        is_protected: Set(new.is_protected),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(name_conflict("job template", &new.name))?;
    let links = new
        .mains
        .iter()
        .enumerate()
        .map(|(i, b)| (MAIN, i, b))
        .chain(new.libs.iter().enumerate().map(|(i, b)| (LIB, i, b)))
        .map(|(role, position, binary)| job_template_binary::ActiveModel {
            job_template_id: Set(id.clone()),
            role: Set(role.to_string()),
            position: Set(position as i32),
            job_binary_id: Set(binary.clone()),
        })
        .collect::<Vec<_>>();
    if !links.is_empty() {
        job_template_binary::Entity::insert_many(links).exec(&txn).await?;
    }
    txn.commit().await?;
    Ok(views(edp, vec![row]).await?.remove(0))
}

pub async fn get(edp: &Edp, scope: &Scope, id: &str) -> Result<JobTemplate> {
    let row = find(edp, scope, id).await?;
    Ok(views(edp, vec![row]).await?.remove(0))
}

pub async fn list(
    edp: &Edp,
    scope: &Scope,
    kind: Option<String>,
    name: Option<String>,
    query: &ListQuery,
) -> Result<Page<JobTemplate>> {
    let mut select = job_template::Entity::find()
        .filter(scope.visible(job_template::Column::ProjectId, job_template::Column::IsPublic));
    if let Some(kind) = kind {
        select = select.filter(job_template::Column::Kind.eq(kind));
    }
    if let Some(name) = name {
        select = select.filter(job_template::Column::Name.like(like(&name)));
    }
    let sort = paging::sort(
        query.sort_by.as_deref(),
        &[
            ("id", job_template::Column::Id),
            ("name", job_template::Column::Name),
            ("type", job_template::Column::Kind),
            ("created_at", job_template::Column::CreatedAt),
            ("updated_at", job_template::Column::UpdatedAt),
        ],
        job_template::Column::CreatedAt,
    )?;
    let page = paging::page(edp.db(), select, job_template::Column::Id, sort, query).await?;
    Ok(Page { items: views(edp, page.items).await?, prev: page.prev, next: page.next, paged: page.paged })
}

pub async fn update(edp: &Edp, scope: &Scope, id: &str, patch: JobTemplatePatch) -> Result<JobTemplate> {
    let row = find(edp, scope, id).await?;
    let only_flags = patch.name.is_none() && patch.description.is_none();
    check_update(
        scope,
        "job template",
        &row.project_id,
        row.is_protected,
        only_flags || patch.is_protected == Some(false),
    )?;
    catalog::check_changes::<job_template::Entity>(
        edp,
        scope,
        id,
        patch.name.as_deref(),
        patch.description.as_deref(),
        50,
    )
    .await?;
    let mut active: job_template::ActiveModel = row.into();
    active.set_common(patch.name.clone(), patch.description, patch.is_public, patch.is_protected);
    let row =
        active.update(edp.db()).await.map_err(name_conflict("job template", patch.name.as_deref().unwrap_or("")))?;
    Ok(views(edp, vec![row]).await?.remove(0))
}

pub async fn delete(edp: &Edp, scope: &Scope, id: &str) -> Result<()> {
    let row = find(edp, scope, id).await?;
    check_delete(scope, "job template", &row.project_id, row.is_protected)?;
    let uses =
        job_execution::Entity::find().filter(job_execution::Column::JobTemplateId.eq(id)).count(edp.db()).await?;
    if uses > 0 {
        return Err(Error::DeletionFailed(format!("job template {id} has {uses} job(s): delete them first")));
    }
    job_template::Entity::delete_by_id(id).exec(edp.db()).await?;
    Ok(())
}

/// Sahara's `config-hints/{type}`: what configs, params and args a type
/// takes. Engines give no hints yet, so the lists are empty.
pub fn config_hints(edp: &Edp, job_type: &str) -> Result<Value> {
    if !job_types::known(job_type)
        && !edp.engines().loaded().any(|e| e.description.job_types.iter().any(|t| t == job_type))
    {
        return Err(Error::not_found("job type", job_type));
    }
    Ok(serde_json::json!({"job_config": {"configs": [], "args": [], "params": {}}}))
}

pub(crate) async fn find(edp: &Edp, scope: &Scope, id: &str) -> Result<job_template::Model> {
    catalog::find::<job_template::Entity>(edp, scope, id).await
}

/// A template's binary, with the role it has there.
#[derive(Deserialize, sea_orm::FromQueryResult, Debug, PartialEq)]
pub(crate) struct Linked {
    #[serde(flatten)]
    #[sea_orm(nested)]
    pub binary: job_binary::Model,
    pub link_role: String,
}

/// A template's binaries as [`Linked`] rows, in their order.
pub(crate) fn linked(template_id: &str) -> Select<job_binary::Entity> {
    let links = job_template_binary::Entity::belongs_to(job_binary::Entity)
        .from(job_template_binary::Column::JobBinaryId)
        .to(job_binary::Column::Id);
    job_binary::Entity::find()
        .join_rev(JoinType::InnerJoin, links.into())
        .column_as(job_template_binary::Column::Role, "link_role")
        .filter(job_template_binary::Column::JobTemplateId.eq(template_id))
        .order_by_asc(job_template_binary::Column::Position)
}

/// A template's mains and libs, in order, as rows: one statement (a
/// launch's lookups are its latency on Postgres, a round trip each).
pub(crate) async fn binaries(edp: &Edp, template_id: &str) -> Result<(Vec<job_binary::Model>, Vec<job_binary::Model>)> {
    let linked: Vec<Linked> = crate::reads::all_as(edp, linked(template_id)).await?;
    let pick = |role: &str| linked.iter().filter(|l| l.link_role == role).map(|l| l.binary.clone()).collect();
    Ok((pick(MAIN), pick(LIB)))
}

/// Templates with their binaries, in two queries whatever the count.
async fn views(edp: &Edp, rows: Vec<job_template::Model>) -> Result<Vec<JobTemplate>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let links = job_template_binary::Entity::find()
        .filter(job_template_binary::Column::JobTemplateId.is_in(ids))
        .order_by_asc(job_template_binary::Column::Position)
        .all(edp.db())
        .await?;
    let binary_ids: Vec<String> = links.iter().map(|l| l.job_binary_id.clone()).collect();
    let binaries: HashMap<String, JobBinary> = job_binary::Entity::find()
        .filter(job_binary::Column::Id.is_in(binary_ids))
        .all(edp.db())
        .await?
        .into_iter()
        .map(|b| (b.id.clone(), JobBinary::from(b)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let pick = |role: &str| {
                links
                    .iter()
                    .filter(|l| l.job_template_id == row.id && l.role == role)
                    .filter_map(|l| binaries.get(&l.job_binary_id).cloned())
                    .collect()
            };
            let (mains, libs) = (pick(MAIN), pick(LIB));
            JobTemplate::from_row(row, mains, libs)
        })
        .collect())
}

pub(crate) fn count_rule(job_type: &str, what: &str, rule: Binaries, n: usize) -> Result<()> {
    let problem = match rule {
        Binaries::Forbidden if n > 0 => Some(format!("{job_type} jobs take no {what}")),
        Binaries::Required if n == 0 => Some(format!("{job_type} jobs need at least one of {what}")),
        Binaries::ExactlyOne if n != 1 => Some(format!("{job_type} jobs need exactly one of {what}")),
        _ => None,
    };
    problem.map_or(Ok(()), |p| Err(Error::Validation(p)))
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use sea_orm::{ActiveModelTrait, IntoActiveModel};

    use super::*;

    /// A private Shell template of project `p`, with no interface.
    pub(crate) fn shell(id: &str, at: DateTime<Utc>) -> job_template::Model {
        job_template::Model {
            id: id.into(),
            project_id: "p".into(),
            name: id.into(),
            description: String::new(),
            kind: "Shell".into(),
            interface: serde_json::json!([]),
            is_public: false,
            is_protected: false,
            created_at: at,
            updated_at: at,
        }
    }

    /// On Postgres (sea-orm's reading of the nested model), a template's
    /// binaries come in one statement with their roles, in their order, as
    /// `sqlite_reads` reads them on SQLite (whose test compares its reading
    /// with sea-orm's there).
    #[tokio::test]
    async fn a_templates_binaries_and_roles_in_one_statement_on_postgres() {
        let scratch = crate::db::ScratchPg::new().await;
        let db = &scratch.db;

        let at = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        let template = shell("t", at);
        template.into_active_model().reset_all().insert(db).await.expect("template");
        for id in ["b0", "b1"] {
            let binary = job_binary::Model {
                id: id.into(),
                project_id: "p".into(),
                name: format!("{id}.sh"),
                description: String::new(),
                url: "internal-db://x".into(),
                extra: (id == "b0").then(|| serde_json::json!({"user": "u"})),
                is_public: id == "b1",
                is_protected: false,
                created_at: at,
                updated_at: at,
            };
            binary.into_active_model().reset_all().insert(db).await.expect("binary");
        }
        for (role, position, binary) in [(MAIN, 1, "b0"), (LIB, 0, "b1"), (MAIN, 0, "b1")] {
            let link = job_template_binary::Model {
                job_template_id: "t".into(),
                role: role.into(),
                position,
                job_binary_id: binary.into(),
            };
            link.into_active_model().reset_all().insert(db).await.expect("link");
        }

        let read: Vec<Linked> = linked("t").into_model().all(db).await.expect("one statement");
        // The API's reads on Postgres (`crate::pg_direct`) read the same.
        let reads = crate::pg_direct::PgDirect::of(db, crate::pg_direct::Purpose::Reads).expect("Postgres");
        assert_eq!(linked("t").into_model::<Linked>().all(&reads).await.expect("read"), read);
        let role = |role: &str| -> Vec<&str> {
            read.iter().filter(|l| l.link_role == role).map(|l| l.binary.id.as_str()).collect()
        };
        assert_eq!((role(MAIN), role(LIB)), (vec!["b1", "b0"], vec!["b1"]));
        let b0 = read.iter().find(|l| l.binary.id == "b0").expect("b0");
        assert_eq!(
            (b0.binary.extra.clone(), b0.binary.is_public, b0.binary.created_at),
            (Some(serde_json::json!({"user": "u"})), false, at)
        );
        assert!(linked("none").into_model::<Linked>().all(db).await.expect("none").is_empty());
    }
}
