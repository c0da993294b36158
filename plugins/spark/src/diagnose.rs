//! Why a driver failed, in one line, from the tail of its output: the
//! root cause of a Java exception (`Caused by: ...`), the last line of a
//! Python traceback (`RuntimeError: ...`; a PySpark driver's traceback is
//! on its stdout, as PythonRunner merges the Python process's stderr into
//! it), else the last ERROR log line.

/// The best summary of any stream; the earlier stream on a tie.
pub fn summarize(streams: &[&str]) -> Option<String> {
    let mut best: Option<(u8, String)> = None;
    for (rank, summary) in streams.iter().filter_map(|text| summarize_one(text)) {
        if best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((rank, summary));
        }
    }
    best.map(|(_, s)| s)
}

fn summarize_one(text: &str) -> Option<(u8, String)> {
    let mut best: Option<(u8, String)> = None;
    for line in text.lines() {
        let Some((rank, summary)) = classify(line) else { continue };
        // spark-submit's wrapper for "the Python app exited non-zero": the
        // app's own error says more.
        let rank = if summary.contains("SparkUserAppException") { 1 } else { rank };
        // The last line of the highest rank: the deepest cause, the
        // exception a traceback ends with.
        if best.as_ref().is_none_or(|(r, _)| rank >= *r) {
            best = Some((rank, summary));
        }
    }
    best.map(|(rank, s)| (rank, s.chars().take(1000).collect()))
}

fn classify(line: &str) -> Option<(u8, String)> {
    let line = line.trim_end();
    if line.is_empty() || line.starts_with(char::is_whitespace) {
        return None;
    }
    if let Some(cause) = line.strip_prefix("Caused by: ") {
        return Some((3, cause.to_owned()));
    }
    if let Some(rest) = line.strip_prefix("Exception in thread ") {
        // `Exception in thread "main" java.lang.X: message`
        let exception = rest.split_once("\" ").map_or(rest, |(_, e)| e);
        return Some((2, exception.to_owned()));
    }
    let name = line.split([':', ' ']).next().unwrap_or("");
    let is_identifier = name.split('.').all(|part| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    });
    let exceptional = ["Error", "Exception", "Exit", "Interrupt", "Failure"].iter().any(|s| name.ends_with(s));
    if is_identifier && exceptional && (line.len() == name.len() || line[name.len()..].starts_with(':')) {
        return Some((2, line.to_owned()));
    }
    // `26/11/23 06:05:18 ERROR SparkContext: Error initializing SparkContext.`
    if let Some((_, message)) = line.split_once(" ERROR ") {
        return Some((0, message.to_owned()));
    }
    None
}

/// The exit code of a PySpark app as its driver reports it
/// (`SparkUserAppException: User application exited with 1`).
pub fn python_exit_code(text: &str) -> Option<i32> {
    let at = text.rfind("User application exited with ")? + "User application exited with ".len();
    let digits: String = text[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{python_exit_code, summarize};

    #[test]
    fn java_root_cause() {
        let stderr = "26/11/23 06:06:50 INFO X: y\nException in thread \"main\" java.lang.reflect.InvocationTargetException\n\
                      \tat a.b(C.java:1)\nCaused by: java.lang.IllegalStateException: boom marker\n\tat s.M(M.java:12)\n\t... 6 more\n\
                      26/11/23 06:06:51 INFO ShutdownHookManager: Shutdown hook called\n";
        assert_eq!(summarize(&[stderr]).as_deref(), Some("java.lang.IllegalStateException: boom marker"));
    }

    #[test]
    fn python_traceback_first() {
        let stdout = "count 10\nTraceback (most recent call last):\n  File \"/a.py\", line 4, in <module>\n    raise RuntimeError(\"m\")\nRuntimeError: m\n";
        let stderr =
            "Exception in thread \"main\" org.apache.spark.SparkUserAppException: User application exited with 1\n";
        assert_eq!(summarize(&[stdout, stderr]).as_deref(), Some("RuntimeError: m"));
        assert_eq!(
            summarize(&["", stderr]).as_deref(),
            Some("org.apache.spark.SparkUserAppException: User application exited with 1")
        );
        assert_eq!(
            summarize(&["26/11/23 06:05:18 ERROR SparkContext: Error initializing SparkContext.\n"]).as_deref(),
            Some("SparkContext: Error initializing SparkContext.")
        );
        assert_eq!(summarize(&["all fine\n"]), None);
        let wrapped = "Exception in thread \"main\" java.lang.reflect.InvocationTargetException\n\
                       Caused by: org.apache.spark.SparkUserAppException: User application exited with 3\n";
        assert_eq!(summarize(&[stdout, wrapped]).as_deref(), Some("RuntimeError: m"));
        assert_eq!(python_exit_code(wrapped), Some(3));
    }
}
