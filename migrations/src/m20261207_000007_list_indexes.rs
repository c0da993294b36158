//! Indexes for listing jobs a page at a time (issue 16): the default order
//! is `(created_at, id)`, and a status filter reads in that order too, so a
//! page of 100 is 101 index entries from the marker on, whatever the table
//! holds. `(status, created_at, id)` replaces the index on `status` alone
//! (its prefix serves what that one served).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("idx_job_executions_created")
                .table(JobExecutions::Table)
                .col(JobExecutions::CreatedAt)
                .col(JobExecutions::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_job_executions_status_created")
                .table(JobExecutions::Table)
                .col(JobExecutions::Status)
                .col(JobExecutions::CreatedAt)
                .col(JobExecutions::Id)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("idx_job_executions_status").table(JobExecutions::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("idx_job_executions_status")
                .table(JobExecutions::Table)
                .col(JobExecutions::Status)
                .to_owned(),
        )
        .await?;
        for name in ["idx_job_executions_status_created", "idx_job_executions_created"] {
            m.drop_index(Index::drop().name(name).table(JobExecutions::Table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum JobExecutions {
    Table,
    Id,
    Status,
    CreatedAt,
}
