use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "job_template_binaries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_template_id: String,
    /// `main` or `lib`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    pub job_binary_id: String,
}

impl ActiveModelBehavior for ActiveModel {}
