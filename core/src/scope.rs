//! Who is asking: objects are project-scoped with Sahara's is_public /
//! is_protected rules; an admin (an operator's token) sees and may act on
//! every project's objects, though protection still holds for them.

use sea_orm::{ColumnTrait, Condition};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads its project's objects and public ones; changes its own.
    Member,
    /// Reads and changes every project's objects.
    Admin,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The project the request acts for: what it creates belongs here.
    pub project_id: String,
    pub role: Role,
}

impl Scope {
    pub fn member(project_id: impl Into<String>) -> Self {
        Self { project_id: project_id.into(), role: Role::Member }
    }

    pub fn admin(project_id: impl Into<String>) -> Self {
        Self { project_id: project_id.into(), role: Role::Admin }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Rows this scope may read: its project's and public ones (every row,
    /// for an admin).
    pub fn visible<C: ColumnTrait>(&self, project_col: C, public_col: C) -> Condition {
        match self.role {
            Role::Admin => Condition::all(),
            Role::Member => Condition::any().add(project_col.eq(self.project_id.clone())).add(public_col.eq(true)),
        }
    }

    /// Whether this scope may change an object of `project_id`.
    pub fn owns(&self, project_id: &str) -> bool {
        self.role == Role::Admin || self.project_id == project_id
    }

    /// Whether an object of `project_id` with this visibility may be read.
    pub fn sees(&self, project_id: &str, is_public: bool) -> bool {
        is_public || self.owns(project_id)
    }
}
