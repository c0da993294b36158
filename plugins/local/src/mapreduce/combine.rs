//! The combiner, run on counted records without expanding them.
//!
//! The sort buffer and the run files keep a key's repeated value once, with
//! its count (`w1\t1` × 500,000 is one record). Feeding a combiner one line
//! per occurrence would make it read every record the mappers wrote, which is
//! the reducer's whole work without a combiner: a combiner could gain
//! nothing. So a value repeated `c` times is combined by doubling, as
//! Hadoop's contract allows (a combiner may run any number of times, on any
//! subset of a key's values, on its own output too). With `S` the combined
//! form of `⌊c/2^(b+1)⌋` occurrences, `combine(S ++ S ++ [v if bit b of c])`
//! is that of `⌊c/2^b⌋`; from the top bit down to bit 0 that is `c`, for
//! about `2·log2(c)` lines of combiner input instead of `c`.
//!
//! All the keys of a batch go through each round together, in key order, one
//! combiner process per round. A key takes part from its largest count's top
//! bit on; each of its values joins at its own count's bits, so the last
//! round combines every value of the key. A round's output is attributed by
//! key.
//!
//! Doubling is done before the reducer only. At a spill there is one round
//! (one combiner process per partition, as in Hadoop), since a counted value
//! is already a single record in the run: it combines a key's values
//! repeated a few times, and leaves the others as counted records, to be
//! added up with every other map's and doubled before the reducer.
//!
//! What this relies on: a combiner's output for a key depends only on that
//! key's input lines (so one copy of `S` can stand for the other half of the
//! occurrences). Every combiner that is a reducer, as Hadoop's are, has that
//! property. Two safeguards stay within the contract, by running the
//! combiner zero times on what they cover. A combiner that prints a key it
//! was not given has changed keys, so its batch is passed on uncombined. A
//! key whose output does not shrink (an identity combiner, say) is passed
//! on uncombined too, rather than fed ever more lines.
//!
//! Which keys are combined depends on the side ([`Side`]).

use std::io::{self, Write};
use std::path::Path;
use std::process::Stdio;

use super::runner::Job;
use super::sys;
use super::task::{PIPE_SIZE, exit_text, read_lines};

/// Where the combiner runs, which decides which keys and values it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// At a spill, in one round: keys with more than one stored value,
    /// their values repeated at most [`MAP_EXPAND`] times, as lines. A key
    /// whose values are one counted value is already as small as a record
    /// gets; it is combined after the shuffle, once every map's count of it
    /// has been added up (doubling then costs the log of the sum, not the
    /// sum of the logs).
    Map,
    /// Before the reducer, by doubling: keys with a repeated value, so the
    /// reducer never gets one line per occurrence of a value the combiner
    /// folds.
    Reduce,
}

/// At a spill, a value repeated more often than this stays one counted
/// record rather than become that many lines of combiner input.
const MAP_EXPAND: u64 = 4;

impl Side {
    /// How many lines of a value repeated `count` times join the round of `bit`.
    fn joining(self, count: u64, bit: u32) -> u64 {
        match self {
            Side::Reduce => (count >> bit) & 1,
            Side::Map if bit == 0 && count <= MAP_EXPAND => count,
            Side::Map => 0,
        }
    }

    /// Whether a value repeated `count` times goes through the combiner at all.
    fn feeds(self, count: u64) -> bool {
        match self {
            Side::Reduce => true,
            Side::Map => count <= MAP_EXPAND,
        }
    }
}

/// What a combiner round needs to start a process.
pub struct Context<'a> {
    pub job: &'a Job,
    pub argv: &'a [String],
    pub env: Vec<(String, String)>,
    /// The attempt's stderr file (the combiner's stderr is appended to it).
    pub stderr: &'a Path,
    pub side: Side,
}

/// Where combined records go, in key order.
pub trait Sink {
    fn record(&mut self, key: &[u8], count: u64, value: &[u8]) -> io::Result<()>;
}

#[derive(Debug, Clone, Copy, Default)]
struct Span {
    off: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Block {
    count: u64,
    value: Span,
}

#[derive(Debug, Clone, Copy)]
struct KeyEntry {
    key: Span,
    /// Its blocks: `Batch::blocks[first..end]`.
    first: usize,
    end: usize,
}

fn bytes(arena: &[u8], s: Span) -> &[u8] {
    &arena[s.off..s.off + s.len]
}

fn put(arena: &mut Vec<u8>, b: &[u8]) -> Span {
    let off = arena.len();
    arena.extend_from_slice(b);
    Span { off, len: b.len() }
}

/// Keys in ascending order, each once, with their values as counted blocks
/// in arrival order (consecutive equal values merged).
#[derive(Default)]
struct Batch {
    arena: Vec<u8>,
    keys: Vec<KeyEntry>,
    blocks: Vec<Block>,
}

impl Batch {
    fn push(&mut self, key: &[u8], count: u64, value: &[u8]) {
        match self.keys.last() {
            Some(last) if bytes(&self.arena, last.key) == key => {
                if last.end > last.first {
                    let block = self.blocks.last_mut().expect("the key's last block");
                    if bytes(&self.arena, block.value) == value {
                        block.count = block.count.saturating_add(count);
                        return;
                    }
                }
            }
            _ => {
                let key = put(&mut self.arena, key);
                let at = self.blocks.len();
                self.keys.push(KeyEntry { key, first: at, end: at });
            }
        }
        let value = put(&mut self.arena, value);
        self.blocks.push(Block { count, value });
        self.keys.last_mut().expect("a key").end += 1;
    }

    fn size(&self) -> usize {
        self.arena.len() + self.keys.len() * size_of::<KeyEntry>() + self.blocks.len() * size_of::<Block>()
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.keys.clear();
        self.blocks.clear();
    }

    fn key(&self, k: usize) -> &[u8] {
        bytes(&self.arena, self.keys[k].key)
    }

    fn blocks(&self, k: usize) -> &[Block] {
        &self.blocks[self.keys[k].first..self.keys[k].end]
    }
}

/// Each key's combined form after a round: blocks in an arena.
#[derive(Default)]
struct Reps {
    arena: Vec<u8>,
    blocks: Vec<Block>,
    /// Per batch key, its blocks (`start..end`; empty when it has none).
    ranges: Vec<(usize, usize)>,
}

impl Reps {
    fn reset(&mut self, keys: usize) {
        self.arena.clear();
        self.blocks.clear();
        self.ranges.clear();
        self.ranges.resize(keys, (0, 0));
    }

    fn of(&self, k: usize) -> &[Block] {
        let (start, end) = self.ranges[k];
        &self.blocks[start..end]
    }

    fn lines(&self, k: usize) -> u64 {
        self.of(k).iter().map(|b| b.count).sum()
    }
}

/// What the combiner does with a key of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Passed on as it is.
    Pass,
    /// Combined, round by round.
    Combine,
    /// Not combined after all (its output did not shrink, or the combiner
    /// changed keys): passed on as it came.
    GaveUp,
}

/// A worker's combiner: the batch being filled and the rounds' buffers,
/// reused from batch to batch.
#[derive(Default)]
pub struct Combiner {
    batch: Batch,
    plans: Vec<Plan>,
    /// Per key: the bit length of its largest count (its rounds).
    bits: Vec<u32>,
    cur: Reps,
    next: Reps,
    /// The keys fed in the current round, ascending, and their input lines.
    fed: Vec<usize>,
    fed_lines: Vec<u64>,
    /// A round's output records: (index into `fed`, value in `next.arena`).
    out: Vec<(u32, Span)>,
    buf: Vec<u8>,
    /// Lines fed to and read from combiner processes, since the last `take_counts`.
    input_records: u64,
    output_records: u64,
}

impl Combiner {
    /// Adds `count` occurrences of `key ++ value`; keys must not descend.
    pub fn push(&mut self, key: &[u8], count: u64, value: &[u8]) {
        self.batch.push(key, count, value);
    }

    /// Whether no record waits in the batch.
    pub fn is_empty(&self) -> bool {
        self.batch.keys.is_empty()
    }

    /// Bytes held by the batch being filled.
    pub fn size(&self) -> usize {
        self.batch.size()
    }

    /// (input, output) records of the combiner processes since the last call.
    pub fn take_counts(&mut self) -> (u64, u64) {
        (std::mem::take(&mut self.input_records), std::mem::take(&mut self.output_records))
    }

    /// Empties the batch and the counts (what a failed attempt left).
    pub fn clear(&mut self) {
        self.batch.clear();
        self.take_counts();
    }

    /// Combines the batch, hands every key's records to `sink` in key
    /// order, and empties the batch (also when it fails).
    pub fn flush(&mut self, cx: &Context<'_>, sink: &mut impl Sink) -> io::Result<()> {
        let result = self.combine(cx, sink);
        self.batch.clear();
        result
    }

    fn combine(&mut self, cx: &Context<'_>, sink: &mut impl Sink) -> io::Result<()> {
        let n = self.batch.keys.len();
        if n == 0 {
            return Ok(());
        }
        self.plan(cx.side);
        let rounds = (0..n).filter(|&k| self.plans[k] == Plan::Combine).map(|k| self.bits[k]).max().unwrap_or(0);
        self.cur.reset(n);
        for bit in (0..rounds).rev() {
            if cx.job.aborted() {
                return Err(io::Error::other("aborted"));
            }
            self.prepare_round(cx.side, bit);
            if !self.fed.is_empty() {
                if let Some(key) = self.round(cx, bit)? {
                    let key = String::from_utf8_lossy(&key[..key.len().min(100)]).into_owned();
                    cx.job.log(&format!(
                        "the combiner printed key `{key}`, which it was not given: this batch goes on uncombined"
                    ));
                    for plan in &mut self.plans {
                        if *plan == Plan::Combine {
                            *plan = Plan::GaveUp;
                        }
                    }
                    break;
                }
                for (i, &k) in self.fed.iter().enumerate() {
                    let (input, output) = (self.fed_lines[i], self.next.lines(k));
                    if output > input || (bit > 0 && output > (input / 2).max(2)) {
                        self.plans[k] = Plan::GaveUp;
                    }
                }
            }
            std::mem::swap(&mut self.cur, &mut self.next);
        }
        for k in 0..n {
            let key = self.batch.key(k);
            match self.plans[k] {
                Plan::Combine => {
                    for b in self.cur.of(k) {
                        sink.record(key, b.count, bytes(&self.cur.arena, b.value))?;
                    }
                    for b in self.batch.blocks(k).iter().filter(|b| !cx.side.feeds(b.count)) {
                        sink.record(key, b.count, bytes(&self.batch.arena, b.value))?;
                    }
                }
                Plan::Pass | Plan::GaveUp => {
                    for b in self.batch.blocks(k) {
                        sink.record(key, b.count, bytes(&self.batch.arena, b.value))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn plan(&mut self, side: Side) {
        self.plans.clear();
        self.bits.clear();
        for k in 0..self.batch.keys.len() {
            let blocks = self.batch.blocks(k);
            let (combine, bits) = match side {
                Side::Map => {
                    let lines: u64 = blocks.iter().map(|b| side.joining(b.count, 0)).sum();
                    (blocks.len() > 1 && lines > 1, 1)
                }
                Side::Reduce => {
                    let most = blocks.iter().map(|b| b.count).max().unwrap_or(0);
                    (most > 1, u64::BITS - most.leading_zeros())
                }
            };
            self.plans.push(if combine { Plan::Combine } else { Plan::Pass });
            self.bits.push(bits);
        }
    }

    /// Which keys take part in the round of `bit`: those with two lines or
    /// more to combine; a key with a single line keeps it as it is.
    fn prepare_round(&mut self, side: Side, bit: u32) {
        let Self { batch, plans, bits, cur, next, fed, fed_lines, .. } = self;
        next.reset(batch.keys.len());
        fed.clear();
        fed_lines.clear();
        for k in 0..batch.keys.len() {
            if plans[k] != Plan::Combine || bits[k] <= bit {
                continue;
            }
            let joining = || batch.blocks(k).iter().filter(move |b| side.joining(b.count, bit) > 0);
            let lines = 2 * cur.lines(k) + joining().map(|b| side.joining(b.count, bit)).sum::<u64>();
            match lines {
                0 => {}
                1 => {
                    let only = joining().next().expect("the one joining value");
                    let value = put(&mut next.arena, bytes(&batch.arena, only.value));
                    next.ranges[k] = (next.blocks.len(), next.blocks.len() + 1);
                    next.blocks.push(Block { count: 1, value });
                }
                _ => {
                    fed.push(k);
                    fed_lines.push(lines);
                }
            }
        }
    }

    /// Runs one combiner process over the fed keys' lines for `bit`; their
    /// output becomes their `next` form. Returns the first key printed that
    /// was not given, if any (the output is then not used).
    fn round(&mut self, cx: &Context<'_>, bit: u32) -> io::Result<Option<Vec<u8>>> {
        let Self { batch, cur, next, fed, fed_lines, out, buf, input_records, output_records, .. } = self;
        let job = cx.job;
        let mut child = match job.spawn(cx.argv, &cx.env, Stdio::piped(), Stdio::piped(), cx.stderr) {
            Ok(child) => child,
            Err(super::task::AttemptError::Failed(why)) => {
                return Err(io::Error::other(format!("the combiner: {why}")));
            }
            Err(super::task::AttemptError::Aborted) => return Err(io::Error::other("aborted")),
        };
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        sys::grow_pipe(&stdin, PIPE_SIZE);
        sys::grow_pipe(&stdout, PIPE_SIZE);
        out.clear();
        let (batch, cur, fed): (&Batch, &Reps, &[usize]) = (batch, cur, fed);
        let side = cx.side;
        let mut stranger: Option<Vec<u8>> = None;
        let mut lines_out = 0u64;
        let mut cursor = 0;
        let (read, fed_ok) = std::thread::scope(|s| {
            let feeder = s.spawn(move || {
                let mut stdin = stdin;
                match write_round(batch, cur, fed, side, bit, &mut stdin) {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                    other => other,
                }
            });
            let read = read_lines(job, stdout, buf, |lines| {
                lines_out += lines.len() as u64;
                if stranger.is_some() {
                    return Ok(());
                }
                for line in lines {
                    let (key, value) = line.split_at(memchr::memchr(b'\t', line).unwrap_or(line.len()));
                    match find(batch, fed, &mut cursor, key) {
                        Some(i) => out.push((i as u32, put(&mut next.arena, value))),
                        None => {
                            stranger = Some(key.to_vec());
                            break;
                        }
                    }
                }
                Ok(())
            });
            if read.is_err() {
                job.kill_child(&child);
            }
            (read, feeder.join())
        });
        let status = job.reap(&mut child)?;
        read?;
        fed_ok.map_err(|_| io::Error::other("the combiner's feeder panicked"))??;
        if job.aborted() {
            return Err(io::Error::other("aborted"));
        }
        if !status.success() {
            return Err(io::Error::other(format!("the combiner ended with {}", exit_text(status))));
        }
        *input_records += fed_lines.iter().sum::<u64>();
        *output_records += lines_out;
        if stranger.is_some() {
            return Ok(stranger);
        }
        // Grouped by key (a combiner may print in any order), each key's
        // lines in the order printed, equal consecutive values counted.
        if !out.is_sorted_by_key(|r| r.0) {
            out.sort_by_key(|r| r.0);
        }
        let mut i = 0;
        while i < out.len() {
            let f = out[i].0;
            let start = next.blocks.len();
            while i < out.len() && out[i].0 == f {
                let value = out[i].1;
                let repeat = next.blocks.len() > start
                    && next
                        .blocks
                        .last()
                        .is_some_and(|last| bytes(&next.arena, last.value) == bytes(&next.arena, value));
                match next.blocks.last_mut() {
                    Some(last) if repeat => last.count += 1,
                    _ => next.blocks.push(Block { count: 1, value }),
                }
                i += 1;
            }
            next.ranges[fed[f as usize]] = (start, next.blocks.len());
        }
        Ok(None)
    }
}

/// The index in `fed` of the key `key`: usually the one at the cursor or
/// the next (output in key order), else found by binary search.
fn find(batch: &Batch, fed: &[usize], cursor: &mut usize, key: &[u8]) -> Option<usize> {
    for i in [*cursor, *cursor + 1] {
        if i < fed.len() && batch.key(fed[i]) == key {
            *cursor = i;
            return Some(i);
        }
    }
    let i = fed.binary_search_by(|&k| batch.key(k).cmp(key)).ok()?;
    *cursor = i;
    Some(i)
}

/// A round's input: for each fed key, its combined form twice, then its
/// values that join at `bit`.
fn write_round(batch: &Batch, cur: &Reps, fed: &[usize], side: Side, bit: u32, out: &mut impl Write) -> io::Result<()> {
    let mut buf = Vec::with_capacity(256 << 10);
    let mut line = |buf: &mut Vec<u8>, key: &[u8], value: &[u8]| -> io::Result<()> {
        buf.extend_from_slice(key);
        buf.extend_from_slice(value);
        buf.push(b'\n');
        if buf.len() >= 240 << 10 {
            out.write_all(buf)?;
            buf.clear();
        }
        Ok(())
    };
    for &k in fed {
        let key = batch.key(k);
        for _ in 0..2 {
            for b in cur.of(k) {
                for _ in 0..b.count {
                    line(&mut buf, key, bytes(&cur.arena, b.value))?;
                }
            }
        }
        for b in batch.blocks(k) {
            for _ in 0..side.joining(b.count, bit) {
                line(&mut buf, key, bytes(&batch.arena, b.value))?;
            }
        }
    }
    out.write_all(&buf)?;
    out.flush()
}
