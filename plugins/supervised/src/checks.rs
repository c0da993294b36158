//! Checks of the values that end up in paths, argv and environments, each
//! with the message a user needs to fix it. Engines run them while
//! planning, so that a refused request writes nothing.

use edp_engine_api::plugin::{Error, Result};

use crate::layout;

/// Execution ids name directories, so only what a UUID is made of passes.
pub fn execution_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Error::invalid_input(format!(
            "execution id `{id}` is not usable as a directory name (only letters, digits and `-`)"
        )));
    }
    Ok(())
}

/// The name of a file staged in the job directory. The host already checks
/// binary names; this keeps a bad one from escaping the job directory or
/// overwriting the engine's files anyway.
pub fn binary_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::invalid_input(format!("job binary name `{name}` is not a plain file name")));
    }
    if layout::RESERVED.contains(&name) {
        return Err(Error::invalid_input(format!(
            "job binary name `{name}` is reserved for the engine's own files in the job directory"
        )));
    }
    Ok(())
}

/// An environment variable's name; `what` says where it came from.
pub fn env_name(name: &str, what: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(Error::invalid_input(format!(
            "{what}: `{name}` is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
        )));
    }
    Ok(())
}

/// Environment values and arguments cannot hold NUL: exec would refuse.
pub fn no_nul(value: &str, what: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid_input(format!("{what} contains a NUL character")));
    }
    Ok(())
}
