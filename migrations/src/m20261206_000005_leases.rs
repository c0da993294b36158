//! Several edpd on one database. Work on an execution (or a flow) is claimed
//! with a lease in its row (`lease_owner`, `lease_token`,
//! `lease_expires_at`), taken by a conditional update; jobs that run on an
//! edpd host (`host_bound`) belong to the node that started them
//! (`node_id`); `submitted` says a launch may have reached the engine, so
//! a cancel asks the engine rather than assuming nothing started. `nodes`
//! is where each edpd says it is alive and how to reach it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        let columns = [
            string_null(JobExecutions::LeaseOwner),
            string_null(JobExecutions::LeaseToken),
            timestamp_with_time_zone_null(JobExecutions::LeaseExpiresAt),
            string_null(JobExecutions::NodeId),
            boolean(JobExecutions::HostBound).default(false).to_owned(),
            boolean(JobExecutions::Submitted).default(false).to_owned(),
        ];
        for column in columns {
            m.alter_table(Table::alter().table(JobExecutions::Table).add_column(column).to_owned()).await?;
        }
        // What the scheduler asks each pass: the due rows of one cluster.
        m.create_index(
            Index::create()
                .name("idx_job_executions_cluster_due")
                .table(JobExecutions::Table)
                .col(JobExecutions::ClusterId)
                .col(JobExecutions::NextActionAt)
                .to_owned(),
        )
        .await?;
        // Executions started before: the ones on host clusters are host-bound,
        // and the first node to start adopts them (one node ran them all).
        m.exec_stmt(
            Query::update()
                .table(JobExecutions::Table)
                .value(JobExecutions::HostBound, true)
                .value(JobExecutions::Submitted, true)
                .and_where(
                    Expr::col(JobExecutions::ClusterId).in_subquery(
                        Query::select()
                            .column(Clusters::Id)
                            .from(Clusters::Table)
                            .and_where(Expr::col(Clusters::Placement).eq("host"))
                            .to_owned(),
                    ),
                )
                .to_owned(),
        )
        .await?;

        for column in [string_null(Flows::LeaseOwner), timestamp_with_time_zone_null(Flows::LeaseExpiresAt)] {
            m.alter_table(Table::alter().table(Flows::Table).add_column(column).to_owned()).await?;
        }

        m.create_table(
            Table::create()
                .table(Nodes::Table)
                .col(string(Nodes::Id).primary_key())
                .col(string(Nodes::Instance))
                .col(string(Nodes::PublicUrl))
                .col(timestamp_with_time_zone(Nodes::StartedAt))
                .col(timestamp_with_time_zone(Nodes::LastSeen))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Nodes::Table).to_owned()).await?;
        for column in [Flows::LeaseOwner, Flows::LeaseExpiresAt] {
            m.alter_table(Table::alter().table(Flows::Table).drop_column(column).to_owned()).await?;
        }
        m.drop_index(Index::drop().name("idx_job_executions_cluster_due").table(JobExecutions::Table).to_owned())
            .await?;
        for column in [
            JobExecutions::Submitted,
            JobExecutions::HostBound,
            JobExecutions::NodeId,
            JobExecutions::LeaseExpiresAt,
            JobExecutions::LeaseToken,
            JobExecutions::LeaseOwner,
        ] {
            m.alter_table(Table::alter().table(JobExecutions::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum JobExecutions {
    Table,
    ClusterId,
    NextActionAt,
    LeaseOwner,
    LeaseToken,
    LeaseExpiresAt,
    NodeId,
    HostBound,
    Submitted,
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    Id,
    Placement,
}

#[derive(DeriveIden)]
enum Flows {
    Table,
    LeaseOwner,
    LeaseExpiresAt,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    Instance,
    PublicUrl,
    StartedAt,
    LastSeen,
}
