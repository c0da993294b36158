use sea_orm::entity::prelude::*;

/// One edpd process sharing the database: who it is, how to reach it, and
/// when it last said it was alive.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// This start of the node (a fresh UUID each time).
    pub instance: String,
    pub public_url: String,
    pub started_at: DateTimeUtc,
    pub last_seen: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
