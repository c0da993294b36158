//! Deleted jobs and flows, kept a while for the event stream
//! (`edp_core::events`): a deleted row takes its `updated_at` with it, so
//! the stream, which follows `updated_at`, could not tell its subscribers
//! that it went. One row per deletion, found by `deleted_at` the way
//! changes are found by `updated_at`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Deletions::Table)
                .col(string(Deletions::Kind))
                .col(string(Deletions::ObjectId))
                .col(string(Deletions::ProjectId))
                .col(boolean(Deletions::IsPublic))
                .col(timestamp_with_time_zone(Deletions::DeletedAt))
                .primary_key(Index::create().col(Deletions::Kind).col(Deletions::ObjectId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_deletions_deleted_at")
                .table(Deletions::Table)
                .col(Deletions::DeletedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Deletions::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Deletions {
    Table,
    Kind,
    ObjectId,
    ProjectId,
    IsPublic,
    DeletedAt,
}
