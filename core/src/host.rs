//! The edpd host is the operator's. Two rules keep projects off it:
//!
//! - **Files**: `file://` job binaries and `file` data sources resolve only
//!   under the configured roots ([`FileRoots`]), checked on the canonical
//!   path (symlinks followed) when the object is written and again when a
//!   job is launched (the file may have become a symlink since, the roots
//!   may have changed).
//! - **Host clusters**: a cluster whose engine runs processes on this host
//!   (`Placement::Host`: `local`, spark-submit) serves only the projects
//!   the operator lists for it; registering one is for admins.

use std::path::{Component, Path, PathBuf};

use crate::entity::cluster;
use crate::error::{Error, Result};
use crate::scope::Scope;

pub use edp_engine_api::wire::Placement;

/// Where `file://` paths may point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileRoots {
    /// Anywhere edpd can read: the single-user default (no tokens, loopback).
    Anywhere,
    /// Only at or below one of these canonical directories (none at all when
    /// empty: the default once tokens are configured).
    Under(Vec<PathBuf>),
}

impl FileRoots {
    /// The configured roots, canonicalised (a root that does not exist
    /// allows nothing and is reported, not fatal).
    pub fn under(roots: &[PathBuf]) -> (Self, Vec<String>) {
        let mut canonical = Vec::new();
        let mut problems = Vec::new();
        for root in roots {
            match std::fs::canonicalize(root) {
                Ok(path) => canonical.push(path),
                Err(e) => problems.push(format!("file root {}: {e}", root.display())),
            }
        }
        (Self::Under(canonical), problems)
    }

    /// Refuses a path outside the roots, naming the setting that allows it.
    pub fn check(&self, what: &str, path: &Path) -> Result<()> {
        let Self::Under(roots) = self else { return Ok(()) };
        let resolved = resolve(path);
        if roots.iter().any(|root| resolved.starts_with(root)) {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "{what} {} is outside the directories this edpd serves files from; the operator can allow it with \
             [paths] file_roots",
            path.display()
        )))
    }
}

/// The canonical form of `path`: its longest existing ancestor
/// canonicalised (symlinks followed), the rest appended as written (paths
/// reach here without `..`, see `validate::local_path`). An output
/// directory that does not exist yet is judged by where it would be made.
fn resolve(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(&existing) {
            return rest.iter().rev().fold(canonical, |acc: PathBuf, c: &std::ffi::OsString| acc.join(c));
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            // Nothing of it exists (not even `/`): compare it as written.
            _ => return path.components().filter(|c| *c != Component::CurDir).collect(),
        }
    }
}

/// Whether `scope` may run jobs on `cluster`: remote clusters serve whoever
/// sees them; host clusters only the projects allowed (admins always).
pub fn check_cluster(scope: &Scope, cluster: &cluster::Model) -> Result<()> {
    if placement(cluster) == Placement::Remote || scope.is_admin() {
        return Ok(());
    }
    if allowed_projects(cluster).contains(&scope.project_id) {
        return Ok(());
    }
    let setting = if cluster.declared {
        format!("[clusters.{}] projects", cluster.name)
    } else {
        "an admin registering the cluster for the project".to_string()
    };
    Err(Error::Forbidden(format!(
        "cluster {} runs jobs as processes on edpd's host and is not open to project {}; the operator can allow it \
         with {setting}",
        cluster.name, scope.project_id
    )))
}

pub fn placement(cluster: &cluster::Model) -> Placement {
    if cluster.placement == Placement::Host.as_str() { Placement::Host } else { Placement::Remote }
}

/// The projects a host cluster serves: its list, else its owner.
fn allowed_projects(cluster: &cluster::Model) -> Vec<String> {
    cluster
        .projects
        .as_ref()
        .and_then(|p| serde_json::from_value::<Vec<String>>(p.clone()).ok())
        .unwrap_or_else(|| vec![cluster.project_id.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_follow_symlinks_and_judge_new_paths_by_their_parent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("link")).unwrap();
        let (roots, problems) = FileRoots::under(std::slice::from_ref(&root));
        assert!(problems.is_empty());
        assert!(roots.check("file", &root.join("new/out")).is_ok());
        assert!(roots.check("file", &root.join("link")).is_err(), "a symlink out of the root is outside");
        assert!(roots.check("file", &outside.join("secret")).is_err());
        assert!(roots.check("file", Path::new("/etc/passwd")).is_err());
        assert!(FileRoots::Under(Vec::new()).check("file", &root).is_err(), "no roots: nothing");
        assert!(FileRoots::Anywhere.check("file", Path::new("/etc/passwd")).is_ok());
    }
}
