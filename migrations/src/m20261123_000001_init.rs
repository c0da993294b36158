//! The Sahara EDP objects: clusters, data sources, job binaries (and their
//! uploaded bytes), job templates with their binaries, and job executions.
//!
//! Ids are UUID text, so rows read the same on every backend. Execution
//! status is a column (filterable, indexed) rather than only a field of the
//! `info` JSON as in Sahara.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            with_common(Table::create().table(Clusters::Table))
                .col(string(Clusters::Description))
                .col(string(Clusters::PluginName))
                .col(string(Clusters::PluginVersion))
                .col(json_binary(Clusters::ClusterConfigs))
                .col(string(Clusters::Status))
                .col(string_null(Clusters::StatusDescription))
                .col(json_binary(Clusters::Info))
                .col(boolean(Clusters::Declared))
                .to_owned(),
        )
        .await?;
        unique_name(m, "clusters").await?;

        m.create_table(
            with_common(Table::create().table(DataSources::Table))
                .col(string(DataSources::Description))
                .col(string(DataSources::Type))
                .col(string(DataSources::Url))
                .col(json_binary_null(DataSources::Credentials))
                .to_owned(),
        )
        .await?;
        unique_name(m, "data_sources").await?;

        m.create_table(
            with_common(Table::create().table(JobBinaryInternals::Table))
                .col(big_integer(JobBinaryInternals::Datasize))
                .col(blob(JobBinaryInternals::Data))
                .to_owned(),
        )
        .await?;

        m.create_table(
            with_common(Table::create().table(JobBinaries::Table))
                .col(string(JobBinaries::Description))
                .col(string(JobBinaries::Url))
                .col(json_binary_null(JobBinaries::Extra))
                .to_owned(),
        )
        .await?;
        unique_name(m, "job_binaries").await?;

        m.create_table(
            with_common(Table::create().table(JobTemplates::Table))
                .col(string(JobTemplates::Description))
                .col(string(JobTemplates::Type))
                .col(json_binary(JobTemplates::Interface))
                .to_owned(),
        )
        .await?;
        unique_name(m, "job_templates").await?;

        // A template's mains and libs, in order. Restrict: a binary in use
        // cannot be deleted (Sahara's DELETION_FAILED).
        m.create_table(
            Table::create()
                .table(JobTemplateBinaries::Table)
                .col(string_len(JobTemplateBinaries::JobTemplateId, 36))
                .col(string_len(JobTemplateBinaries::Role, 8))
                .col(integer(JobTemplateBinaries::Position))
                .col(string_len(JobTemplateBinaries::JobBinaryId, 36))
                .primary_key(
                    Index::create()
                        .col(JobTemplateBinaries::JobTemplateId)
                        .col(JobTemplateBinaries::Role)
                        .col(JobTemplateBinaries::Position),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(JobTemplateBinaries::Table, JobTemplateBinaries::JobTemplateId)
                        .to(JobTemplates::Table, Common::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(JobTemplateBinaries::Table, JobTemplateBinaries::JobBinaryId)
                        .to(JobBinaries::Table, Common::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_job_template_binaries_binary")
                .table(JobTemplateBinaries::Table)
                .col(JobTemplateBinaries::JobBinaryId)
                .to_owned(),
        )
        .await?;

        // Executions keep their cluster id after the cluster is deleted
        // (Sahara keeps them too), so no foreign key on cluster_id.
        m.create_table(
            Table::create()
                .table(JobExecutions::Table)
                .col(string_len(Common::Id, 36).primary_key())
                .col(string(Common::ProjectId))
                .col(string_len(JobExecutions::JobTemplateId, 36))
                .col(string_len(JobExecutions::ClusterId, 36))
                .col(string_len_null(JobExecutions::InputId, 36))
                .col(string_len_null(JobExecutions::OutputId, 36))
                .col(string(JobExecutions::Engine))
                .col(string(JobExecutions::Status))
                .col(json_binary(JobExecutions::Info))
                .col(string_null(JobExecutions::EngineJobId))
                .col(integer_null(JobExecutions::ReturnCode))
                .col(json_binary(JobExecutions::JobConfigs))
                .col(json_binary(JobExecutions::Interface))
                .col(json_binary(JobExecutions::DataSourceUrls))
                .col(json_binary(JobExecutions::Extra))
                .col(boolean(Common::IsPublic))
                .col(boolean(Common::IsProtected))
                .col(timestamp_with_time_zone_null(JobExecutions::StartTime))
                .col(timestamp_with_time_zone_null(JobExecutions::EndTime))
                .col(timestamp_with_time_zone_null(JobExecutions::NextActionAt))
                .col(integer(JobExecutions::Attempts))
                .col(timestamp_with_time_zone_null(JobExecutions::CancelDeadline))
                .col(boolean(JobExecutions::DeleteRequested))
                .col(timestamp_with_time_zone(Common::CreatedAt))
                .col(timestamp_with_time_zone(Common::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(JobExecutions::Table, JobExecutions::JobTemplateId)
                        .to(JobTemplates::Table, Common::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(JobExecutions::Table, JobExecutions::InputId)
                        .to(DataSources::Table, Common::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(JobExecutions::Table, JobExecutions::OutputId)
                        .to(DataSources::Table, Common::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("idx_job_executions_status", vec![JobExecutions::Status]),
            ("idx_job_executions_next_action", vec![JobExecutions::NextActionAt]),
            ("idx_job_executions_cluster", vec![JobExecutions::ClusterId]),
            ("idx_job_executions_template", vec![JobExecutions::JobTemplateId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(JobExecutions::Table);
            for col in cols {
                index.col(col);
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "job_executions",
            "job_template_binaries",
            "job_templates",
            "job_binaries",
            "job_binary_internals",
            "data_sources",
            "clusters",
        ] {
            m.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}

/// The columns every Sahara object has: id, owner, name, visibility, times.
fn with_common(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(string_len(Common::Id, 36).primary_key())
        .col(string(Common::ProjectId))
        .col(string(Common::Name))
        .col(boolean(Common::IsPublic))
        .col(boolean(Common::IsProtected))
        .col(timestamp_with_time_zone(Common::CreatedAt))
        .col(timestamp_with_time_zone(Common::UpdatedAt))
}

/// Names are unique per project, as in Sahara.
async fn unique_name(m: &SchemaManager<'_>, table: &'static str) -> Result<(), DbErr> {
    m.create_index(
        Index::create()
            .name(format!("uq_{table}_project_name"))
            .table(Alias::new(table))
            .col(Common::ProjectId)
            .col(Common::Name)
            .unique()
            .to_owned(),
    )
    .await
}

#[derive(DeriveIden)]
enum Common {
    Id,
    ProjectId,
    Name,
    IsPublic,
    IsProtected,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    Description,
    PluginName,
    PluginVersion,
    ClusterConfigs,
    Status,
    StatusDescription,
    Info,
    /// Declared in the configuration file rather than through the API.
    Declared,
}

#[derive(DeriveIden)]
enum DataSources {
    Table,
    Description,
    Type,
    Url,
    Credentials,
}

#[derive(DeriveIden)]
enum JobBinaryInternals {
    Table,
    Datasize,
    Data,
}

#[derive(DeriveIden)]
enum JobBinaries {
    Table,
    Description,
    Url,
    Extra,
}

#[derive(DeriveIden)]
enum JobTemplates {
    Table,
    Description,
    Type,
    Interface,
}

#[derive(DeriveIden)]
enum JobTemplateBinaries {
    Table,
    JobTemplateId,
    Role,
    Position,
    JobBinaryId,
}

#[derive(DeriveIden)]
enum JobExecutions {
    Table,
    JobTemplateId,
    ClusterId,
    InputId,
    OutputId,
    /// The engine id the execution was launched on; polls go there even if
    /// the cluster is deleted or re-registered.
    Engine,
    Status,
    Info,
    EngineJobId,
    ReturnCode,
    JobConfigs,
    Interface,
    DataSourceUrls,
    Extra,
    StartTime,
    EndTime,
    /// When the launcher, poller or canceller should look at the row next.
    NextActionAt,
    /// Consecutive failed engine calls, for backoff.
    Attempts,
    CancelDeadline,
    DeleteRequested,
}
