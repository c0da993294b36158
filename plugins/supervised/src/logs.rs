//! Reading a job's stdout and stderr by byte offset, as text: what an
//! engine's `fetch_logs` answers.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::LogChunk;

use crate::jobdir::{JobDir, io_error};
use crate::layout;

const STREAMS: [&str; 2] = [layout::STDOUT, layout::STDERR];
/// Whatever the client asks, one answer holds at most this much.
const MAX_CHUNK: u64 = 8 << 20;

/// `stream` is `stdout` (the default) or `stderr`. The chunk never ends
/// inside a character, and is `complete` once the job ended and the end is
/// reached. Blocking: reads up to `limit` bytes.
pub fn read(dir: &JobDir, stream: Option<&str>, offset: u64, limit: u64) -> Result<LogChunk> {
    let stream = stream.unwrap_or(layout::STDOUT);
    if !STREAMS.contains(&stream) {
        return Err(Error::invalid_input(format!("no log stream `{stream}`; there are {}", STREAMS.join(", "))));
    }
    dir.require()?;
    // Looked at before reading: once the record exists nothing more is
    // written, so a read that reaches the end then has everything.
    let ended = dir.has(layout::EXIT);
    let path = dir.file(stream);
    let mut file = File::open(&path).map_err(|e| io_error(&path, e))?;
    let len = file.metadata().map_err(|e| io_error(&path, e))?.len();
    if offset > len {
        return Err(Error::invalid_input(format!("offset {offset} is past the end of {stream} ({len} bytes)")));
    }
    let want = limit.min(MAX_CHUNK).min(len - offset);
    let mut bytes = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    file.seek(SeekFrom::Start(offset)).map_err(|e| io_error(&path, e))?;
    file.by_ref().take(want).read_to_end(&mut bytes).map_err(|e| io_error(&path, e))?;

    // A character cut by the limit (or still being written) is left for
    // the next read, unless it is all there is: a limit smaller than one
    // character then gets that whole character (at most 3 bytes over),
    // as neither splitting it nor never moving on would do.
    let mut keep = char_boundary(&bytes);
    if keep == 0 && !bytes.is_empty() {
        let width = char_width(bytes[0]) as u64;
        if offset + width <= len {
            let missing = width - bytes.len() as u64;
            file.by_ref().take(missing).read_to_end(&mut bytes).map_err(|e| io_error(&path, e))?;
            keep = bytes.len();
        }
    }
    // Bytes that will never be completed go out as they are.
    if ended && offset + bytes.len() as u64 == len {
        keep = bytes.len();
    }
    bytes.truncate(keep);
    let next_offset = offset + keep as u64;
    Ok(LogChunk {
        stream: stream.to_owned(),
        streams: STREAMS.iter().map(|s| (*s).to_owned()).collect(),
        offset,
        next_offset,
        data: String::from_utf8_lossy(&bytes).into_owned(),
        complete: ended && next_offset == len,
    })
}

/// The length of `bytes` without a multi-byte character cut short at its
/// end. Invalid bytes elsewhere are left to the lossy conversion.
fn char_boundary(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        return if char_width(b) > back { len - back } else { len };
    }
    len
}

/// How many bytes the character starting with `lead` has.
fn char_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::char_boundary;

    #[test]
    fn cuts_only_an_incomplete_last_character() {
        let euro = "€".as_bytes();
        assert_eq!(char_boundary(b"abc"), 3);
        assert_eq!(char_boundary(euro), 3);
        assert_eq!(char_boundary(&euro[..2]), 0);
        assert_eq!(char_boundary(&[b'a', euro[0]]), 1);
        assert_eq!(char_boundary(&[b'a', euro[0], euro[1]]), 1);
        assert_eq!(char_boundary(&[b'a', 0x80, 0x80, 0x80]), 4);
        assert_eq!(char_boundary(b""), 0);
    }
}
