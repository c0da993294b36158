//! Who is asking: objects are project-scoped with Sahara's is_public /
//! is_protected rules.

use sea_orm::{ColumnTrait, Condition};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub project_id: String,
}

impl Scope {
    pub fn new(project_id: impl Into<String>) -> Self {
        Self { project_id: project_id.into() }
    }

    /// Rows this project may read: its own and public ones.
    pub fn visible<C: ColumnTrait>(&self, project_col: C, public_col: C) -> Condition {
        Condition::any().add(project_col.eq(self.project_id.clone())).add(public_col.eq(true))
    }

    pub fn owns(&self, project_id: &str) -> bool {
        self.project_id == project_id
    }
}
