//! The errors the service's operations end in. Each variant is one of
//! Sahara's error names; the server maps them to HTTP statuses.

use sea_orm::{DbErr, RuntimeErr};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An object named in the path does not exist or is not visible.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The request body or query is malformed.
    #[error("{0}")]
    Validation(String),
    /// The request names an object that does not exist, or one that cannot
    /// serve (an unknown cluster, a job type its engine lacks).
    #[error("{0}")]
    InvalidReference(String),
    /// Well-formed but unacceptable data (an engine refused the job).
    #[error("{0}")]
    InvalidData(String),
    #[error("{what} with name '{name}' already exists")]
    NameAlreadyExists { what: &'static str, name: String },
    #[error("{0}")]
    DeletionFailed(String),
    #[error("{0}")]
    UpdateFailed(String),
    #[error("{0}")]
    CancelingFailed(String),
    /// A credential was missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may not do this: the operator's policy (file roots, host
    /// clusters, admin-only actions) or another project's URL.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    DataTooBig(String),
    /// The engine could not be reached or did not answer in time.
    #[error("{0}")]
    EngineUnavailable(String),
    /// What was asked is on another edpd's host: a host-bound job's logs
    /// and files are where it runs. `url` is that node's, when it is alive.
    #[error("job {job} runs on node {node}{}", url.as_ref().map_or_else(|| ", which is not reachable now".to_string(), |u| format!(", at {u}")))]
    OnNode { job: String, node: String, url: Option<String> },
    /// The request conflicts with an earlier one (an `Idempotency-Key`
    /// reused with another body).
    #[error("{0}")]
    Conflict(String),
    /// A statement failed (built from a `DbErr` that is not the database
    /// being unreachable).
    #[error("database error: {0}")]
    Database(DbErr),
    /// The database did not answer: it refused or dropped the connection,
    /// shut down, or no connection was free in time. The same request may
    /// succeed when tried again.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(DbErr),
    #[error("{0}")]
    Internal(String),
}

impl From<DbErr> for Error {
    fn from(e: DbErr) -> Self {
        if unreachable(&e) { Self::DatabaseUnavailable(e) } else { Self::Database(e) }
    }
}

/// Whether `e` is the database not answering rather than refusing a
/// statement.
fn unreachable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            connection_lost(e) || matches!(&**e, Sqlx::PoolTimedOut | Sqlx::PoolClosed)
        }
        _ => false,
    }
}

/// Whether a statement failed because its connection is gone (closed,
/// reset, ended by the server) rather than because of the statement.
pub(crate) fn connection_lost(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        Sqlx::Io(_) | Sqlx::WorkerCrashed => true,
        // Postgres's SQLSTATE classes 08 (connection exception) and 57P
        // (the server shutting down, restarting, or ending this
        // backend); SQLite's codes are numbers.
        Sqlx::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

impl Error {
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { what, id: id.into() }
    }

    /// Sahara's `error_name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::InvalidReference(_) => "INVALID_REFERENCE",
            Self::InvalidData(_) => "INVALID_DATA",
            Self::NameAlreadyExists { .. } => "NAME_ALREADY_EXISTS",
            Self::DeletionFailed(_) => "DELETION_FAILED",
            Self::UpdateFailed(_) => "UPDATE_FAILED",
            Self::CancelingFailed(_) => "CANCELING_FAILED",
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::DataTooBig(_) => "DATA_TOO_BIG",
            Self::EngineUnavailable(_) => "ENGINE_UNAVAILABLE",
            Self::OnNode { .. } => "ON_ANOTHER_NODE",
            Self::Conflict(_) => "CONFLICT",
            Self::DatabaseUnavailable(_) => "DATABASE_UNAVAILABLE",
            Self::Database(_) | Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A lookup's `NotFound` as the error the caller should see (a reference in
/// a body is an `INVALID_REFERENCE`, not a 404); any other error (the
/// database failing) stays what it is and is never reported as missing.
pub(crate) fn not_found_as(other: impl FnOnce() -> Error) -> impl FnOnce(Error) -> Error {
    move |e| match e {
        Error::NotFound { .. } => other(),
        e => e,
    }
}
