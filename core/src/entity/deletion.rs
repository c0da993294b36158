use sea_orm::entity::prelude::*;

/// A deleted job or flow, as the event stream tells it
/// (`crate::events::deletions`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "deletions")]
pub struct Model {
    /// `job` or `flow`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub object_id: String,
    pub project_id: String,
    pub is_public: bool,
    pub deleted_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
