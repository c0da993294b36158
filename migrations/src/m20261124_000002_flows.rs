//! Flows: several jobs submitted as one, ordered by the data they share.
//! Each flow job becomes an ordinary execution, which points back at its
//! flow.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Flows::Table)
                .col(string_len(Flows::Id, 36).primary_key())
                .col(string(Flows::ProjectId))
                .col(string(Flows::Name))
                .col(string(Flows::Status))
                .col(boolean(Flows::UseExisting))
                .col(json_binary(Flows::Force))
                .col(json_binary(Flows::Edges))
                .col(boolean(Flows::CancelRequested))
                .col(boolean(Flows::IsPublic))
                .col(boolean(Flows::IsProtected))
                .col(timestamp_with_time_zone(Flows::CreatedAt))
                .col(timestamp_with_time_zone(Flows::UpdatedAt))
                .col(timestamp_with_time_zone_null(Flows::EndTime))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_flows_status").table(Flows::Table).col(Flows::Status).to_owned())
            .await?;

        m.create_table(
            Table::create()
                .table(FlowJobs::Table)
                .col(string_len(FlowJobs::FlowId, 36))
                .col(string(FlowJobs::Key))
                .col(integer(FlowJobs::Position))
                .col(string_len(FlowJobs::JobTemplateId, 36))
                .col(string_len(FlowJobs::ClusterId, 36))
                .col(json_binary(FlowJobs::Inputs))
                .col(json_binary(FlowJobs::Outputs))
                .col(json_binary(FlowJobs::JobConfigs))
                .col(json_binary(FlowJobs::DependsOn))
                .col(string(FlowJobs::State))
                .col(string_null(FlowJobs::Reason))
                .col(string_len_null(FlowJobs::ExecutionId, 36))
                .primary_key(Index::create().col(FlowJobs::FlowId).col(FlowJobs::Key))
                .foreign_key(
                    ForeignKey::create()
                        .from(FlowJobs::Table, FlowJobs::FlowId)
                        .to(Flows::Table, Flows::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.alter_table(
            Table::alter()
                .table(JobExecutions::Table)
                .add_column(string_len_null(JobExecutions::FlowId, 36))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_job_executions_flow")
                .table(JobExecutions::Table)
                .col(JobExecutions::FlowId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("idx_job_executions_flow").table(JobExecutions::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(JobExecutions::Table).drop_column(JobExecutions::FlowId).to_owned()).await?;
        m.drop_table(Table::drop().table(FlowJobs::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Flows::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Flows {
    Table,
    Id,
    ProjectId,
    Name,
    Status,
    UseExisting,
    /// Keys of jobs to run even when their outputs exist.
    Force,
    /// The inferred dependencies, kept as they were at submission.
    Edges,
    CancelRequested,
    IsPublic,
    IsProtected,
    CreatedAt,
    UpdatedAt,
    EndTime,
}

#[derive(DeriveIden)]
enum FlowJobs {
    Table,
    FlowId,
    Key,
    Position,
    JobTemplateId,
    ClusterId,
    /// Data source ids.
    Inputs,
    Outputs,
    JobConfigs,
    /// Keys of the producers this job waits for.
    DependsOn,
    State,
    /// Why the job waited, ran or was skipped.
    Reason,
    ExecutionId,
}

#[derive(DeriveIden)]
enum JobExecutions {
    Table,
    FlowId,
}
