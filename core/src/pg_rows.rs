//! A row of `job_executions` read from Postgres, decoded by position
//! ([`crate::execution_row`]) with `extra` whole or only as shown, as
//! [`crate::sqlite_reads`] decodes one from SQLite.
//!
//! sea-orm's decoding finds each column by name and builds every JSON
//! column into a `Value`: the whole of `extra` (the request as given, the
//! submit, the engine's own) for a row that is only shown. Under GETs of a
//! job on Postgres that was a sixth of edpd's CPU, two thirds of it
//! `extra` (BENCHMARKS.md, "Reads", fourth round).

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use sea_orm::sqlx::Row as _;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::types::Json;
use serde_json::Value;

use crate::entity::job_execution;
use crate::execution_row::Columns;
use crate::model::ShownExtra;
use crate::reads::Extra;

/// The execution in `row`, with as much of its `extra` as `extra` says.
pub(crate) fn execution(row: &PgRow, extra: Extra) -> Result<job_execution::Model, DbErr> {
    crate::execution_row::execution(row, extra).map_err(|e| DbErr::Type(format!("a job_executions row: {e}")))
}

/// The id of the execution in `row`, without decoding the rest.
pub(crate) fn id(row: &PgRow) -> Result<&str, DbErr> {
    row.try_get(0).map_err(|e| DbErr::Type(format!("a job_executions row's id: {e}")))
}

/// Each type as sea-orm's Postgres backend reads it (sqlx's decoding).
impl Columns for PgRow {
    type Error = sea_orm::sqlx::Error;
    fn count(&self) -> usize {
        self.len()
    }
    fn not_a_job_row(why: String) -> Self::Error {
        sea_orm::sqlx::Error::Decode(why.into())
    }
    fn text(&self, at: usize) -> Result<String, Self::Error> {
        self.try_get(at)
    }
    fn text_or_null(&self, at: usize) -> Result<Option<String>, Self::Error> {
        self.try_get(at)
    }
    fn int(&self, at: usize) -> Result<i32, Self::Error> {
        self.try_get(at)
    }
    fn int_or_null(&self, at: usize) -> Result<Option<i32>, Self::Error> {
        self.try_get(at)
    }
    fn flag(&self, at: usize) -> Result<bool, Self::Error> {
        self.try_get(at)
    }
    fn json(&self, at: usize) -> Result<Value, Self::Error> {
        Ok(self.try_get::<Json<Value>, _>(at)?.0)
    }
    fn shown_extra(&self, at: usize) -> Result<Value, Self::Error> {
        Ok(ShownExtra::shown(self.try_get::<Json<Option<ShownExtra>>, _>(at)?.0))
    }
    fn time(&self, at: usize) -> Result<DateTime<Utc>, Self::Error> {
        self.try_get(at)
    }
    fn time_or_null(&self, at: usize) -> Result<Option<DateTime<Utc>>, Self::Error> {
        self.try_get(at)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder, QuerySelect, QueryTrait as _};
    use serde_json::json;

    use super::*;
    use crate::db::ScratchPg;
    use crate::model::Execution;
    use crate::pg_direct::{PgDirect, Purpose};

    /// Every field reads as sea-orm reads it (each optional one both
    /// set and not, times with and without fractions), and a row read
    /// only to be shown shows the same.
    #[tokio::test]
    async fn reads_every_field_as_sea_orm_does() {
        let scratch = ScratchPg::new().await;
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        let template = crate::catalog::job_templates::tests::shell("t", at);
        template.into_active_model().reset_all().insert(&scratch.db).await.expect("template");
        let mut set = crate::sqlite_reads::tests::row("a", "p", true, at + Duration::microseconds(123_456));
        set.output_id = None;
        set.end_time = Some(at + Duration::seconds(2));
        set.cancel_deadline = Some(at + Duration::milliseconds(500));
        set.lease_owner = Some("node".into());
        set.lease_expires_at = Some(at + Duration::seconds(30));
        let unset = job_execution::Model {
            id: "b".into(),
            engine_job_id: None,
            return_code: None,
            start_time: None,
            next_action_at: None,
            lease_token: None,
            node_id: None,
            is_public: false,
            host_bound: false,
            submitted: false,
            delete_requested: true,
            // As no row is written, but one could be: shown as the whole.
            extra: json!(null),
            created_at: at,
            ..crate::sqlite_reads::tests::row("b", "q", false, at)
        };
        let unset = job_execution::Model { output_id: None, ..unset };
        for row in [&set, &unset] {
            row.clone().into_active_model().reset_all().insert(&scratch.db).await.expect("execution");
        }
        let select = job_execution::Entity::find().order_by_desc(job_execution::Column::CreatedAt);
        let by_orm = select.clone().all(&scratch.db).await.expect("sea-orm");
        assert_eq!(by_orm, vec![set.clone(), unset.clone()]);

        let direct = PgDirect::of(&scratch.db, Purpose::Reads).expect("Postgres");
        let rows = direct.rows(&select.build(sea_orm::DbBackend::Postgres)).await.expect("rows");
        let view = |row: job_execution::Model| serde_json::to_value(Execution::from(row)).unwrap();
        for (row, expected) in rows.iter().zip(&by_orm) {
            assert_eq!(id(row).unwrap(), expected.id);
            assert_eq!(&execution(row, Extra::Whole).unwrap(), expected);
            let shown = execution(row, Extra::Shown).unwrap();
            assert_eq!(view(shown.clone()), view(expected.clone()));
            assert!(shown.extra.get("request").is_none(), "{}: only what is shown", expected.id);
        }
        assert_eq!(rows.len(), 2);

        // A row of more columns is refused, though its first ones decode.
        let more = select.column_as(sea_orm::sea_query::Expr::val(1), "more");
        let more = direct.rows(&more.build(sea_orm::DbBackend::Postgres)).await.expect("rows");
        let columns = format!("{} columns", *crate::execution_row::COLUMN_COUNT + 1);
        assert!(matches!(execution(&more[0], Extra::Shown), Err(DbErr::Type(e)) if e.contains(&columns)));
    }
}
