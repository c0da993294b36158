//! Data sources: where jobs read and write. `file` (a local path) and
//! `hdfs`; credentials are stored but never shown.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde::Deserialize;
use serde_json::Value;

use crate::Edp;
use crate::catalog::{self, SetCommon, check_delete, check_update, ensure_unique, like, name_conflict};
use crate::entity::{data_source, job_execution};
use crate::error::{Error, Result};
use crate::model::{DataSource, Page};
use crate::paging::{self, ListQuery};
use crate::scope::Scope;
use crate::{time, validate};

pub const TYPES: [&str; 2] = ["file", "hdfs"];

#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewDataSource {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    #[serde(default)]
    pub credentials: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub is_protected: bool,
}

#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct DataSourcePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub url: Option<String>,
    pub credentials: Option<serde_json::Map<String, Value>>,
    pub is_public: Option<bool>,
    pub is_protected: Option<bool>,
}

pub async fn create(edp: &Edp, scope: &Scope, new: NewDataSource) -> Result<DataSource> {
    validate::name("data source", &new.name, 50)?;
    validate::description(&new.description)?;
    check_url(edp, &new.kind, &new.url)?;
    ensure_unique::<data_source::Entity>(edp, scope, &new.name, None).await?;
    let now = time::now();
    let row = data_source::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        project_id: Set(scope.project_id.clone()),
        name: Set(new.name.clone()),
        description: Set(new.description),
        kind: Set(new.kind),
        url: Set(new.url),
        credentials: Set(new.credentials.map(Value::Object)),
        is_public: Set(new.is_public),
        is_protected: Set(new.is_protected),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(edp.db())
    .await
    .map_err(name_conflict("data source", &new.name))?;
    Ok(row.into())
}

pub async fn get(edp: &Edp, scope: &Scope, id: &str) -> Result<DataSource> {
    Ok(find(edp, scope, id).await?.into())
}

pub async fn list(
    edp: &Edp,
    scope: &Scope,
    kind: Option<String>,
    name: Option<String>,
    query: &ListQuery,
) -> Result<Page<DataSource>> {
    let mut select = data_source::Entity::find()
        .filter(scope.visible(data_source::Column::ProjectId, data_source::Column::IsPublic));
    if let Some(kind) = kind {
        select = select.filter(data_source::Column::Kind.eq(kind));
    }
    if let Some(name) = name {
        select = select.filter(data_source::Column::Name.like(like(&name)));
    }
    let sort = paging::sort(
        query.sort_by.as_deref(),
        &[
            ("id", data_source::Column::Id),
            ("name", data_source::Column::Name),
            ("type", data_source::Column::Kind),
            ("created_at", data_source::Column::CreatedAt),
            ("updated_at", data_source::Column::UpdatedAt),
        ],
        data_source::Column::CreatedAt,
    )?;
    let page = paging::page(edp.db(), select, data_source::Column::Id, sort, query).await?;
    Ok(page.map(Into::into))
}

pub async fn update(edp: &Edp, scope: &Scope, id: &str, patch: DataSourcePatch) -> Result<DataSource> {
    let row = find(edp, scope, id).await?;
    let only_flags = patch.name.is_none()
        && patch.description.is_none()
        && patch.kind.is_none()
        && patch.url.is_none()
        && patch.credentials.is_none();
    check_update(
        scope,
        "data source",
        &row.project_id,
        row.is_protected,
        only_flags || patch.is_protected == Some(false),
    )?;
    let kind = patch.kind.clone().unwrap_or_else(|| row.kind.clone());
    let url = patch.url.clone().unwrap_or_else(|| row.url.clone());
    check_url(edp, &kind, &url)?;
    catalog::check_changes::<data_source::Entity>(
        edp,
        scope,
        id,
        patch.name.as_deref(),
        patch.description.as_deref(),
        50,
    )
    .await?;
    let mut active: data_source::ActiveModel = row.into();
    active.kind = Set(kind);
    active.url = Set(url);
    if let Some(credentials) = patch.credentials {
        active.credentials = Set(Some(Value::Object(credentials)));
    }
    active.set_common(patch.name.clone(), patch.description.clone(), patch.is_public, patch.is_protected);
    let row =
        active.update(edp.db()).await.map_err(name_conflict("data source", patch.name.as_deref().unwrap_or("")))?;
    Ok(row.into())
}

pub async fn delete(edp: &Edp, scope: &Scope, id: &str) -> Result<()> {
    let row = find(edp, scope, id).await?;
    check_delete(scope, "data source", &row.project_id, row.is_protected)?;
    let uses = job_execution::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(job_execution::Column::InputId.eq(id))
                .add(job_execution::Column::OutputId.eq(id)),
        )
        .count(edp.db())
        .await?;
    if uses > 0 {
        return Err(Error::DeletionFailed(format!("data source {id} is used by {uses} job(s): delete them first")));
    }
    data_source::Entity::delete_by_id(id).exec(edp.db()).await?;
    Ok(())
}

pub(crate) async fn find(edp: &Edp, scope: &Scope, id: &str) -> Result<data_source::Model> {
    catalog::find::<data_source::Entity>(edp, scope, id).await
}

pub(crate) fn check_url(edp: &Edp, kind: &str, url: &str) -> Result<()> {
    if url.is_empty() || url.len() > 1024 {
        return Err(Error::Validation("url must be 1 to 1024 characters".into()));
    }
    match kind {
        "file" => edp.settings().file_roots.check("data source", &validate::local_path(url)?),
        "hdfs" => validate::hdfs_url(url),
        other => Err(Error::Validation(format!(
            "data source type '{other}' is not supported (supported: {})",
            TYPES.join(", ")
        ))),
    }
}
