//! `Idempotency-Key` on submits (POST /v2/jobs, POST /v2/flows): a client
//! that retries after a lost answer gets the first job, not a second one.
//!
//! A key is a row per (project, kind, key), taken before the object is
//! made: the insert is the claim (the primary key refuses a second), so two
//! requests racing with one key never both create. The first request's
//! body is kept as a digest; the same key with another body is a 409, and
//! so is a key whose first request is still being made. Keys last 24 h
//! (retention removes older ones).

use std::future::Future;
use std::time::Duration;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, SqlErr};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Edp;
use crate::entity::idempotency_key::{self, Column as C};
use crate::error::{Error, Result};
use crate::time;

/// How long a key answers with its first object.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// What a key's requests create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Job,
    Flow,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Flow => "flow",
        }
    }
}

/// What a submit under a key does.
pub enum Outcome<T> {
    /// The object this request made.
    Made(T),
    /// The id of the object an earlier request with this key made.
    Earlier(String),
}

/// Runs `make` once per (project, kind, key, body) within [`WINDOW`].
/// `make` returns the object and its id.
pub async fn once<T, B, F, Fut>(
    edp: &Edp,
    project: &str,
    kind: Kind,
    key: &str,
    body: &B,
    make: F,
) -> Result<Outcome<T>>
where
    B: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(T, String)>>,
{
    check_key(key)?;
    let hash = digest(body)?;
    let now = time::now();
    let expired = now - chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::days(1));
    let this = || {
        idempotency_key::Entity::find()
            .filter(C::ProjectId.eq(project))
            .filter(C::Kind.eq(kind.as_str()))
            .filter(C::Key.eq(key))
    };
    // An expired key is free again.
    idempotency_key::Entity::delete_many()
        .filter(C::ProjectId.eq(project))
        .filter(C::Kind.eq(kind.as_str()))
        .filter(C::Key.eq(key))
        .filter(C::CreatedAt.lt(expired))
        .exec(edp.db())
        .await?;
    let claim = idempotency_key::ActiveModel {
        project_id: Set(project.to_string()),
        kind: Set(kind.as_str().into()),
        key: Set(key.to_string()),
        body_hash: Set(hash.clone()),
        object_id: Set(String::new()),
        created_at: Set(now),
    };
    match claim.insert(edp.db()).await {
        Ok(_) => {}
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let Some(first) = this().one(edp.db()).await? else {
                return Err(Error::Conflict(format!(
                    "Idempotency-Key '{key}' was being used by another request; send it again"
                )));
            };
            if first.body_hash != hash {
                return Err(Error::Conflict(format!(
                    "Idempotency-Key '{key}' was used for a different request within 24 h: use a new key for a \
                     new {}",
                    kind.as_str()
                )));
            }
            if first.object_id.is_empty() {
                return Err(Error::Conflict(format!(
                    "the first request with Idempotency-Key '{key}' is still being answered; send it again in a \
                     moment"
                )));
            }
            return Ok(Outcome::Earlier(first.object_id));
        }
        Err(e) => return Err(e.into()),
    }
    match make().await {
        Ok((made, id)) => {
            idempotency_key::Entity::update_many()
                .col_expr(C::ObjectId, sea_orm::sea_query::Expr::val(id))
                .filter(C::ProjectId.eq(project))
                .filter(C::Kind.eq(kind.as_str()))
                .filter(C::Key.eq(key))
                .exec(edp.db())
                .await?;
            Ok(Outcome::Made(made))
        }
        Err(e) => {
            // Nothing was made: the key is free for the retry.
            idempotency_key::Entity::delete_many()
                .filter(C::ProjectId.eq(project))
                .filter(C::Kind.eq(kind.as_str()))
                .filter(C::Key.eq(key))
                .filter(C::ObjectId.eq(""))
                .exec(edp.db())
                .await?;
            Err(e)
        }
    }
}

/// Removes keys older than the window (retention).
pub async fn purge_expired(edp: &Edp) -> Result<u64> {
    let expired = time::now() - chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::days(1));
    Ok(idempotency_key::Entity::delete_many().filter(C::CreatedAt.lt(expired)).exec(edp.db()).await?.rows_affected)
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Validation(format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters")));
    }
    Ok(())
}

/// The request as parsed, so spacing and key order do not matter.
fn digest(body: &impl Serialize) -> Result<String> {
    let value = serde_json::to_value(body).map_err(|e| Error::Internal(format!("cannot digest a request: {e}")))?;
    let canonical = value.to_string();
    Ok(Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect())
}
