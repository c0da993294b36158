//! Checks on user-supplied names and URLs, shared by the catalog.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Object names: Sahara's rule (`^[a-zA-Z0-9][a-zA-Z0-9\-_\.]*$`, at most 50
/// characters, 80 for binaries since file names run longer). The rule also
/// makes every name a plain file name: no `/`, no `..`, no leading dot.
pub fn name(kind: &str, name: &str, max: usize) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !first_ok || !rest_ok || name.len() > max {
        return Err(Error::Validation(format!(
            "'{name}' is not a valid {kind} name: use 1 to {max} letters, digits, '-', '_' or '.', starting with a letter or digit"
        )));
    }
    Ok(())
}

pub fn description(text: &str) -> Result<()> {
    if text.len() > 1024 {
        return Err(Error::Validation("description is longer than 1024 characters".into()));
    }
    Ok(())
}

/// A local path from `file:///abs/path` or `/abs/path`: absolute, with no
/// `..` component (so what is checked is what is used).
pub fn local_path(url: &str) -> Result<PathBuf> {
    let raw = match url.strip_prefix("file://") {
        Some(rest) => rest,
        None if url.starts_with('/') => url,
        None => return Err(Error::Validation(format!("'{url}' is not a file URL: use file:///absolute/path"))),
    };
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(Error::Validation(format!("'{url}' is not an absolute path: use file:///absolute/path")));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(Error::Validation(format!("'{url}' must not contain '..'")));
    }
    if raw.contains('\0') {
        return Err(Error::Validation("a path must not contain NUL".into()));
    }
    Ok(path.to_path_buf())
}

/// `hdfs://host[:port]/path` or a bare absolute path on the cluster's HDFS.
pub fn hdfs_url(url: &str) -> Result<()> {
    let path = match url.strip_prefix("hdfs://") {
        Some(rest) => match rest.find('/') {
            Some(0) | None => {
                return Err(Error::Validation(format!("'{url}' is not an HDFS URL: use hdfs://host[:port]/path")));
            }
            Some(i) => &rest[i..],
        },
        None if url.starts_with('/') => url,
        None => {
            return Err(Error::Validation(format!("'{url}' is not an HDFS URL: use hdfs://host[:port]/path or /path")));
        }
    };
    if path.split('/').any(|seg| seg == "..") || url.contains(char::is_whitespace) {
        return Err(Error::Validation(format!("'{url}' is not a valid HDFS path")));
    }
    Ok(())
}

pub fn uuid(what: &str, id: &str) -> Result<()> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| Error::Validation(format!("{what} '{id}' is not a valid UUID")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        assert!(name("job binary", "wordcount.py", 80).is_ok());
        for bad in ["../x", "a/b", ".hidden", "", "a b", "..", "x\0"] {
            assert!(name("job binary", bad, 80).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn local_paths_are_absolute_without_dotdot() {
        assert_eq!(local_path("file:///tmp/in").unwrap(), PathBuf::from("/tmp/in"));
        assert_eq!(local_path("/tmp/in").unwrap(), PathBuf::from("/tmp/in"));
        for bad in ["file://tmp/in", "tmp/in", "file:///tmp/../etc", "hdfs://x/y"] {
            assert!(local_path(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn hdfs_urls() {
        assert!(hdfs_url("hdfs://nn:8020/user/x").is_ok());
        assert!(hdfs_url("/user/x").is_ok());
        for bad in ["hdfs://nn", "hdfs:///x", "s3://b/x", "/a/../b"] {
            assert!(hdfs_url(bad).is_err(), "{bad} accepted");
        }
    }
}
