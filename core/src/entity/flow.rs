use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub status: String,
    pub use_existing: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub force: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub edges: Json,
    pub cancel_requested: bool,
    pub is_public: bool,
    pub is_protected: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub end_time: Option<DateTimeUtc>,
    /// The node advancing this flow, and until when.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
