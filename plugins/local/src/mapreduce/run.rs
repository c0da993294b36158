//! Sorted runs on disk, reading them back, and merging them.
//!
//! A run file holds segments, each the sorted groups of one partition:
//!
//! ```text
//! segment := group* 0
//! group   := varint(len(key) + 1) key value* 0
//! value   := varint(count ≥ 1) varint(len) bytes     (count = repeats of the same value)
//! ```
//!
//! A value is the rest of the line after the key, tab included, so a line
//! comes back byte for byte as `key ++ value`. Consecutive equal values of a
//! key are stored once with a count (`w\t1` × 10⁶ is a few bytes), which
//! keeps runs small for the aggregating jobs MapReduce is mostly used for.
//! Where the segments are is kept by the runner, in memory.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One partition's groups in a run file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub part: u32,
    pub offset: u64,
    pub len: u64,
}

/// A finished run file and its segments, in partition order (a partition
/// may have several when a combiner's output was flushed more than once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFile {
    pub path: PathBuf,
    pub segments: Vec<Segment>,
    pub bytes: u64,
}

pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes a varint at the start of `bytes`: (value, length).
#[inline]
pub fn get_varint(bytes: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return (v, i + 1);
        }
    }
    (v, bytes.len().min(10))
}

/// Writes a run file: segments of groups of values.
pub struct RunWriter {
    path: PathBuf,
    out: BufWriter<File>,
    buf: Vec<u8>,
    pos: u64,
    segments: Vec<Segment>,
    segment: Option<(u32, u64)>,
    group_open: bool,
}

const WRITE_BUFFER: usize = 1 << 20;

impl RunWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::create(path)?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            buf: Vec::with_capacity(64 << 10),
            pos: 0,
            segments: Vec::new(),
            segment: None,
            group_open: false,
        })
    }

    fn drain(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.pos += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    #[inline]
    fn maybe_drain(&mut self) -> io::Result<()> {
        if self.buf.len() >= 60 << 10 { self.drain() } else { Ok(()) }
    }

    fn offset(&self) -> u64 {
        self.pos + self.buf.len() as u64
    }

    pub fn begin_segment(&mut self, part: u32) {
        debug_assert!(self.segment.is_none());
        self.segment = Some((part, self.offset()));
    }

    pub fn end_segment(&mut self) -> io::Result<()> {
        self.end_group();
        self.buf.push(0);
        if let Some((part, offset)) = self.segment.take() {
            let len = self.offset() - offset;
            self.segments.push(Segment { part, offset, len });
        }
        self.maybe_drain()
    }

    /// Starts a group; the caller makes keys ascend within a segment.
    #[inline]
    pub fn begin_group(&mut self, key: &[u8]) -> io::Result<()> {
        self.end_group();
        put_varint(&mut self.buf, key.len() as u64 + 1);
        self.buf.extend_from_slice(key);
        self.group_open = true;
        self.maybe_drain()
    }

    #[inline]
    pub fn end_group(&mut self) {
        if self.group_open {
            self.buf.push(0);
            self.group_open = false;
        }
    }

    #[inline]
    pub fn value(&mut self, count: u32, value: &[u8]) -> io::Result<()> {
        put_varint(&mut self.buf, u64::from(count));
        put_varint(&mut self.buf, value.len() as u64);
        if value.len() > 4096 {
            self.drain()?;
            self.out.write_all(value)?;
            self.pos += value.len() as u64;
            return Ok(());
        }
        self.buf.extend_from_slice(value);
        self.maybe_drain()
    }

    pub fn finish(mut self) -> io::Result<RunFile> {
        if self.segment.is_some() {
            self.end_segment()?;
        }
        self.drain()?;
        self.out.flush()?;
        Ok(RunFile { path: self.path, segments: self.segments, bytes: self.pos })
    }
}

/// Reads one segment: its groups' keys, then each group's values.
pub struct SegmentReader {
    file: File,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// Bytes of the segment not read from the file yet.
    left: u64,
    /// The current group's key (valid after `next_key` returned true).
    pub key: Vec<u8>,
}

/// Each reader's buffer: fan-in × this is the merge's memory.
pub const READ_BUFFER: usize = 64 << 10;

impl SegmentReader {
    pub fn open(path: &Path, segment: &Segment) -> io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(segment.offset))?;
        Ok(Self {
            file,
            buf: vec![0u8; READ_BUFFER].into_boxed_slice(),
            pos: 0,
            filled: 0,
            left: segment.len,
            key: Vec::new(),
        })
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.pos < self.filled {
            self.buf.copy_within(self.pos..self.filled, 0);
        }
        self.filled -= self.pos;
        self.pos = 0;
        let room = (self.buf.len() - self.filled).min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if room == 0 {
            return Ok(());
        }
        let n = loop {
            match self.file.read(&mut self.buf[self.filled..self.filled + room]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Err(corrupt("ends early"));
        }
        self.filled += n;
        self.left -= n as u64;
        Ok(())
    }

    #[inline]
    fn varint(&mut self) -> io::Result<u64> {
        if self.filled - self.pos < 10 && self.left > 0 {
            self.fill()?;
        }
        if self.pos >= self.filled {
            return Err(corrupt("ends inside a record"));
        }
        let (v, n) = get_varint(&self.buf[self.pos..self.filled]);
        self.pos += n;
        Ok(v)
    }

    fn bytes_into(&mut self, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        let mut want = len;
        while want > 0 {
            if self.pos == self.filled {
                if self.left == 0 {
                    return Err(corrupt("ends inside a record"));
                }
                self.fill()?;
            }
            let take = want.min(self.filled - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            want -= take;
        }
        Ok(())
    }

    /// Moves to the next group (the current one's values must have been
    /// read); false at the end of the segment.
    pub fn next_key(&mut self) -> io::Result<bool> {
        let len = self.varint()?;
        if len == 0 {
            return Ok(false);
        }
        let mut key = std::mem::take(&mut self.key);
        self.bytes_into((len - 1) as usize, &mut key)?;
        self.key = key;
        Ok(true)
    }

    /// The current group's next value into `value`: its count, or `None`
    /// at the end of the group.
    #[inline]
    pub fn next_value(&mut self, value: &mut Vec<u8>) -> io::Result<Option<u32>> {
        let count = self.varint()?;
        if count == 0 {
            return Ok(None);
        }
        let len = self.varint()? as usize;
        if self.filled - self.pos >= len {
            value.clear();
            value.extend_from_slice(&self.buf[self.pos..self.pos + len]);
            self.pos += len;
        } else {
            self.bytes_into(len, value)?;
        }
        Ok(Some(u32::try_from(count).map_err(|_| corrupt("has a bad count"))?))
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("a sorted run {what}"))
}

/// A k-way merge of segment readers by key; equal keys come out in reader
/// order, so the merge is stable (map task order, then spill order).
pub struct Merger {
    pub readers: Vec<SegmentReader>,
    heap: Vec<usize>,
}

impl Merger {
    pub fn new(readers: Vec<SegmentReader>) -> io::Result<Self> {
        let mut merger = Self { heap: Vec::with_capacity(readers.len()), readers };
        for i in 0..merger.readers.len() {
            merger.advance(i)?;
        }
        Ok(merger)
    }

    #[inline]
    fn less(&self, a: usize, b: usize) -> bool {
        match self.readers[a].key.as_slice().cmp(self.readers[b].key.as_slice()) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => a < b,
            std::cmp::Ordering::Greater => false,
        }
    }

    /// The reader holding the smallest key, taken off the heap: read its
    /// group's values, then `advance` it.
    pub fn pop(&mut self) -> Option<usize> {
        if self.heap.is_empty() {
            return None;
        }
        let top = self.heap.swap_remove(0);
        self.sift_down(0);
        Some(top)
    }

    /// Reads reader `i`'s next key and puts it back on the heap, unless its
    /// segment ended.
    pub fn advance(&mut self, i: usize) -> io::Result<()> {
        if self.readers[i].next_key()? {
            self.heap.push(i);
            self.sift_up(self.heap.len() - 1);
        }
        Ok(())
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.less(self.heap[at], self.heap[parent]) {
                self.heap.swap(at, parent);
                at = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut min = at;
            if l < n && self.less(self.heap[l], self.heap[min]) {
                min = l;
            }
            if r < n && self.less(self.heap[r], self.heap[min]) {
                min = r;
            }
            if min == at {
                return;
            }
            self.heap.swap(at, min);
            at = min;
        }
    }
}

/// Merges segments (all of one partition) into one run file with one
/// segment; a key's groups from several segments become one group.
/// Returns the run and the records it holds.
pub fn merge_to_file(inputs: &[(PathBuf, Segment)], part: u32, path: &Path) -> io::Result<RunFile> {
    let readers = inputs.iter().map(|(p, s)| SegmentReader::open(p, s)).collect::<io::Result<Vec<_>>>()?;
    let mut merger = Merger::new(readers)?;
    let mut out = RunWriter::create(path)?;
    out.begin_segment(part);
    let mut open: Option<Vec<u8>> = None;
    let mut value = Vec::new();
    while let Some(i) = merger.pop() {
        let reader = &mut merger.readers[i];
        if open.as_deref() != Some(reader.key.as_slice()) {
            out.begin_group(&reader.key)?;
            open = Some(reader.key.clone());
        }
        while let Some(count) = reader.next_value(&mut value)? {
            out.value(count, &value)?;
        }
        merger.advance(i)?;
    }
    out.end_segment()?;
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Groups<'a> = &'a [(&'a str, &'a [(u32, &'a str)])];

    fn write_run(path: &Path, parts: &[(u32, Groups<'_>)]) -> RunFile {
        let mut w = RunWriter::create(path).unwrap();
        for (part, groups) in parts {
            w.begin_segment(*part);
            for (key, values) in *groups {
                w.begin_group(key.as_bytes()).unwrap();
                for (count, v) in *values {
                    w.value(*count, v.as_bytes()).unwrap();
                }
            }
            w.end_segment().unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(path: &Path, seg: &Segment) -> Vec<(String, Vec<(u32, String)>)> {
        let mut r = SegmentReader::open(path, seg).unwrap();
        let mut out = Vec::new();
        let mut v = Vec::new();
        while r.next_key().unwrap() {
            let mut values = Vec::new();
            while let Some(c) = r.next_value(&mut v).unwrap() {
                values.push((c, String::from_utf8(v.clone()).unwrap()));
            }
            out.push((String::from_utf8(r.key.clone()).unwrap(), values));
        }
        out
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 32, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            assert_eq!(get_varint(&b), (v, b.len()));
        }
    }

    #[test]
    fn runs_merge_stably_and_coalesce_groups() {
        let dir = tempfile::tempdir().unwrap();
        let big = "v".repeat(100_000);
        let a = write_run(
            &dir.path().join("a"),
            &[(0, &[("a", &[(2, "\t1")]), ("c", &[(1, "\tx"), (1, big.as_str())])]), (1, &[("b", &[(1, "")])])],
        );
        let b =
            write_run(&dir.path().join("b"), &[(0, &[("", &[(1, "\te")]), ("a", &[(1, "\t2")]), ("d", &[(3, "\t")])])]);
        assert_eq!(a.segments.len(), 2);
        assert_eq!(read_all(&a.path, &a.segments[1]), [("b".to_owned(), vec![(1, String::new())])]);
        let inputs: Vec<_> = [&a, &b].iter().map(|r| (r.path.clone(), r.segments[0])).collect();
        let merged = merge_to_file(&inputs, 0, &dir.path().join("m")).unwrap();
        let got = read_all(&merged.path, &merged.segments[0]);
        let expect = vec![
            (String::new(), vec![(1, "\te".to_owned())]),
            ("a".to_owned(), vec![(2, "\t1".to_owned()), (1, "\t2".to_owned())]),
            ("c".to_owned(), vec![(1, "\tx".to_owned()), (1, big.clone())]),
            ("d".to_owned(), vec![(3, "\t".to_owned())]),
        ];
        assert_eq!(got, expect);
    }
}
