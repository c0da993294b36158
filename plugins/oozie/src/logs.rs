//! Oozie's log of a job (`show=log`) as one stream, `oozie`, read by byte
//! offset and cut at character boundaries.

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::LogChunk;

pub const STREAM: &str = "oozie";
/// Whatever the client asks, one answer holds at most this much.
const MAX_CHUNK: u64 = 8 << 20;

/// The chunk of `text` at `offset`, at most `limit` bytes (one character
/// more when a limit smaller than a character would never move on).
/// `ended`: the job is over, so the log will not grow.
pub fn chunk(text: &str, offset: u64, limit: u64, ended: bool) -> Result<LogChunk> {
    let bytes = text.as_bytes();
    let len = bytes.len() as u64;
    if offset > len {
        return Err(Error::invalid_input(format!("offset {offset} is past the end of the {STREAM} log ({len} bytes)")));
    }
    let start = offset as usize;
    let want = limit.min(MAX_CHUNK).min(len - offset) as usize;
    let mut end = start + want;
    while end > start && !text.is_char_boundary(end) {
        end -= 1;
    }
    if end == start && want > 0 {
        // A limit inside the first character: that whole character.
        end = (start + 1..=bytes.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(bytes.len());
    }
    // An offset inside a character (a client's guess) starts at the next one.
    let begin = (start..=end).find(|&i| text.is_char_boundary(i)).unwrap_or(end);
    Ok(LogChunk {
        stream: STREAM.into(),
        streams: vec![STREAM.into()],
        offset,
        next_offset: end as u64,
        data: text[begin..end].to_string(),
        complete: ended && end as u64 == len,
    })
}

#[cfg(test)]
mod tests {
    use super::chunk;

    #[test]
    fn chunks_chain_and_never_split_a_character() {
        let text = "ab€cd é\n";
        for limit in [1, 2, 3, 4, 100] {
            let mut offset = 0;
            let mut read = String::new();
            loop {
                let c = chunk(text, offset, limit, true).unwrap();
                assert_eq!(c.offset, offset);
                read.push_str(&c.data);
                offset = c.next_offset;
                if c.complete {
                    break;
                }
                assert!(!c.data.is_empty());
            }
            assert_eq!(read, text, "limit {limit}");
        }
        assert!(!chunk(text, 0, 100, false).unwrap().complete, "a running job's log grows");
        assert!(chunk(text, 100, 1, true).is_err());
    }
}
