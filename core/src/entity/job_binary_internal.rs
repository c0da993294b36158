use sea_orm::entity::prelude::*;

/// `Deserialize` is for reads of the metadata on the calling thread
/// (`job_binaries::find_internal_meta`, `data` empty); the bytes are read
/// through sea-orm (`job_binaries::find_blob`), never through JSON.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "job_binary_internals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub datasize: i64,
    pub data: Vec<u8>,
    pub is_public: bool,
    pub is_protected: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
