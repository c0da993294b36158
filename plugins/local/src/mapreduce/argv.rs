//! Streaming commands as argv: split like a POSIX shell splits words
//! (single quotes literal, double quotes with `\` escapes, `\` outside
//! quotes), with no expansion, no pipes, no redirections: nothing runs a
//! shell. `awk '{print $1 "\t" 1}'` is two words. Hadoop streaming splits
//! on spaces and honours quotes too; unlike it, adjacent quoted and
//! unquoted parts join into one word, as in a shell.

/// The words of `command`, or why it cannot be split.
pub fn split(command: &str) -> Result<Vec<String>, String> {
    if command.contains('\0') {
        return Err("contains a NUL character".into());
    }
    let words = shlex::split(command).ok_or_else(|| "has an unterminated quote or a trailing backslash".to_owned())?;
    if words.is_empty() {
        return Err("is empty".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn quotes_are_respected_and_nothing_is_expanded() {
        assert_eq!(split("awk '{print $1 \"\\t\" 1}'").unwrap(), ["awk", "{print $1 \"\\t\" 1}"]);
        assert_eq!(split("  cut -f1\t-d ' ' ").unwrap(), ["cut", "-f1", "-d", " "]);
        assert_eq!(split("python3 \"my reducer.py\" $HOME *").unwrap(), ["python3", "my reducer.py", "$HOME", "*"]);
        assert_eq!(split("a'b'\"c\"").unwrap(), ["abc"]);
        assert_eq!(split("echo \"a\\\"b\"").unwrap(), ["echo", "a\"b"]);
        assert_eq!(split("cat | sort").unwrap(), ["cat", "|", "sort"]);
        assert!(split("awk '{print}").is_err());
        assert!(split("   ").is_err());
        assert!(split("a\0b").is_err());
    }
}
