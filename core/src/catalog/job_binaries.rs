//! Job binaries: the programs and libraries templates run. `internal-db://`
//! (bytes uploaded to edpd as a job binary internal), `file://` (a file on
//! edpd's machine) and `hdfs://`. `extra` (credentials) is never shown.

use std::path::PathBuf;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set};
use serde::Deserialize;
use serde_json::Value;

use crate::Edp;
use crate::catalog::{self, SetCommon, check_delete, check_update, ensure_unique, like, name_conflict};
use crate::entity::{job_binary, job_binary_internal, job_template_binary};
use crate::error::{Error, Result, not_found_as};
use crate::model::{JobBinary, JobBinaryInternal, Page};
use crate::paging::{self, ListQuery};
use crate::scope::Scope;
use crate::{time, validate};

const INTERNAL: &str = "internal-db://";
pub(crate) const NAME_MAX: usize = 80;

#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewJobBinary {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub extra: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub is_protected: bool,
}

#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct JobBinaryPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub description: Option<String>,
    pub extra: Option<serde_json::Map<String, Value>>,
    pub is_public: Option<bool>,
    pub is_protected: Option<bool>,
}

#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct InternalPatch {
    pub name: Option<String>,
    pub is_public: Option<bool>,
    pub is_protected: Option<bool>,
}

/// Where a binary's bytes are.
pub(crate) enum Location {
    Internal(String),
    File(PathBuf),
    Hdfs,
}

pub async fn create(edp: &Edp, scope: &Scope, new: NewJobBinary) -> Result<JobBinary> {
    validate::name("job binary", &new.name, NAME_MAX)?;
    validate::description(&new.description)?;
    check_location(edp, scope, &new.url).await?;
    ensure_unique::<job_binary::Entity>(edp, scope, &new.name, None).await?;
    let now = time::now();
    let row = job_binary::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        project_id: Set(scope.project_id.clone()),
        name: Set(new.name.clone()),
        description: Set(new.description),
        url: Set(new.url),
        extra: Set(new.extra.map(Value::Object)),
        is_public: Set(new.is_public),
        is_protected: Set(new.is_protected),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(edp.db())
    .await
    .map_err(name_conflict("job binary", &new.name))?;
    Ok(row.into())
}

pub async fn get(edp: &Edp, scope: &Scope, id: &str) -> Result<JobBinary> {
    Ok(find(edp, scope, id).await?.into())
}

pub async fn list(edp: &Edp, scope: &Scope, name: Option<String>, query: &ListQuery) -> Result<Page<JobBinary>> {
    let mut select =
        job_binary::Entity::find().filter(scope.visible(job_binary::Column::ProjectId, job_binary::Column::IsPublic));
    if let Some(name) = name {
        select = select.filter(job_binary::Column::Name.like(like(&name)));
    }
    let sort = paging::sort(
        query.sort_by.as_deref(),
        &[
            ("id", job_binary::Column::Id),
            ("name", job_binary::Column::Name),
            ("created_at", job_binary::Column::CreatedAt),
            ("updated_at", job_binary::Column::UpdatedAt),
        ],
        job_binary::Column::CreatedAt,
    )?;
    let page = paging::page(edp.db(), select, job_binary::Column::Id, sort, query).await?;
    Ok(page.map(Into::into))
}

pub async fn update(edp: &Edp, scope: &Scope, id: &str, patch: JobBinaryPatch) -> Result<JobBinary> {
    let row = find(edp, scope, id).await?;
    let only_flags =
        patch.name.is_none() && patch.url.is_none() && patch.description.is_none() && patch.extra.is_none();
    check_update(
        scope,
        "job binary",
        &row.project_id,
        row.is_protected,
        only_flags || patch.is_protected == Some(false),
    )?;
    catalog::check_changes::<job_binary::Entity>(
        edp,
        scope,
        id,
        patch.name.as_deref(),
        patch.description.as_deref(),
        NAME_MAX,
    )
    .await?;
    let mut active: job_binary::ActiveModel = row.clone().into();
    if let Some(url) = &patch.url {
        if row.url.starts_with(INTERNAL) && *url != row.url {
            return Err(Error::UpdateFailed("the URL of an internal job binary cannot change".into()));
        }
        check_location(edp, scope, url).await?;
        active.url = Set(url.clone());
    }
    if let Some(extra) = patch.extra {
        active.extra = Set(Some(Value::Object(extra)));
    }
    active.set_common(patch.name.clone(), patch.description, patch.is_public, patch.is_protected);
    let row =
        active.update(edp.db()).await.map_err(name_conflict("job binary", patch.name.as_deref().unwrap_or("")))?;
    Ok(row.into())
}

pub async fn delete(edp: &Edp, scope: &Scope, id: &str) -> Result<()> {
    let row = find(edp, scope, id).await?;
    check_delete(scope, "job binary", &row.project_id, row.is_protected)?;
    let uses = job_template_binary::Entity::find()
        .filter(job_template_binary::Column::JobBinaryId.eq(id))
        .count(edp.db())
        .await?;
    if uses > 0 {
        return Err(Error::DeletionFailed(format!("job binary {id} is used by {uses} job template(s)")));
    }
    job_binary::Entity::delete_by_id(id).exec(edp.db()).await?;
    Ok(())
}

/// The bytes of an internal binary. `file://` binaries are not served:
/// that would let anyone with API access read any file edpd can.
pub async fn data(edp: &Edp, scope: &Scope, id: &str) -> Result<(String, Vec<u8>)> {
    let row = find(edp, scope, id).await?;
    match location(&row.url)? {
        // A binary carries its owner's bytes: whoever may see the binary
        // may read them (the owner shared it).
        Location::Internal(internal) => {
            let owner = Scope::member(row.project_id.clone());
            let blob = find_blob(edp, &owner, &internal).await?;
            Ok((row.name, blob.data))
        }
        _ => {
            Err(Error::InvalidData(format!("only internal job binaries can be downloaded; {} is {}", row.id, row.url)))
        }
    }
}

pub(crate) async fn find(edp: &Edp, scope: &Scope, id: &str) -> Result<job_binary::Model> {
    catalog::find::<job_binary::Entity>(edp, scope, id).await
}

pub(crate) fn location(url: &str) -> Result<Location> {
    if let Some(id) = url.strip_prefix(INTERNAL) {
        validate::uuid("internal job binary id", id)?;
        return Ok(Location::Internal(id.to_string()));
    }
    if url.starts_with("file://") {
        return Ok(Location::File(validate::local_path(url)?));
    }
    if url.starts_with("hdfs://") {
        validate::hdfs_url(url)?;
        return Ok(Location::Hdfs);
    }
    Err(Error::Validation(format!(
        "job binary URL '{url}' is not supported: use internal-db://<id>, file:///path or hdfs://host/path"
    )))
}

async fn check_location(edp: &Edp, scope: &Scope, url: &str) -> Result<()> {
    match location(url)? {
        Location::Internal(id) => {
            find_internal_meta(edp, scope, &id)
                .await
                .map_err(not_found_as(|| Error::InvalidReference(format!("job binary internal {id} not found"))))?;
        }
        Location::File(path) => {
            edp.settings().file_roots.check("job binary", &path)?;
            if !path.is_file() {
                return Err(Error::InvalidData(format!("{} is not a readable file on edpd's machine", path.display())));
            }
        }
        Location::Hdfs => {}
    }
    Ok(())
}

// --- job binary internals: the uploaded bytes ---------------------------

pub async fn upload(edp: &Edp, scope: &Scope, name: &str, data: Vec<u8>) -> Result<JobBinaryInternal> {
    validate::name("job binary internal", name, NAME_MAX)?;
    if data.len() as u64 > edp.settings().max_binary_size {
        return Err(Error::DataTooBig(format!(
            "{name} is {} bytes; the limit is {}",
            data.len(),
            edp.settings().max_binary_size
        )));
    }
    let now = time::now();
    let row = job_binary_internal::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        project_id: Set(scope.project_id.clone()),
        name: Set(name.to_string()),
        datasize: Set(data.len() as i64),
        data: Set(data),
        is_public: Set(false),
        is_protected: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(edp.db())
    .await?;
    Ok(row.into())
}

pub async fn get_internal(edp: &Edp, scope: &Scope, id: &str) -> Result<JobBinaryInternal> {
    Ok(find_internal_meta(edp, scope, id).await?.into())
}

pub async fn list_internals(
    edp: &Edp,
    scope: &Scope,
    name: Option<String>,
    query: &ListQuery,
) -> Result<Page<JobBinaryInternal>> {
    use job_binary_internal::Column as C;
    let mut select = internal_meta().filter(scope.visible(C::ProjectId, C::IsPublic));
    if let Some(name) = name {
        select = select.filter(C::Name.like(like(&name)));
    }
    let sort = paging::sort(
        query.sort_by.as_deref(),
        &[("id", C::Id), ("name", C::Name), ("created_at", C::CreatedAt), ("updated_at", C::UpdatedAt)],
        C::CreatedAt,
    )?;
    let page = paging::page(edp.db(), select, C::Id, sort, query).await?;
    Ok(page.map(Into::into))
}

/// Sahara v1.1's PATCH of an upload: its name and flags, never its bytes.
pub async fn update_internal(edp: &Edp, scope: &Scope, id: &str, patch: InternalPatch) -> Result<JobBinaryInternal> {
    let row = find_internal_meta(edp, scope, id).await?;
    check_update(
        scope,
        "job binary internal",
        &row.project_id,
        row.is_protected,
        patch.name.is_none() || patch.is_protected == Some(false),
    )?;
    // Only the given columns are written: the row read here has no bytes.
    let mut changes = job_binary_internal::ActiveModel { updated_at: Set(time::now()), ..Default::default() };
    if let Some(name) = patch.name {
        validate::name("job binary internal", &name, NAME_MAX)?;
        changes.name = Set(name);
    }
    if let Some(public) = patch.is_public {
        changes.is_public = Set(public);
    }
    if let Some(protected) = patch.is_protected {
        changes.is_protected = Set(protected);
    }
    job_binary_internal::Entity::update_many()
        .set(changes)
        .filter(job_binary_internal::Column::Id.eq(id))
        .exec(edp.db())
        .await?;
    Ok(find_internal_meta(edp, scope, id).await?.into())
}

pub async fn internal_data(edp: &Edp, scope: &Scope, id: &str) -> Result<(String, Vec<u8>)> {
    let row = find_blob(edp, scope, id).await?;
    Ok((row.name, row.data))
}

/// An internal binary with its bytes, if the scope may see it; 404
/// otherwise. (Not `catalog::find`: its calling-thread reads go through
/// JSON, no way for bytes.)
pub(crate) async fn find_blob(edp: &Edp, scope: &Scope, id: &str) -> Result<job_binary_internal::Model> {
    let select = catalog::visible_by_id::<job_binary_internal::Entity>(scope, id);
    crate::db::by_key(select, edp.db()).await?.ok_or_else(|| Error::not_found("job binary internal", id))
}

/// Deletes uploaded bytes. As in Sahara, a job binary may still point at
/// them (the openstack CLI deletes the bytes first, then the binary), but
/// not one a template runs: that template would break.
pub async fn delete_internal(edp: &Edp, scope: &Scope, id: &str) -> Result<()> {
    let row = find_internal_meta(edp, scope, id).await?;
    check_delete(scope, "job binary internal", &row.project_id, row.is_protected)?;
    let binaries: Vec<String> = job_binary::Entity::find()
        .filter(job_binary::Column::Url.eq(format!("{INTERNAL}{id}")))
        .all(edp.db())
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect();
    let run_by = job_template_binary::Entity::find()
        .filter(job_template_binary::Column::JobBinaryId.is_in(binaries))
        .count(edp.db())
        .await?;
    if run_by > 0 {
        return Err(Error::DeletionFailed(format!(
            "job binary internal {id} is run by {run_by} job template(s) through its job binary: delete them first"
        )));
    }
    job_binary_internal::Entity::delete_by_id(id).exec(edp.db()).await?;
    Ok(())
}

/// Internal rows without their bytes: listing must not read every upload.
fn internal_meta() -> sea_orm::Select<job_binary_internal::Entity> {
    use job_binary_internal::Column as C;
    job_binary_internal::Entity::find()
        .select_only()
        .columns([C::Id, C::ProjectId, C::Name, C::Datasize, C::IsPublic, C::IsProtected, C::CreatedAt, C::UpdatedAt])
        .expr_as(sea_orm::sea_query::Expr::val(Vec::<u8>::new()), "data")
}

pub(crate) async fn find_internal_meta(edp: &Edp, scope: &Scope, id: &str) -> Result<job_binary_internal::Model> {
    crate::reads::by_key(
        edp,
        internal_meta()
            .filter(job_binary_internal::Column::Id.eq(id))
            .filter(scope.visible(job_binary_internal::Column::ProjectId, job_binary_internal::Column::IsPublic)),
    )
    .await?
    .ok_or_else(|| Error::not_found("job binary internal", id))
}
