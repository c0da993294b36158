//! The Sahara objects users register before they launch: clusters, data
//! sources, job binaries (and uploaded bytes), job templates. Plain CRUD
//! with Sahara's rules; executions live in `crate::manager`.

pub mod clusters;
pub mod data_sources;
pub mod job_binaries;
pub mod job_templates;
pub mod job_types;

use sea_orm::{DbErr, SqlErr};

use crate::error::{Error, Result};
use crate::scope::Scope;

/// Sahara's rules for changing an object: only its project may, and a
/// protected object may only be made public or unprotected.
pub(crate) fn check_update(scope: &Scope, what: &str, owner: &str, protected: bool, only_flags: bool) -> Result<()> {
    if !scope.owns(owner) {
        return Err(Error::UpdateFailed(format!("{what} belongs to another project and cannot be updated")));
    }
    if protected && !only_flags {
        return Err(Error::UpdateFailed(format!("{what} is protected: set is_protected to false first")));
    }
    Ok(())
}

pub(crate) fn check_delete(scope: &Scope, what: &str, owner: &str, protected: bool) -> Result<()> {
    if !scope.owns(owner) {
        return Err(Error::DeletionFailed(format!("{what} belongs to another project and cannot be deleted")));
    }
    if protected {
        return Err(Error::DeletionFailed(format!("{what} is protected and cannot be deleted")));
    }
    Ok(())
}

/// A unique-name violation that slipped past the check before the insert
/// (two requests at once) is still a conflict, not a server error.
pub(crate) fn name_conflict(what: &'static str, name: &str) -> impl FnOnce(DbErr) -> Error {
    let name = name.to_string();
    move |e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::NameAlreadyExists { what, name },
        _ => e.into(),
    }
}

/// `?name=` filters are substring matches, as Sahara's regex search mostly
/// is. LIKE's wildcards in the text are escaped, so `dry_run.py` matches
/// itself and not `dry-run.py` (and is still found: names have `_`).
pub(crate) fn like(text: &str) -> sea_orm::sea_query::LikeExpr {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')
}

/// The columns every Sahara object shares, so the rules on them are
/// written once.
pub(crate) trait Owned: sea_orm::EntityTrait {
    const WHAT: &'static str;
    fn id() -> Self::Column;
    fn project() -> Self::Column;
    fn public() -> Self::Column;
    fn name() -> Self::Column;
}

macro_rules! owned {
    ($($entity:ident => $what:literal),* $(,)?) => {$(
        impl Owned for crate::entity::$entity::Entity {
            const WHAT: &'static str = $what;
            fn id() -> Self::Column { crate::entity::$entity::Column::Id }
            fn project() -> Self::Column { crate::entity::$entity::Column::ProjectId }
            fn public() -> Self::Column { crate::entity::$entity::Column::IsPublic }
            fn name() -> Self::Column { crate::entity::$entity::Column::Name }
        }
    )*};
}

owned! {
    cluster => "cluster",
    data_source => "data source",
    job_binary => "job binary",
    job_binary_internal => "job binary internal",
    job_template => "job template",
}

/// The row with this id, if the scope may see it; 404 otherwise. Read
/// through `crate::reads` (on the calling thread on SQLite, by column name:
/// hence `Deserialize`):
/// an internal binary, whose row holds its bytes, has its own
/// `job_binaries::find_blob`.
pub(crate) async fn find<E: Owned>(edp: &crate::Edp, scope: &Scope, id: &str) -> Result<E::Model>
where
    E::Model: serde::de::DeserializeOwned,
{
    crate::reads::by_key(edp, visible_by_id::<E>(scope, id)).await?.ok_or_else(|| Error::not_found(E::WHAT, id))
}

/// The row with this id, if the scope may see it: what [`find`] reads.
pub(crate) fn visible_by_id<E: Owned>(scope: &Scope, id: &str) -> sea_orm::Select<E> {
    use sea_orm::{ColumnTrait, QueryFilter};
    E::find().filter(E::id().eq(id)).filter(scope.visible(E::project(), E::public()))
}

/// Names are unique per project, as in Sahara.
pub(crate) async fn ensure_unique<E: Owned>(
    edp: &crate::Edp,
    scope: &Scope,
    name: &str,
    except: Option<&str>,
) -> Result<()>
where
    E::Model: Sync,
{
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let mut select = E::find().filter(E::project().eq(scope.project_id.clone())).filter(E::name().eq(name));
    if let Some(id) = except {
        select = select.filter(E::id().ne(id));
    }
    if select.count(edp.db()).await? > 0 {
        return Err(Error::NameAlreadyExists { what: E::WHAT, name: name.to_string() });
    }
    Ok(())
}

/// Checks the changes every object's PATCH may make: a valid name, unique
/// in the project, and a description of a sane length.
pub(crate) async fn check_changes<E: Owned>(
    edp: &crate::Edp,
    scope: &Scope,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    name_max: usize,
) -> Result<()>
where
    E::Model: Sync,
{
    if let Some(name) = name {
        crate::validate::name(E::WHAT, name, name_max)?;
        ensure_unique::<E>(edp, scope, name, Some(id)).await?;
    }
    if let Some(description) = description {
        crate::validate::description(description)?;
    }
    Ok(())
}

/// Sets the fields every object shares, when given; always `updated_at`.
pub(crate) trait SetCommon {
    fn set_common(
        &mut self,
        name: Option<String>,
        description: Option<String>,
        public: Option<bool>,
        protected: Option<bool>,
    );
}

macro_rules! set_common {
    ($($entity:ident),*) => {$(
        impl SetCommon for crate::entity::$entity::ActiveModel {
            fn set_common(&mut self, name: Option<String>, description: Option<String>, public: Option<bool>, protected: Option<bool>) {
                use sea_orm::Set;
                if let Some(name) = name { self.name = Set(name); }
                if let Some(description) = description { self.description = Set(description); }
                if let Some(public) = public { self.is_public = Set(public); }
                if let Some(protected) = protected { self.is_protected = Set(protected); }
                self.updated_at = Set(crate::time::now());
            }
        }
    )*};
}

set_common!(cluster, data_source, job_binary, job_template);
