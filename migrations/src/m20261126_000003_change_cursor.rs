//! Indexes for reading what changed since a point in time: the event
//! stream (`GET /v2/events`) reads job executions and flows by
//! `(updated_at, id)` on every pass, so these keep an idle pass to a few
//! index entries however many rows there are.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 2] = [("idx_job_executions_updated", "job_executions"), ("idx_flows_updated", "flows")];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in INDEXES {
            m.create_index(
                Index::create().name(name).table(Alias::new(table)).col(Common::UpdatedAt).col(Common::Id).to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in INDEXES {
            m.drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Common {
    Id,
    UpdatedAt,
}
