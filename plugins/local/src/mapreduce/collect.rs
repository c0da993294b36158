//! A map task's sort buffer: map output grouped by key in a hash table,
//! within a fixed memory budget, written out as a sorted run when full.
//!
//! Records are never sorted one by one: each distinct key gets an entry
//! (its partition, where its key and values are), and its values are
//! appended, in arrival order, to a chain of chunks in one arena, the
//! chunks doubling in size (up to 64 KiB) so a key's values are read back
//! mostly sequentially. Consecutive equal values of a key are counted, not
//! stored again. A spill sorts only the distinct keys, by (partition, key
//! bytes), and streams each key's values to the run file.
//!
//! Memory: the arena is reserved at the budget but resident only as it
//! fills; entries, slots and the sort order grow by doubling, each growth
//! checked against the budget first (counting old and new slots while they
//! coexist). The buffer spills rather than exceed the budget, unless it is
//! empty and a single line is larger than the budget.
//!
//! Partitions are Hadoop's `HashPartitioner` over the key as a `Text`
//! (`(hashBytes(key) & i32::MAX) % reduces`), so a key lands in the same
//! `part-NNNNN` file as on a Hadoop cluster.

use std::io;

use super::run::{RunWriter, get_varint, varint_len};

const NONE: u32 = u32::MAX;
/// next, end, capacity end (absolute arena offsets).
const CHUNK_HEADER: usize = 12;
const MAX_CHUNK: usize = 64 << 10;
const INLINE_KEY: usize = 16;
const INLINE_VALUE: usize = 8;

/// One distinct key: one cache line, holding what the common case needs
/// (a short key, a short last value and its pending repeat count), so that
/// adding a record usually reads one slot and this, nothing else. Entries
/// are dense, in order of first appearance: frequent keys come first and
/// share cache lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Entry {
    hash: u64,
    key_off: u32,
    key_len: u32,
    part: u32,
    head: u32,
    tail: u32,
    /// The last value record; its count in the arena is stale, the true
    /// one is `last_count` (written back when another value comes or at a
    /// spill).
    last: u32,
    last_count: u32,
    last_len: u32,
    key_inline: [u8; INLINE_KEY],
    value_inline: [u8; INLINE_VALUE],
}

#[derive(Clone, Copy)]
struct SortItem {
    /// The key's first 8 bytes, big-endian, zero-padded: most comparisons
    /// end here without touching the arena.
    prefix: u64,
    part: u32,
    idx: u32,
}

const ENTRY: usize = size_of::<Entry>();
const SLOT: usize = size_of::<u64>();
const SORT_ITEM: usize = size_of::<SortItem>();

pub struct Collector {
    budget: usize,
    partitions: u32,
    /// Keys and value chunks.
    arena: Vec<u8>,
    entries: Vec<Entry>,
    /// Open addressing, linear probing, at most half full: 0 = free, else
    /// (hash's high 32 bits << 32) | (entry index + 1).
    slots: Vec<u64>,
    order: Vec<SortItem>,
    sorted: bool,
    /// Records and bytes (lines with their `\n`) since the last clear.
    pub records: u64,
    pub bytes: u64,
}

impl Collector {
    /// A buffer of `budget` bytes for `partitions` (≥ 1) partitions.
    pub fn new(budget: usize, partitions: u32) -> Self {
        let budget = budget.max(256 << 10);
        Self {
            budget,
            partitions: partitions.max(1),
            // Reserved, not touched: resident only as it fills.
            arena: Vec::with_capacity(budget),
            entries: Vec::new(),
            slots: vec![0; 1024],
            order: Vec::new(),
            sorted: false,
            records: 0,
            bytes: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn keys(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the budget in use (or reserved for the next spill's sort).
    pub fn used(&self) -> usize {
        self.arena.len()
            + self.entries.capacity() * ENTRY
            + self.slots.len() * SLOT
            + self.order.capacity().max(self.entries.len()) * SORT_ITEM
    }

    pub fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
        self.slots.fill(0);
        self.order.clear();
        self.sorted = false;
        self.records = 0;
        self.bytes = 0;
    }

    fn fits(&self, extra: usize) -> bool {
        self.used() + extra <= self.budget
    }

    /// Adds one line (without its `\n`). False when the buffer is full:
    /// spill, clear and add it again. An empty buffer takes any line, even
    /// one larger than the budget.
    #[inline]
    pub fn insert(&mut self, line: &[u8]) -> bool {
        let key_len = memchr::memchr(b'\t', line).unwrap_or(line.len());
        self.insert_hashed(line, key_len, hash_key(&line[..key_len]))
    }

    /// Adds lines until the buffer is full; returns how many it took.
    /// Looks up a batch's slots and entries ahead of adding them (memory
    /// prefetches), so their cache misses overlap instead of adding up.
    pub fn insert_many(&mut self, lines: &[&[u8]]) -> usize {
        const BATCH: usize = 16;
        let mut done = 0;
        for batch in lines.chunks(BATCH) {
            let mut meta = [(0usize, 0u64); BATCH];
            let mask = self.slots.len() - 1;
            for (m, line) in meta.iter_mut().zip(batch) {
                let key_len = memchr::memchr(b'\t', line).unwrap_or(line.len());
                let hash = hash_key(&line[..key_len]);
                *m = (key_len, hash);
                prefetch(&self.slots[hash as usize & mask]);
            }
            for (key_len, hash) in &meta[..batch.len()] {
                let _ = key_len;
                let slot = self.slots[*hash as usize & mask];
                if slot != 0
                    && let Some(e) = self.entries.get((slot as u32 - 1) as usize)
                {
                    prefetch(e);
                }
            }
            for (j, line) in batch.iter().enumerate() {
                let (key_len, hash) = meta[j];
                if !self.insert_hashed(line, key_len, hash) {
                    return done + j;
                }
            }
            done += batch.len();
        }
        done
    }

    #[inline]
    fn insert_hashed(&mut self, line: &[u8], key_len: usize, hash: u64) -> bool {
        debug_assert!(!self.sorted);
        let (key, value) = line.split_at(key_len);
        let tag = hash >> 32;
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                break;
            }
            if slot >> 32 == tag {
                let i = (slot as u32 - 1) as usize;
                if self.key_is(i, key) {
                    let added = self.append(i, value);
                    if added {
                        self.records += 1;
                        self.bytes += line.len() as u64 + 1;
                    }
                    return added;
                }
            }
            at = (at + 1) & mask;
        }
        let added = self.add(key, hash, value, at);
        if added {
            self.records += 1;
            self.bytes += line.len() as u64 + 1;
        }
        added
    }

    #[inline]
    fn key_is(&self, i: usize, key: &[u8]) -> bool {
        let e = &self.entries[i];
        if e.key_len as usize != key.len() {
            return false;
        }
        if key.len() <= INLINE_KEY {
            &e.key_inline[..key.len()] == key
        } else {
            &self.arena[e.key_off as usize..e.key_off as usize + key.len()] == key
        }
    }

    #[inline]
    fn get_u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.arena[at..at + 4].try_into().expect("4 bytes"))
    }

    #[inline]
    fn set_u32(&mut self, at: usize, v: u32) {
        self.arena[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// A chunk with room for `cap` bytes at the end of the arena.
    fn alloc_chunk(&mut self, cap: usize) -> usize {
        let at = self.arena.len();
        self.arena.resize(at + CHUNK_HEADER + cap, 0);
        self.set_u32(at, NONE);
        self.set_u32(at + 4, (at + CHUNK_HEADER) as u32);
        self.set_u32(at + 8, (at + CHUNK_HEADER + cap) as u32);
        at
    }

    /// Writes a value record (count 1) at `at`.
    #[inline]
    fn put_record(&mut self, at: usize, value: &[u8]) {
        self.set_u32(at, 1);
        let mut pos = at + 4;
        let mut len = value.len() as u64;
        while len >= 0x80 {
            self.arena[pos] = len as u8 | 0x80;
            len >>= 7;
            pos += 1;
        }
        self.arena[pos] = len as u8;
        pos += 1;
        self.arena[pos..pos + value.len()].copy_from_slice(value);
    }

    fn record_len(value: &[u8]) -> usize {
        4 + varint_len(value.len() as u64) + value.len()
    }

    fn too_big(&self, extra: usize) -> bool {
        self.arena.len() + extra >= NONE as usize
    }

    /// The memory a new key needs beyond its bytes in the arena: growing
    /// the entries (a realloc, which moves pages rather than copying) or
    /// the slots (new and old both live while rehashing).
    fn growth(&self) -> usize {
        let mut extra = SORT_ITEM;
        if self.entries.len() == self.entries.capacity() {
            extra += self.entries.capacity().max(512) * ENTRY;
        }
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            extra += self.slots.len() * 2 * SLOT;
        }
        extra
    }

    fn add(&mut self, key: &[u8], hash: u64, value: &[u8], slot: usize) -> bool {
        let need = Self::record_len(value);
        let size = key.len() + CHUNK_HEADER + need;
        let empty = self.is_empty();
        if (!empty && !self.fits(size + self.growth())) || self.too_big(size) || self.entries.len() >= NONE as usize - 1
        {
            return false;
        }
        let key_off = self.arena.len();
        self.arena.extend_from_slice(key);
        let chunk = self.alloc_chunk(need);
        let rec = chunk + CHUNK_HEADER;
        self.put_record(rec, value);
        self.set_u32(chunk + 4, (rec + need) as u32);
        if self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact(self.entries.capacity().max(512));
        }
        let mut e = Entry {
            hash,
            key_off: key_off as u32,
            key_len: key.len() as u32,
            part: hadoop_partition(key, self.partitions),
            head: chunk as u32,
            tail: chunk as u32,
            last: rec as u32,
            last_count: 1,
            last_len: value.len() as u32,
            key_inline: [0; INLINE_KEY],
            value_inline: [0; INLINE_VALUE],
        };
        let n = key.len().min(INLINE_KEY);
        e.key_inline[..n].copy_from_slice(&key[..n]);
        let n = value.len().min(INLINE_VALUE);
        e.value_inline[..n].copy_from_slice(&value[..n]);
        let idx = self.entries.len();
        self.entries.push(e);
        self.slots[slot] = (hash >> 32) << 32 | (idx as u64 + 1);
        if self.entries.len() * 2 > self.slots.len() {
            self.grow_slots();
        }
        true
    }

    fn grow_slots(&mut self) {
        let mut slots = vec![0u64; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (i, e) in self.entries.iter().enumerate() {
            let mut at = e.hash as usize & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = (e.hash >> 32) << 32 | (i as u64 + 1);
        }
        self.slots = slots;
    }

    #[inline]
    fn same_as_last(&self, e: &Entry, value: &[u8]) -> bool {
        if e.last_len as usize != value.len() {
            return false;
        }
        if value.len() <= INLINE_VALUE {
            return &e.value_inline[..value.len()] == value;
        }
        let at = e.last as usize;
        let (_, n) = get_varint(&self.arena[at + 4..]);
        &self.arena[at + 4 + n..at + 4 + n + value.len()] == value
    }

    #[inline]
    fn append(&mut self, i: usize, value: &[u8]) -> bool {
        let e = self.entries[i];
        if e.last_count < u32::MAX && self.same_as_last(&e, value) {
            self.entries[i].last_count += 1;
            return true;
        }
        let need = Self::record_len(value);
        let tail = e.tail as usize;
        let end = self.get_u32(tail + 4) as usize;
        let cap_end = self.get_u32(tail + 8) as usize;
        let rec = if cap_end - end >= need {
            self.set_u32(tail + 4, (end + need) as u32);
            end
        } else {
            let prev = cap_end - (tail + CHUNK_HEADER);
            let cap = need.max((prev * 2).min(MAX_CHUNK));
            if !self.fits(CHUNK_HEADER + cap) || self.too_big(CHUNK_HEADER + cap) {
                return false;
            }
            let chunk = self.alloc_chunk(cap);
            self.set_u32(tail, chunk as u32);
            self.entries[i].tail = chunk as u32;
            let rec = chunk + CHUNK_HEADER;
            self.set_u32(chunk + 4, (rec + need) as u32);
            rec
        };
        // The finished value's true count goes back to its record.
        self.set_u32(e.last as usize, e.last_count);
        self.put_record(rec, value);
        let e = &mut self.entries[i];
        e.last = rec as u32;
        e.last_count = 1;
        e.last_len = value.len() as u32;
        let n = value.len().min(INLINE_VALUE);
        e.value_inline[..n].copy_from_slice(&value[..n]);
        true
    }

    fn key(&self, idx: u32) -> &[u8] {
        let e = &self.entries[idx as usize];
        &self.arena[e.key_off as usize..e.key_off as usize + e.key_len as usize]
    }

    /// Sorts the distinct keys by (partition, key bytes).
    pub fn sort(&mut self) {
        self.order.clear();
        self.order.reserve_exact(self.entries.len());
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            self.set_u32(e.last as usize, e.last_count);
            let key = &self.arena[e.key_off as usize..e.key_off as usize + e.key_len as usize];
            let mut p = [0u8; 8];
            let n = key.len().min(8);
            p[..n].copy_from_slice(&key[..n]);
            self.order.push(SortItem { part: e.part, idx: i as u32, prefix: u64::from_be_bytes(p) });
        }
        let mut order = std::mem::take(&mut self.order);
        order.sort_unstable_by(|a, b| {
            a.part.cmp(&b.part).then(a.prefix.cmp(&b.prefix)).then_with(|| self.key(a.idx).cmp(self.key(b.idx)))
        });
        self.order = order;
        self.sorted = true;
    }

    /// The partitions present after `sort`, each with its range of sorted keys.
    pub fn partitions(&self) -> Vec<(u32, std::ops::Range<usize>)> {
        debug_assert!(self.sorted);
        let mut out: Vec<(u32, std::ops::Range<usize>)> = Vec::new();
        for (i, item) in self.order.iter().enumerate() {
            match out.last_mut() {
                Some((p, range)) if *p == item.part => range.end = i + 1,
                _ => out.push((item.part, i..i + 1)),
            }
        }
        out
    }

    /// Calls `f(count, value)` for each value of the key at sorted position `pos`.
    fn for_each_value(&self, pos: usize, mut f: impl FnMut(u32, &[u8]) -> io::Result<()>) -> io::Result<()> {
        let e = &self.entries[self.order[pos].idx as usize];
        let mut chunk = e.head as usize;
        loop {
            let end = self.get_u32(chunk + 4) as usize;
            let mut at = chunk + CHUNK_HEADER;
            while at < end {
                let count = self.get_u32(at);
                let (len, n) = get_varint(&self.arena[at + 4..]);
                let start = at + 4 + n;
                f(count, &self.arena[start..start + len as usize])?;
                at = start + len as usize;
            }
            let next = self.get_u32(chunk);
            if next == NONE {
                return Ok(());
            }
            chunk = next as usize;
        }
    }

    /// Writes the sorted keys in `range` as one segment tagged `part`.
    pub fn write_segment(&self, range: std::ops::Range<usize>, part: u32, out: &mut RunWriter) -> io::Result<()> {
        out.begin_segment(part);
        for pos in range {
            out.begin_group(self.key(self.order[pos].idx))?;
            self.for_each_value(pos, |count, value| out.value(count, value))?;
        }
        out.end_segment()
    }

    /// Writes every partition, each as one segment (after `sort`).
    pub fn write_all(&self, out: &mut RunWriter) -> io::Result<()> {
        for (part, range) in self.partitions() {
            self.write_segment(range, part, out)?;
        }
        Ok(())
    }

    /// The key at sorted position `pos` (after `sort`).
    pub fn key_at(&self, pos: usize) -> &[u8] {
        self.key(self.order[pos].idx)
    }

    /// Calls `f(count, value)` for each value of the key at sorted position
    /// `pos`, in arrival order.
    pub fn values_at(&self, pos: usize, f: impl FnMut(u32, &[u8]) -> io::Result<()>) -> io::Result<()> {
        self.for_each_value(pos, f)
    }

    /// The only value record (count, value) of the key at sorted position
    /// `pos`, if it has just one.
    pub fn single_value(&self, pos: usize) -> Option<(u32, &[u8])> {
        let e = &self.entries[self.order[pos].idx as usize];
        let chunk = e.head as usize;
        if self.get_u32(chunk) != NONE {
            return None;
        }
        let at = chunk + CHUNK_HEADER;
        let (len, n) = get_varint(&self.arena[at + 4..]);
        let start = at + 4 + n;
        let end = start + len as usize;
        (end == self.get_u32(chunk + 4) as usize).then(|| (self.get_u32(at), &self.arena[start..end]))
    }
}

#[inline(always)]
fn prefetch<T>(at: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((at as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// The table's hash: fast on short keys, well mixed in the high bits.
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (key.len() as u64).wrapping_mul(K);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().expect("8 bytes"))).wrapping_mul(K).rotate_left(26);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    let m = u128::from(h).wrapping_mul(0xA24B_AED4_963E_E407_u128);
    (m as u64) ^ ((m >> 64) as u64)
}

/// Hadoop's `HashPartitioner` for a `Text` key: `WritableComparator.hashBytes`
/// (h = 31·h + signed byte, from 1), masked positive, modulo the reduces.
pub fn hadoop_partition(key: &[u8], partitions: u32) -> u32 {
    if partitions <= 1 {
        return 0;
    }
    let mut h: i32 = 1;
    for &b in key {
        h = h.wrapping_mul(31).wrapping_add(i32::from(b as i8));
    }
    ((h & i32::MAX) as u32) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapreduce::run::SegmentReader;

    fn lines_of(c: &Collector) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        for (part, range) in c.partitions() {
            for pos in range {
                let key = c.key_at(pos);
                let mut values = Vec::new();
                c.values_at(pos, |count, value| {
                    for _ in 0..count {
                        out.push((part, [key, value, b"\n"].concat()));
                    }
                    values.push((count, value.to_vec()));
                    Ok(())
                })
                .unwrap();
                let single = c.single_value(pos).map(|(count, value)| (count, value.to_vec()));
                assert_eq!(single, (values.len() == 1).then(|| values[0].clone()));
            }
        }
        out
    }

    #[test]
    fn hadoop_partitions_match_java_string_hashes() {
        // Text("hello").hashCode() == "hello".hashCode() for ASCII ... times 31^0 offset:
        // hashBytes starts at 1, String.hashCode at 0, so they differ by 31^len.
        let java = |s: &str| s.bytes().fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(i32::from(b as i8)));
        for key in ["hello", "w1", "", "a longer key with spaces", "caf\u{e9}"] {
            let mut pow = 1i32;
            for _ in 0..key.len() {
                pow = pow.wrapping_mul(31);
            }
            let h = java(key).wrapping_add(pow);
            assert_eq!(hadoop_partition(key.as_bytes(), 7), ((h & i32::MAX) as u32) % 7, "{key}");
        }
        assert_eq!(hadoop_partition(b"anything", 1), 0);
    }

    #[test]
    fn groups_by_key_in_byte_order_with_values_in_arrival_order() {
        let mut c = Collector::new(1 << 20, 1);
        let input: &[&[u8]] = &[b"b\t1", b"a\t2", b"b\t1", b"b\t1", b"a", b"b\t3", b"a\t2", b"", b"ab\tx\ty", b"b\t1"];
        for line in input {
            assert!(c.insert(line));
        }
        assert_eq!(c.records, input.len() as u64);
        assert_eq!(c.keys(), 4);
        c.sort();
        let got: Vec<Vec<u8>> = lines_of(&c).into_iter().map(|(_, l)| l).collect();
        let expect: Vec<&[u8]> = vec![
            b"\n",
            b"a\t2\n",
            b"a\n",
            b"a\t2\n",
            b"ab\tx\ty\n",
            b"b\t1\n",
            b"b\t1\n",
            b"b\t1\n",
            b"b\t3\n",
            b"b\t1\n",
        ];
        assert_eq!(got, expect);
    }

    #[test]
    fn fills_up_within_the_budget_and_round_trips_through_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let budget = 256 << 10;
        let mut c = Collector::new(budget, 3);
        let mut n = 0u64;
        loop {
            let line = format!("key{}\tvalue {n} {}", n % 1000, "x".repeat((n % 50) as usize));
            if !c.insert(line.as_bytes()) {
                break;
            }
            n += 1;
        }
        assert!(n > 1000, "{n}");
        assert!(c.used() <= budget, "{} > {budget}", c.used());
        c.sort();
        let expected = lines_of(&c);
        let mut w = RunWriter::create(&dir.path().join("r")).unwrap();
        c.write_all(&mut w).unwrap();
        let run = w.finish().unwrap();
        assert_eq!(run.segments.len(), 3);
        let mut got = Vec::new();
        let mut v = Vec::new();
        for seg in &run.segments {
            let mut r = SegmentReader::open(&run.path, seg).unwrap();
            while r.next_key().unwrap() {
                while let Some(count) = r.next_value(&mut v).unwrap() {
                    for _ in 0..count {
                        got.push((seg.part, [r.key.as_slice(), v.as_slice(), b"\n"].concat()));
                    }
                }
            }
        }
        assert_eq!(got, expected);
        for (part, line) in &got {
            let key = line.split(|&b| b == b'\t').next().unwrap();
            assert_eq!(*part, hadoop_partition(key, 3));
        }
        // An empty buffer takes a line larger than the budget.
        c.clear();
        assert!(c.insert(&vec![b'z'; budget * 2]));
        assert!(!c.insert(b"another"));
    }

    #[test]
    fn repeated_values_are_counted_not_stored() {
        let mut c = Collector::new(1 << 20, 1);
        assert!(c.insert(b"w1\t1"));
        let after_one = c.used();
        for _ in 1..1_000_000 {
            assert!(c.insert(b"w1\t1"));
        }
        assert_eq!(c.used(), after_one, "a repeated value must not take more memory");
        assert_eq!(c.records, 1_000_000);
        c.sort();
        assert_eq!(lines_of(&c).len(), 1_000_000);
    }
}
