//! A queue's depth no longer costs each scheduler pass (BENCHMARKS.md,
//! "A queue's depth"). With 20,000 launches waiting behind a cluster's job
//! limit, each claim walked all of them: the cluster's due rows were found
//! through `(cluster_id, next_action_at)`, every status mixed, then sorted
//! or filtered by status (the cancels, the launches, the polls: ~11 ms
//! each on SQLite), and the count of the slots held walked them through
//! `cluster_id`. Now:
//!
//! - `(cluster_id, status, next_action_at, id)`, of the rows with something
//!   to do: each kind of work of a cluster is one range, read in the order
//!   it is claimed in, so a claim reads the rows it takes;
//! - `(cluster_id, submitted, status)`: the slots a cluster's jobs hold are
//!   counted without reading the launches that wait (not submitted);
//! - `(submitted, status, project_id)`: likewise a project's (its limit
//!   spans clusters). Lists never filter on `submitted`, so their plans
//!   (by `created_at`) stay as they were.
//!
//! They replace `(cluster_id, next_action_at)` (SQLite, which keeps no
//! statistics, preferred it to the new one and walked the queue again) and
//! `(cluster_id)` (a prefix of the second).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DUE_BY_STATUS: &str = "idx_job_executions_due_by_status";
const SLOTS: &str = "idx_job_executions_cluster_slots";
const PROJECT_SLOTS: &str = "idx_job_executions_project_slots";
const DUE_BY_CLUSTER: &str = "idx_job_executions_due_by_cluster";
const CLUSTER: &str = "idx_job_executions_cluster";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // sea-query builds no partial index; this statement reads the same
        // on SQLite and Postgres.
        m.get_connection()
            .execute_unprepared(&format!(
                r#"CREATE INDEX "{DUE_BY_STATUS}" ON "job_executions" ("cluster_id", "status", "next_action_at", "id") WHERE "next_action_at" IS NOT NULL"#
            ))
            .await?;
        m.create_index(
            Index::create()
                .name(SLOTS)
                .table(JobExecutions::Table)
                .col(JobExecutions::ClusterId)
                .col(JobExecutions::Submitted)
                .col(JobExecutions::Status)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(PROJECT_SLOTS)
                .table(JobExecutions::Table)
                .col(JobExecutions::Submitted)
                .col(JobExecutions::Status)
                .col(JobExecutions::ProjectId)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name(DUE_BY_CLUSTER).table(JobExecutions::Table).to_owned()).await?;
        m.drop_index(Index::drop().name(CLUSTER).table(JobExecutions::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(&format!(
                r#"CREATE INDEX "{DUE_BY_CLUSTER}" ON "job_executions" ("cluster_id", "next_action_at") WHERE "next_action_at" IS NOT NULL"#
            ))
            .await?;
        m.create_index(
            Index::create().name(CLUSTER).table(JobExecutions::Table).col(JobExecutions::ClusterId).to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name(PROJECT_SLOTS).table(JobExecutions::Table).to_owned()).await?;
        m.drop_index(Index::drop().name(SLOTS).table(JobExecutions::Table).to_owned()).await?;
        m.drop_index(Index::drop().name(DUE_BY_STATUS).table(JobExecutions::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum JobExecutions {
    Table,
    ClusterId,
    ProjectId,
    Submitted,
    Status,
}
