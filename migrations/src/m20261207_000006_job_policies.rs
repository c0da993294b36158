//! Job policies: a cluster's `max_concurrent_jobs`, and the
//! `Idempotency-Key`s of submits (a key answers its first job or flow for
//! 24 h). Launched rows from before are marked `submitted`, since that is
//! what a cluster's running jobs are counted by.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Clusters::Table).add_column(integer_null(Clusters::MaxConcurrentJobs)).to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::update()
                .table(JobExecutions::Table)
                .value(JobExecutions::Submitted, true)
                .and_where(Expr::col(JobExecutions::EngineJobId).is_not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(IdempotencyKeys::Table)
                .col(string(IdempotencyKeys::ProjectId))
                .col(string(IdempotencyKeys::Kind))
                .col(string(IdempotencyKeys::Key))
                .col(string(IdempotencyKeys::BodyHash))
                .col(string(IdempotencyKeys::ObjectId))
                .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(IdempotencyKeys::ProjectId)
                        .col(IdempotencyKeys::Kind)
                        .col(IdempotencyKeys::Key),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_idempotency_keys_created")
                .table(IdempotencyKeys::Table)
                .col(IdempotencyKeys::CreatedAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Clusters::Table).drop_column(Clusters::MaxConcurrentJobs).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    MaxConcurrentJobs,
}

#[derive(DeriveIden)]
enum JobExecutions {
    Table,
    EngineJobId,
    Submitted,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    ProjectId,
    Kind,
    Key,
    BodyHash,
    ObjectId,
    CreatedAt,
}
