//! A row of `job_executions` decoded by column position, whichever driver
//! read it: [`crate::sqlite_reads`]' rusqlite rows and [`crate::pg_rows`]'
//! sqlx rows, each a [`Columns`].
//!
//! Invariant: the columns come in `Column::iter()` order, which is the
//! order of the model's fields (`Entity::find()` selects them so). Each
//! driver's unit test compares every field with sea-orm's reading. A row
//! of another number of columns is refused, not decoded: a statement that
//! selects something else must not yield a job whose fields happen to
//! decode.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::Iterable;
use serde_json::Value;

use crate::entity::job_execution;
use crate::reads::Extra;

/// A driver's row, read by column position as that driver's sea-orm
/// backend would read each type.
pub(crate) trait Columns {
    type Error;
    /// How many columns the row has.
    fn count(&self) -> usize;
    /// The error for a row that is not a job's, saying why.
    fn not_a_job_row(why: String) -> Self::Error;
    fn text(&self, at: usize) -> Result<String, Self::Error>;
    fn text_or_null(&self, at: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, at: usize) -> Result<i32, Self::Error>;
    fn int_or_null(&self, at: usize) -> Result<Option<i32>, Self::Error>;
    fn flag(&self, at: usize) -> Result<bool, Self::Error>;
    fn json(&self, at: usize) -> Result<Value, Self::Error>;
    /// Only the keys of `extra` that showing a row reads
    /// ([`crate::model::ShownExtra`]), the rest skipped unbuilt.
    fn shown_extra(&self, at: usize) -> Result<Value, Self::Error>;
    fn time(&self, at: usize) -> Result<DateTime<Utc>, Self::Error>;
    fn time_or_null(&self, at: usize) -> Result<Option<DateTime<Utc>>, Self::Error>;
}

/// How many columns a row of `job_executions` has.
pub(crate) static COLUMN_COUNT: LazyLock<usize> = LazyLock::new(|| job_execution::Column::iter().count());

/// The execution in `row`, with as much of its `extra` as `extra` says.
pub(crate) fn execution<R: Columns>(row: &R, extra: Extra) -> Result<job_execution::Model, R::Error> {
    if row.count() != *COLUMN_COUNT {
        return Err(R::not_a_job_row(format!("{} columns, not a job's {}", row.count(), *COLUMN_COUNT)));
    }
    Ok(job_execution::Model {
        id: row.text(0)?,
        project_id: row.text(1)?,
        job_template_id: row.text(2)?,
        cluster_id: row.text(3)?,
        input_id: row.text_or_null(4)?,
        output_id: row.text_or_null(5)?,
        engine: row.text(6)?,
        status: row.text(7)?,
        info: row.json(8)?,
        engine_job_id: row.text_or_null(9)?,
        return_code: row.int_or_null(10)?,
        job_configs: row.json(11)?,
        interface: row.json(12)?,
        data_source_urls: row.json(13)?,
        extra: match extra {
            Extra::Whole => row.json(14)?,
            Extra::Shown => row.shown_extra(14)?,
        },
        is_public: row.flag(15)?,
        is_protected: row.flag(16)?,
        start_time: row.time_or_null(17)?,
        end_time: row.time_or_null(18)?,
        next_action_at: row.time_or_null(19)?,
        attempts: row.int(20)?,
        cancel_deadline: row.time_or_null(21)?,
        delete_requested: row.flag(22)?,
        flow_id: row.text_or_null(23)?,
        lease_owner: row.text_or_null(24)?,
        lease_token: row.text_or_null(25)?,
        lease_expires_at: row.time_or_null(26)?,
        node_id: row.text_or_null(27)?,
        host_bound: row.flag(28)?,
        submitted: row.flag(29)?,
        created_at: row.time(30)?,
        updated_at: row.time(31)?,
    })
}
