//! The job's input: which files, cut into splits at line ends, and feeding
//! one split to a mapper.
//!
//! As Hadoop's `FileInputFormat`: an input directory contributes its files
//! in name order, not those whose names start with `_` or `.` (`_SUCCESS`,
//! `.crc` files); a subdirectory is an error unless the input is read
//! recursively. A `.gz` file is one split, decompressed on the fly; other
//! files are cut into splits of about the split size, each ending at a line
//! end, so every line belongs to exactly one split. An empty file is one
//! empty split: its mapper still runs, as in Hadoop.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Hadoop's SPLIT_SLOP: the last split of a file may be this much larger
/// than the split size rather than leave a tiny one.
const SLOP: f64 = 1.1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub len: u64,
    pub gzip: bool,
}

/// Bytes `start..end` of one input file (all of it, decompressed, for gzip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub file: usize,
    pub start: u64,
    pub end: u64,
    /// The split ends the file and the file's last line has no `\n`: one is
    /// added, as Hadoop's line reader would end that line.
    pub add_newline: bool,
}

impl Split {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

fn hidden(name: &std::ffi::OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b"_") || name.starts_with(b".")
}

/// The input's files, in order.
pub fn list(input: &Path, recursive: bool) -> Result<Vec<InputFile>, String> {
    let meta = fs::metadata(input).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("input path `{}` does not exist", input.display()),
        _ => format!("input path `{}`: {e}", input.display()),
    })?;
    let mut files = Vec::new();
    if meta.is_dir() {
        walk(input, recursive, &mut files)?;
    } else {
        files.push(input_file(input.to_owned(), &meta));
    }
    Ok(files)
}

fn walk(dir: &Path, recursive: bool, files: &mut Vec<InputFile>) -> Result<(), String> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .and_then(|entries| entries.collect::<io::Result<Vec<_>>>())
        .map_err(|e| format!("input directory `{}`: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if hidden(&entry.file_name()) {
            continue;
        }
        let path = entry.path();
        // Followed, as Hadoop's local file system follows links.
        let meta = fs::metadata(&path).map_err(|e| format!("input `{}`: {e}", path.display()))?;
        if meta.is_dir() {
            if !recursive {
                return Err(format!(
                    "input `{}` is a directory; set mapreduce.input.fileinputformat.input.dir.recursive=true to read subdirectories",
                    path.display()
                ));
            }
            walk(&path, recursive, files)?;
        } else if meta.is_file() {
            files.push(input_file(path, &meta));
        }
    }
    Ok(())
}

fn input_file(path: PathBuf, meta: &fs::Metadata) -> InputFile {
    let gzip = path.extension().is_some_and(|e| e == "gz");
    InputFile { path, len: meta.len(), gzip }
}

/// Hadoop's split size: the block size (32 MiB, as Hadoop's local file
/// system has it) bounded by the configured minimum and maximum.
pub fn split_size(min: u64, max: u64) -> u64 {
    const BLOCK: u64 = 32 << 20;
    min.max(max.min(BLOCK)).max(1)
}

/// Cuts the files into splits of about `size` bytes, each ending at a line
/// end (reads a little around each cut).
pub fn splits(files: &[InputFile], size: u64) -> Result<Vec<Split>, String> {
    let mut splits = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let err = |e: io::Error| format!("input `{}`: {e}", file.path.display());
        if file.gzip {
            splits.push(Split { file: index, start: 0, end: file.len, add_newline: false });
            continue;
        }
        let add_newline = file.len > 0 && !ends_with_newline(&file.path, file.len).map_err(err)?;
        let mut start = 0;
        let mut handle = None;
        while (file.len - start) as f64 > size as f64 * SLOP {
            let handle = match &mut handle {
                Some(h) => h,
                None => handle.insert(File::open(&file.path).map_err(err)?),
            };
            let end = line_end_after(handle, start + size, file.len).map_err(err)?;
            splits.push(Split { file: index, start, end, add_newline: false });
            start = end;
            if start >= file.len {
                break;
            }
        }
        if start < file.len || file.len == 0 {
            splits.push(Split { file: index, start, end: file.len, add_newline });
        } else if let Some(last) = splits.last_mut() {
            last.add_newline = add_newline;
        }
    }
    Ok(splits)
}

fn ends_with_newline(path: &Path, len: u64) -> io::Result<bool> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(len - 1))?;
    let mut byte = [0u8];
    file.read_exact(&mut byte)?;
    Ok(byte[0] == b'\n')
}

/// The offset just past the first `\n` at or after `at - 1`: a line that
/// starts exactly at `at` begins the next split.
fn line_end_after(file: &mut File, at: u64, len: u64) -> io::Result<u64> {
    let mut pos = at - 1;
    file.seek(SeekFrom::Start(pos))?;
    let mut buf = vec![0u8; 64 << 10];
    while pos < len {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
    Ok(len)
}

/// What feeding a split did.
#[derive(Debug, Default)]
pub struct Fed {
    pub bytes: u64,
    /// The mapper closed its stdin before taking everything.
    pub closed_early: bool,
}

/// Writes the split's lines to `out` (a mapper's stdin). A mapper that stops
/// reading (a closed pipe) ends the feeding without an error; its exit
/// status decides.
pub fn feed(file: &InputFile, split: &Split, out: &mut impl Write) -> io::Result<Fed> {
    let result = if file.gzip { feed_gzip(file, out) } else { feed_range(file, split, out) };
    match result {
        Ok(bytes) => Ok(Fed { bytes, closed_early: false }),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Fed { bytes: 0, closed_early: true }),
        Err(e) => Err(e),
    }
}

fn feed_range(file: &InputFile, split: &Split, out: &mut impl Write) -> io::Result<u64> {
    let mut source = File::open(&file.path)?;
    source.seek(SeekFrom::Start(split.start))?;
    // File to pipe: std copies with splice/sendfile, without a user-space copy.
    let copied = io::copy(&mut source.take(split.len()), out)?;
    if copied != split.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("`{}` is shorter than when the job started", file.path.display()),
        ));
    }
    if split.add_newline {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(copied)
}

fn feed_gzip(file: &InputFile, out: &mut impl Write) -> io::Result<u64> {
    let source = io::BufReader::with_capacity(256 << 10, File::open(&file.path)?);
    let mut decoder = flate2::read::MultiGzDecoder::new(source);
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    let mut last = b'\n';
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("`{}`: {e}", file.path.display()))),
        };
        out.write_all(&buf[..n])?;
        total += n as u64;
        last = buf[n - 1];
    }
    if last != b'\n' {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(files: &[InputFile], splits: &[Split]) -> Vec<u8> {
        let mut all = Vec::new();
        for split in splits {
            feed(&files[split.file], split, &mut all).unwrap();
        }
        all
    }

    #[test]
    fn splits_end_at_line_ends_and_cover_every_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = Vec::new();
        for i in 0..5000 {
            text.extend_from_slice(format!("line {i} {}\n", "x".repeat(i % 37)).as_bytes());
        }
        text.extend_from_slice(b"no newline at the end");
        fs::write(dir.path().join("a.txt"), &text).unwrap();
        fs::write(dir.path().join("_SUCCESS"), b"").unwrap();
        fs::write(dir.path().join(".hidden"), b"x\n").unwrap();
        fs::write(dir.path().join("empty"), b"").unwrap();
        let files = list(dir.path(), false).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        for size in [1, 7, 100, 4096, 1 << 20] {
            let splits = splits(&files, size).unwrap();
            let all = fed(&files, &splits);
            let mut expected = text.clone();
            expected.push(b'\n');
            assert_eq!(all, expected, "split size {size}");
            for s in &splits {
                let f = &files[s.file];
                if s.start > 0 {
                    assert_eq!(fs::read(&f.path).unwrap()[s.start as usize - 1], b'\n');
                }
            }
            // The empty file is one (empty) split.
            assert_eq!(splits.iter().filter(|s| s.file == 1).count(), 1);
        }
        assert!(splits(&files, 4096).unwrap().len() > 10);
    }

    #[test]
    fn gzip_is_read_whole_and_subdirectories_need_recursion() {
        use flate2::write::GzEncoder;
        let dir = tempfile::tempdir().unwrap();
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"a b\nc").unwrap();
        let mut bytes = gz.finish().unwrap();
        // A second member, as `cat x.gz y.gz` makes.
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"\nd\n").unwrap();
        bytes.extend(gz.finish().unwrap());
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/x.gz"), &bytes).unwrap();
        fs::write(dir.path().join("y"), b"e\n").unwrap();
        let err = list(dir.path(), false).unwrap_err();
        assert!(err.contains("recursive"), "{err}");
        let files = list(dir.path(), true).unwrap();
        let splits = splits(&files, 1).unwrap();
        assert_eq!(fed(&files, &splits), b"a b\nc\nd\ne\n");
        assert!(list(&dir.path().join("nope"), false).unwrap_err().contains("does not exist"));
    }
}
