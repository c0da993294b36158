//! The in-memory HDFS behind WebHDFS: directories and files by absolute
//! path, with what `FileStatus` shows (owner, times, permission).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

#[derive(Clone, Debug)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: Kind,
    pub owner: String,
    pub modified: DateTime<Utc>,
    pub file_id: u64,
}

#[derive(Debug)]
pub struct Fs {
    entries: BTreeMap<String, Entry>,
    next_id: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum FsError {
    NotFound(String),
    AlreadyExists(String),
    NotADirectory(String),
    NotEmpty(String),
    Invalid(String),
}

impl Default for Fs {
    fn default() -> Self {
        let mut entries = BTreeMap::new();
        entries.insert(
            "/".to_string(),
            Entry { kind: Kind::Dir, owner: "hdfs".into(), modified: Utc::now(), file_id: 16385 },
        );
        Self { entries, next_id: 16386 }
    }
}

/// `/a//b/` → `/a/b`; refuses relative paths and `..`, as the NameNode does.
pub fn normalize(path: &str) -> Result<String, FsError> {
    if !path.starts_with('/') {
        return Err(FsError::Invalid(format!("Invalid path name Path is not absolute: {path}")));
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.contains(&"..") {
        return Err(FsError::Invalid(format!("Invalid path name Invalid file name: {path}")));
    }
    Ok(format!("/{}", parts.join("/")))
}

fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let cut = path.rfind('/').unwrap_or(0);
    Some(if cut == 0 { "/" } else { &path[..cut] })
}

impl Fs {
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Creates the directory and its missing parents.
    pub fn mkdirs(&mut self, path: &str, owner: &str) -> Result<(), FsError> {
        let mut missing = Vec::new();
        let mut at = Some(path);
        while let Some(p) = at {
            match self.entries.get(p) {
                Some(Entry { kind: Kind::Dir, .. }) => break,
                Some(_) => return Err(FsError::NotADirectory(format!("Parent path is not a directory: {p}"))),
                None => missing.push(p.to_string()),
            }
            at = parent(p);
        }
        for p in missing.into_iter().rev() {
            let file_id = self.id();
            self.entries.insert(p, Entry { kind: Kind::Dir, owner: owner.into(), modified: Utc::now(), file_id });
        }
        Ok(())
    }

    /// Writes a file, creating its parents (WebHDFS' `createparent=true`).
    pub fn create(&mut self, path: &str, owner: &str, bytes: Vec<u8>, overwrite: bool) -> Result<(), FsError> {
        match self.entries.get(path) {
            Some(Entry { kind: Kind::Dir, .. }) => {
                return Err(FsError::AlreadyExists(format!("{path} already exists as a directory")));
            }
            Some(_) if !overwrite => {
                return Err(FsError::AlreadyExists(format!("{path} for client 127.0.0.1 already exists")));
            }
            _ => {}
        }
        if let Some(dir) = parent(path) {
            self.mkdirs(dir, owner)?;
        }
        let file_id = self.id();
        self.entries
            .insert(path.into(), Entry { kind: Kind::File(bytes), owner: owner.into(), modified: Utc::now(), file_id });
        Ok(())
    }

    /// Whether something was deleted, as WebHDFS' `{"boolean": ..}`.
    pub fn delete(&mut self, path: &str, recursive: bool) -> Result<bool, FsError> {
        if path == "/" {
            return Ok(false);
        }
        if !self.entries.contains_key(path) {
            return Ok(false);
        }
        let below: Vec<String> = self.children_deep(path);
        if !below.is_empty() && !recursive {
            return Err(FsError::NotEmpty(format!("`{path} is non empty': Directory is not empty")));
        }
        for p in below {
            self.entries.remove(&p);
        }
        self.entries.remove(path);
        Ok(true)
    }

    /// Direct children: (name, entry).
    pub fn list(&self, path: &str) -> Result<Vec<(String, &Entry)>, FsError> {
        match self.entries.get(path) {
            None => Err(FsError::NotFound(format!("File {path} does not exist."))),
            Some(Entry { kind: Kind::File(_), .. }) => Ok(vec![(String::new(), &self.entries[path])]),
            Some(_) => {
                let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
                Ok(self
                    .entries
                    .range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                    .filter(|(p, _)| !p[prefix.len()..].contains('/') && p.len() > prefix.len())
                    .map(|(p, e)| (p[prefix.len()..].to_string(), e))
                    .collect())
            }
        }
    }

    pub fn children_count(&self, path: &str) -> usize {
        self.list(path).map(|l| l.len()).unwrap_or(0)
    }

    fn children_deep(&self, path: &str) -> Vec<String> {
        let prefix = format!("{path}/");
        self.entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn paths(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkdirs_create_list_delete() {
        let mut fs = Fs::default();
        fs.mkdirs("/user/u/app", "u").unwrap();
        fs.create("/user/u/app/lib/a.jar", "u", b"jar".to_vec(), false).unwrap();
        assert!(matches!(fs.create("/user/u/app/lib/a.jar", "u", vec![], false), Err(FsError::AlreadyExists(_))));
        fs.create("/user/u/app/workflow.xml", "u", b"<x/>".to_vec(), true).unwrap();
        let names: Vec<String> = fs.list("/user/u/app").unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["lib", "workflow.xml"]);
        assert!(matches!(fs.delete("/user/u/app", false), Err(FsError::NotEmpty(_))));
        assert_eq!(fs.delete("/user/u/app", true), Ok(true));
        assert!(fs.get("/user/u/app/lib/a.jar").is_none());
        assert_eq!(fs.delete("/user/u/app", true), Ok(false));
        assert_eq!(normalize("/a//b/./c/").unwrap(), "/a/b/c");
        assert!(normalize("a/b").is_err() && normalize("/a/../b").is_err());
    }
}
