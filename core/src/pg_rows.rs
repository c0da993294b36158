//! A row of `job_executions` decoded from Postgres by column position,
//! with `extra` whole or only as shown ([`Extra`]), as
//! [`crate::sqlite_reads`] decodes one from SQLite.
//!
//! sea-orm's decoding finds each column by name and builds every JSON
//! column into a `Value`: the whole of `extra` (the request as given, the
//! submit, the engine's own) for a row that is only shown. Under GETs of a
//! job on Postgres that was a sixth of edpd's CPU, two thirds of it
//! `extra` (BENCHMARKS.md, "Reads", fourth round).
//!
//! Invariant: the columns come in `Column::iter()` order, which is the
//! order of the model's fields (`Entity::find()` selects them so). The
//! unit test compares every field with sea-orm's reading.

use sea_orm::DbErr;
use sea_orm::sqlx::Row as _;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::types::Json;
use serde_json::Value;

use crate::entity::job_execution;
use crate::model::ShownExtra;
use crate::reads::Extra;

/// The execution in `row`, with as much of its `extra` as `extra` says.
pub(crate) fn execution(row: &PgRow, extra: Extra) -> Result<job_execution::Model, DbErr> {
    decode(row, extra).map_err(|e| DbErr::Type(format!("a job_executions row: {e}")))
}

/// The id of the execution in `row`, without decoding the rest.
pub(crate) fn id(row: &PgRow) -> Result<&str, DbErr> {
    row.try_get(0).map_err(|e| DbErr::Type(format!("a job_executions row's id: {e}")))
}

fn decode(row: &PgRow, extra: Extra) -> sea_orm::sqlx::Result<job_execution::Model> {
    Ok(job_execution::Model {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        job_template_id: row.try_get(2)?,
        cluster_id: row.try_get(3)?,
        input_id: row.try_get(4)?,
        output_id: row.try_get(5)?,
        engine: row.try_get(6)?,
        status: row.try_get(7)?,
        info: json(row, 8)?,
        engine_job_id: row.try_get(9)?,
        return_code: row.try_get(10)?,
        job_configs: json(row, 11)?,
        interface: json(row, 12)?,
        data_source_urls: json(row, 13)?,
        extra: match extra {
            Extra::Whole => json(row, 14)?,
            Extra::Shown => row.try_get::<Json<ShownExtra>, _>(14)?.0.into_value(),
        },
        is_public: row.try_get(15)?,
        is_protected: row.try_get(16)?,
        start_time: row.try_get(17)?,
        end_time: row.try_get(18)?,
        next_action_at: row.try_get(19)?,
        attempts: row.try_get(20)?,
        cancel_deadline: row.try_get(21)?,
        delete_requested: row.try_get(22)?,
        flow_id: row.try_get(23)?,
        lease_owner: row.try_get(24)?,
        lease_token: row.try_get(25)?,
        lease_expires_at: row.try_get(26)?,
        node_id: row.try_get(27)?,
        host_bound: row.try_get(28)?,
        submitted: row.try_get(29)?,
        created_at: row.try_get(30)?,
        updated_at: row.try_get(31)?,
    })
}

fn json(row: &PgRow, at: usize) -> sea_orm::sqlx::Result<Value> {
    Ok(row.try_get::<Json<Value>, _>(at)?.0)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder, QueryTrait as _};
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
            extra: json!({}),
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
        scratch.remove().await;
    }
}
