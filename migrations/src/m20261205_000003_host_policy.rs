//! Clusters whose jobs run as processes on edpd's host are the operator's:
//! each records where its jobs run (`placement`) and, when on the host, the
//! projects allowed to use it (`projects`, a JSON list; null: its owner's).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter().table(Clusters::Table).add_column(string(Clusters::Placement).default("remote")).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Clusters::Table).add_column(json_binary_null(Clusters::Projects)).to_owned(),
        )
        .await?;
        // Clusters registered before this knew no placement: the engines
        // shipped then that run host processes are `local` and `spark`
        // (spark-submit). Their next check records the exact placement.
        m.exec_stmt(
            Query::update()
                .table(Clusters::Table)
                .value(Clusters::Placement, "host")
                .and_where(Expr::col(Clusters::PluginName).is_in(["local", "spark"]))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Clusters::Table).drop_column(Clusters::Projects).to_owned()).await?;
        m.alter_table(Table::alter().table(Clusters::Table).drop_column(Clusters::Placement).to_owned()).await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    PluginName,
    Placement,
    Projects,
}
