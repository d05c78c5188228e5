//! Issue 11: a structure-aware fuzz test. Checkpoints, binary datasets, IDX files and CSV files
//! are mutated where their structure says it matters (bincode varints and length prefixes,
//! header fields, cells, metadata, dimension sizes, quotes and separators), and checksums are
//! recomputed afterwards, so the decoders behind them run instead of stopping at the CRC.
//!
//! Every decode must end in `Ok` with a dataset or model that holds what it promises (finite
//! features, classes in range, a checkpoint that encodes and loads again) or in `Err`: never a
//! panic, an abort, a hang or a memory blow-up. The bulk runs in process, inside a child copy of
//! this test binary that runs under an address-space limit, so an allocation the decoders' own
//! limits should have refused kills the child, not the test run, and is reported with its case.
//! A smaller number of cases run the real binary (`inspect`, `evaluate`, `train --epochs 1`)
//! under a memory limit and a timeout: exit 0, or 2 with `error:` and the file's name.
//!
//! Seeded: `SHARDPROP_FUZZ_SEED` (a number, or `random`), `SHARDPROP_FUZZ_CASES` (in-process
//! cases), `SHARDPROP_FUZZ_RUNS` (runs of the binary), `SHARDPROP_FUZZ_ONLY` (one case index).
//! Every failure prints the seed and case index and keeps the input in a temp file it names.
//! `SHARDPROP_FUZZ_STATS=1` also prints how often each refusal happened (how deep cases reach).
//!
//! Longer than most files: the mutators of the four formats, the child-process harness and the
//! runs of the binary share the seeded case generator, and are read together.

use crate::common::{Meta, Quiet, gzip, iris, limit_address_space, reseal_binary};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use shardprop::data::binary::{self, BinaryWriter};
use shardprop::data::{self, CsvOptions, Examples, Target, Task};
use shardprop::optim::{Method, Schedule};
use shardprop::run::checkpoint::Checkpoint;
use shardprop::run::session::{Architecture, Session};
use shardprop::run::spec::RunSpec;
use shardprop::{Activation, TrainConfig};

const DEFAULT_SEED: u64 = 0x5eed_0011;
const DEFAULT_CASES: u64 = 4000;
const DEFAULT_RUNS: u64 = 40;
/// Address space of the child that decodes in process: its own baseline (about 140 MiB) plus
/// about 1 GiB, so a case that allocates more than that aborts the child (and is reported).
const CHILD_AS_BYTES: u64 = 1200 << 20;
/// Address space of each run of the binary.
const BINARY_AS_BYTES: u64 = 4 << 30;
/// A run of the binary that takes longer is a hang.
const BINARY_TIMEOUT: Duration = Duration::from_secs(20);
/// The whole in-process child; it normally takes a few seconds.
const CHILD_TIMEOUT: Duration = Duration::from_secs(240);
/// One in-process case that takes longer is reported (inputs are a few KB).
const SLOW_CASE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Seeds and randomness

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if v == "random" => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        }
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?}: expected a number")),
        Err(_) => default,
    }
}

fn seed() -> u64 {
    env_u64("SHARDPROP_FUZZ_SEED", DEFAULT_SEED)
}

/// SplitMix64: small, portable, and every case gets its own stream from (seed, case).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, case: u64, salt: u64) -> Self {
        let mut r = Rng(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.wrapping_mul(0xd1b5_4a32_d192_ed03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const SPECIAL: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    9,
    10,
    250,
    251,
    252,
    253,
    254,
    255,
    256,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    1 << 32,
    (1 << 32) + 1,
    1 << 62,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

/// A value of `bits` bits: 0, 1, max, max − 1, 2^31, 2^32, 2^63, small or random.
fn interesting(r: &mut Rng, bits: u32) -> u64 {
    let max = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    match r.below(6) {
        0 => max,
        1 => max - 1,
        2 => r.next() & max,
        3 => r.below(16) as u64,
        _ => *r.pick(SPECIAL) & max,
    }
}

fn weird_f32(r: &mut Rng) -> f32 {
    let v = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        2.5,
        3.0,
        1e30,
        -1e30,
        16_777_217.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        1e-45,
    ];
    if r.chance(5) { f32::from_bits(r.next() as u32) } else { *r.pick(&v) }
}

fn weird_f64(r: &mut Rng) -> f64 {
    let v = [0.0, -0.0, 1.0, -1.0, 0.999_999, 1.0 + 1e-12, 1e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX];
    if r.chance(5) { f64::from_bits(r.next()) } else { *r.pick(&v) }
}

// ---------------------------------------------------------------------------------------------
// bincode structure: where each primitive of a payload lies

/// A bincode reader that records the offset and length of every read: one per primitive (a
/// varint's first byte, its tail, a float, a string's bytes), so mutations can hit fields.
struct Tracer<'a> {
    bytes: &'a [u8],
    pos: usize,
    reads: Vec<(usize, usize)>,
}

impl bincode::de::read::Reader for Tracer<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let end = self.pos + out.len();
        if end > self.bytes.len() {
            return Err(bincode::error::DecodeError::UnexpectedEnd { additional: end - self.bytes.len() });
        }
        out.copy_from_slice(&self.bytes[self.pos..end]);
        self.reads.push((self.pos, out.len()));
        self.pos = end;
        Ok(())
    }
}

/// A valid payload and the primitives it is made of.
#[derive(Clone)]
struct Traced {
    bytes: Vec<u8>,
    tokens: Vec<(usize, usize)>,
}

fn trace<T: DeserializeOwned>(bytes: &[u8]) -> Traced {
    let mut t = Tracer { bytes, pos: 0, reads: Vec::new() };
    let cfg = bincode::config::standard().with_limit::<{ 1 << 26 }>();
    bincode::serde::decode_from_reader::<T, _, _>(&mut t, cfg).expect("a base payload decodes");
    assert_eq!(t.pos, bytes.len(), "a base payload is read whole");
    Traced { bytes: bytes.to_vec(), tokens: t.reads }
}

/// `v` as a bincode varint: minimal, or (sometimes) wider than needed.
fn varint(r: &mut Rng, v: u64) -> Vec<u8> {
    let wide = r.chance(6);
    let mut out = Vec::new();
    if v < 251 && !wide {
        out.push(v as u8);
    } else if v <= u16::MAX as u64 && !(wide && r.chance(2)) {
        out.push(251);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v <= u32::MAX as u64 && !(wide && r.chance(2)) {
        out.push(252);
        out.extend_from_slice(&(v as u32).to_le_bytes());
    } else if !(wide && r.chance(2)) {
        out.push(253);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(254);
        out.extend_from_slice(&(v as u128).to_le_bytes());
    }
    out
}

/// A token of a length accepted by `ok`, or `None`.
fn pick_token(r: &mut Rng, t: &[(usize, usize)], ok: impl Fn(usize) -> bool) -> Option<usize> {
    let candidates: Vec<usize> = (0..t.len()).filter(|&i| ok(t[i].1)).collect();
    (!candidates.is_empty()).then(|| *r.pick(&candidates))
}

/// A mutation that keeps every byte where it was.
fn in_place(r: &mut Rng, b: &mut [u8], t: &[(usize, usize)]) {
    if b.is_empty() {
        return;
    }
    match r.below(5) {
        0 => {
            let i = r.below(b.len());
            b[i] ^= 1 << r.below(8);
        }
        1 => {
            if let Some(i) = pick_token(r, t, |n| n == 4 || n == 8) {
                let (at, n) = t[i];
                if n == 4 {
                    b[at..at + 4].copy_from_slice(&weird_f32(r).to_le_bytes());
                } else if r.chance(2) {
                    b[at..at + 8].copy_from_slice(&weird_f64(r).to_le_bytes());
                } else {
                    b[at..at + 8].copy_from_slice(&interesting(r, 64).to_le_bytes());
                }
            }
        }
        2 => {
            // An option tag, a bool, an enum variant or a one-byte varint.
            if let Some(i) = pick_token(r, t, |n| n == 1) {
                b[t[i].0] = interesting(r, 8) as u8;
            }
        }
        3 => {
            if let Some(i) = pick_token(r, t, |n| matches!(n, 2 | 4 | 8 | 16)) {
                let (at, n) = t[i];
                let v = interesting(r, (8 * n).min(64) as u32).to_le_bytes();
                b[at..at + n.min(8)].copy_from_slice(&v[..n.min(8)]);
            }
        }
        _ => {
            let i = r.below(b.len());
            b[i] = *r.pick(&[0, 1, 0x7f, 0x80, 0xff]);
        }
    }
}

/// One to three structure-aware mutations of a bincode payload: in-place ones first, then one
/// that may move bytes (a varint or length prefix replaced by a value of another width,
/// primitives deleted, duplicated or spliced from a donor of the same type, truncation,
/// extension).
fn mutate_bincode(r: &mut Rng, base: &Traced, donors: &[&Traced]) -> Vec<u8> {
    let t = &base.tokens;
    let mut b = base.bytes.clone();
    for _ in 0..r.below(3) {
        in_place(r, &mut b, t);
    }
    let token_range = |r: &mut Rng, t: &[(usize, usize)]| {
        let i = r.below(t.len());
        let j = (i + 1 + r.below(8)).min(t.len());
        (t[i].0, t[j - 1].0 + t[j - 1].1)
    };
    match r.below(12) {
        0..=4 => {
            // Varints: lengths of strings and vectors, enum variants, counters.
            if let Some(i) = pick_token(r, t, |n| n == 1) {
                let at = t[i].0;
                let tail = matches!(b[at], 251..=254) && i + 1 < t.len() && t[i + 1].0 == at + 1;
                let end = if tail { t[i + 1].0 + t[i + 1].1 } else { at + 1 };
                let bits = *r.pick(&[8, 16, 32, 64]);
                let v = interesting(r, bits);
                let enc = varint(r, v);
                b.splice(at..end, enc);
            }
        }
        5 => {
            let (s, e) = token_range(r, t);
            b.drain(s..e);
        }
        6 => {
            let (s, e) = token_range(r, t);
            let dup = b[s..e].to_vec();
            b.splice(s..s, dup);
        }
        7 | 8 => {
            let d = donors[r.below(donors.len())];
            let (s, e) = token_range(r, t);
            let (ds, de) = token_range(r, &d.tokens);
            b.splice(s..e, d.bytes[ds..de].iter().copied());
        }
        9 => b.truncate(r.below(b.len())),
        10 => {
            for _ in 0..1 + r.below(16) {
                b.push(r.next() as u8);
            }
        }
        _ => in_place(r, &mut b, t),
    }
    b
}

// ---------------------------------------------------------------------------------------------
// Base files, valid, that mutations start from

fn trained(method: Method, schedule: Schedule, patience: usize, regression: bool) -> Checkpoint {
    let spec = RunSpec {
        validation: if patience > 0 { 0.2 } else { 0.0 },
        patience,
        regression,
        target: regression.then(|| "petal_width".to_string()),
        scale: if regression { data::Scale::MinMax } else { data::Scale::Standard },
        ..RunSpec::new(iris())
    };
    let arch = Architecture { hidden: vec![3], activation: Activation::Tanh, cross_entropy: !regression };
    let cfg = TrainConfig { epochs: 2, batch_size: 32, lr: 0.05, optimizer: method, schedule, ..Default::default() };
    let (mut s, _) = Session::start(spec, &arch, cfg, 1).expect("iris trains");
    s.run(None, &mut Quiet).expect("iris trains");
    s.checkpoint()
}

struct BinBase {
    bytes: Vec<u8>,
    meta: Traced,
}

struct Bases {
    /// Checkpoint payloads (bincode of `Checkpoint`); the first is an iris classifier.
    ckpts: Vec<Traced>,
    bins: Vec<BinBase>,
    /// IDX (images, labels) pairs.
    idx: Vec<(Vec<u8>, Vec<u8>)>,
    csvs: Vec<Vec<u8>>,
}

fn binary_file(dir: &Path, name: &str, nf: usize, task: &Task, rows: usize) -> Vec<u8> {
    let p = dir.join(name);
    let names: Vec<String> = (0..nf).map(|j| format!("f{j}")).collect();
    let mut w = BinaryWriter::create(&p, nf, task).unwrap();
    for i in 0..rows {
        let x: Vec<f32> = (0..nf).map(|j| (i * 7 + j * 3) as f32 * 0.25 - 1.0).collect();
        match task.classes() {
            Some(c) => w.push(&x, Target::Class(i % c.len())).unwrap(),
            None => {
                let y: Vec<f32> = (0..task.n_outputs()).map(|t| (i + t) as f32).collect();
                w.push(&x, Target::Values(&y)).unwrap()
            }
        }
    }
    w.finish(task, &names).unwrap();
    std::fs::read(&p).unwrap()
}

fn meta_of(bytes: &[u8]) -> Traced {
    let len = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    trace::<Meta>(&bytes[bytes.len() - len..])
}

fn idx_pair(n: usize, h: usize, w: usize) -> (Vec<u8>, Vec<u8>) {
    let mut img = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        img.extend_from_slice(&(d as u32).to_be_bytes());
    }
    img.extend((0..n * h * w).map(|i| (i * 37 % 256) as u8));
    let mut lab = vec![0, 0, 8, 1];
    lab.extend_from_slice(&(n as u32).to_be_bytes());
    lab.extend((0..n).map(|i| (i * 3 % 10) as u8));
    (img, lab)
}

impl Bases {
    fn build() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ckpts = [
            trained(
                Method::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
                Schedule::Step { every: 1, gamma: 0.5 },
                3,
                false,
            ),
            trained(Method::Momentum { mu: 0.9 }, Schedule::Cosine { epochs: 2, min_lr: 0.001 }, 0, false),
            trained(Method::parse("rprop", 0.0).unwrap(), Schedule::Constant, 0, false),
            trained(Method::GradientDescent, Schedule::Constant, 0, true),
        ];
        let ckpts = ckpts.iter().map(|c| trace::<Checkpoint>(&c.to_bytes().unwrap()[24..])).collect();
        let iris_bin = dir.path().join("iris.bin");
        data::convert(&iris(), &iris_bin, &CsvOptions::default()).unwrap();
        let classes = Task::Classification { classes: vec!["a".into(), "b".into(), "c".into()] };
        let values = Task::Regression { targets: vec!["y1".into(), "y2".into()] };
        let bins = [
            std::fs::read(&iris_bin).unwrap(),
            binary_file(dir.path(), "c.bin", 3, &classes, 6),
            binary_file(dir.path(), "r.bin", 2, &values, 5),
        ];
        let bins = bins.into_iter().map(|bytes| BinBase { meta: meta_of(&bytes), bytes }).collect();
        let idx = vec![idx_pair(3, 2, 3), idx_pair(5, 4, 4), idx_pair(1, 1, 1)];
        let iris_text = std::fs::read_to_string(iris()).unwrap();
        let iris_head: String = iris_text.lines().step_by(10).map(|l| format!("{l}\n")).collect();
        let csvs = vec![
            iris_head.into_bytes(),
            b"1,2,0\n3,4,1\n5,6,1\n-1.5e3,0.25,0\n".to_vec(),
            b"\"x, one\",x2,kind\r\n\"1.5\",2,\"set\"\"osa\"\r\n3,4,virginica\r\n\r\n5,6,\"multi\nline\"\r\n".to_vec(),
            b"a;b\n1,2\n".to_vec(),
            b"x,y,z,t\n0.1,0.2,0.3,1.5\n1e-3,-2,4,2.5\n7,8,9,-0.5\n".to_vec(),
        ];
        Self { ckpts, bins, idx, csvs }
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Checkpoint,
    Binary,
    Idx,
    Csv,
}

struct Case {
    kind: Kind,
    /// Files to write: (name, bytes); the first is the input given to the decoder.
    files: Vec<(String, Vec<u8>)>,
    csv: CsvOptions,
    /// Binary datasets: verify at open (else rows are checked afterwards); checkpoints: read
    /// through `Checkpoint::load` (else `from_bytes`).
    flag: bool,
}

fn frame_checkpoint(version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = b"SHPCKPT\0".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn mutate_checkpoint(r: &mut Rng, b: &Bases, base: usize) -> Vec<u8> {
    let donors: Vec<&Traced> = b.ckpts.iter().collect();
    let base = &b.ckpts[base];
    if r.chance(10) {
        // The framing itself, left unsealed.
        let mut f = frame_checkpoint(*r.pick(&[1, 2]), &base.bytes);
        match r.below(4) {
            0 => f[8..12].copy_from_slice(&(interesting(r, 32) as u32).to_le_bytes()),
            1 => f[12..20].copy_from_slice(&interesting(r, 64).to_le_bytes()),
            2 => f.truncate(r.below(30)),
            _ => f.extend_from_slice(&[0; 7]),
        }
        return f;
    }
    let payload = mutate_bincode(r, base, &donors);
    frame_checkpoint(if r.chance(5) { 1 } else { 2 }, &payload)
}

fn mutate_binary(r: &mut Rng, bases: &Bases, base: usize) -> Vec<u8> {
    let base = &bases.bins[base];
    let mut b = base.bytes.clone();
    let meta_len = base.meta.bytes.len();
    let cells = (b.len() - binary::HEADER_LEN - meta_len) / 4;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as u64;
    match r.below(10) {
        0..=2 => {
            // A header field; sometimes the rows are refitted to the new sizes, so the checks
            // behind the size check run.
            let fields: &[(usize, u32)] =
                &[(8, 32), (12, 32), (16, 64), (24, 32), (28, 32), (32, 32), (36, 32), (40, 64), (52, 32), (56, 32)];
            let &(at, bits) = r.pick(fields);
            let v = interesting(r, bits);
            b[at..at + bits as usize / 8].copy_from_slice(&v.to_le_bytes()[..bits as usize / 8]);
            if r.chance(2) {
                let rows = u64::from_le_bytes(b[16..24].try_into().unwrap()) as u128;
                let width = u32_at(&b, 24) as u128 + if u32_at(&b, 32) == 0 { 1 } else { u32_at(&b, 28) as u128 };
                let need = rows * width * 4;
                if need <= 1 << 20 {
                    let old = &base.bytes[binary::HEADER_LEN..base.bytes.len() - meta_len];
                    let rows_bytes: Vec<u8> = old.iter().copied().cycle().take(need as usize).collect();
                    let mut out = b[..binary::HEADER_LEN].to_vec();
                    out.extend(rows_bytes);
                    out.extend_from_slice(&base.meta.bytes);
                    b = out;
                }
            }
        }
        3 => {
            let cell = r.below(cells);
            let at = binary::HEADER_LEN + 4 * cell;
            b[at..at + 4].copy_from_slice(&weird_f32(r).to_le_bytes());
        }
        4..=6 => {
            let donors: Vec<&Traced> = bases.bins.iter().map(|d| &d.meta).collect();
            let meta = mutate_bincode(r, &base.meta, &donors);
            b.truncate(b.len() - meta_len);
            if !r.chance(8) {
                b[40..48].copy_from_slice(&(meta.len() as u64).to_le_bytes());
            }
            b.extend_from_slice(&meta);
        }
        7 => b.truncate(r.below(b.len())),
        8 => {
            let n = 1 + r.below(64);
            b.extend((0..n).map(|_| if r.chance(2) { 0 } else { r.next() as u8 }));
        }
        _ => {
            // The metadata of another base file behind these rows.
            let other = &bases.bins[r.below(bases.bins.len())].meta.bytes;
            b.truncate(b.len() - meta_len);
            b[40..48].copy_from_slice(&(other.len() as u64).to_le_bytes());
            b.extend_from_slice(other);
        }
    }
    if !r.chance(10) {
        reseal_binary(&mut b);
    }
    b
}

fn mutate_idx(r: &mut Rng, bases: &Bases) -> Vec<(String, Vec<u8>)> {
    let (img, lab) = r.pick(&bases.idx);
    let (mut img, mut lab) = (img.clone(), lab.clone());
    for _ in 0..1 + r.below(2) {
        let target = if r.chance(3) { &mut lab } else { &mut img };
        if target.len() < 4 {
            continue;
        }
        match r.below(7) {
            0..=2 => {
                // A dimension size; sometimes the data is refitted to it.
                let dims = (target[3] as usize).min(3);
                if target.len() < 4 + 4 * dims || dims == 0 {
                    continue;
                }
                let d = r.below(dims);
                let v = interesting(r, 32) as u32;
                target[4 + 4 * d..8 + 4 * d].copy_from_slice(&v.to_be_bytes());
                if r.chance(2) {
                    let size = (0..dims).try_fold(1u64, |acc, d| {
                        let s = u32::from_be_bytes(target[4 + 4 * d..8 + 4 * d].try_into().unwrap()) as u64;
                        acc.checked_mul(s)
                    });
                    if let Some(size) = size.filter(|&s| s <= 1 << 20) {
                        target.truncate(4 + 4 * dims);
                        target.extend((0..size).map(|i| (i % 10) as u8));
                    }
                }
            }
            3 => {
                let i = r.below(4);
                target[i] = interesting(r, 8) as u8;
            }
            4 => {
                let n = r.below(target.len());
                target.truncate(n);
            }
            5 => {
                let n = 1 + r.below(32);
                target.extend((0..n).map(|_| r.next() as u8));
            }
            _ => {
                if let Some(i) = (target.len() > 4).then(|| 4 + r.below(target.len() - 4)) {
                    target[i] = interesting(r, 8) as u8;
                }
            }
        }
    }
    let mut files = Vec::new();
    for (stem, mut bytes) in [("fz-images-idx3-ubyte", img), ("fz-labels-idx1-ubyte", lab)] {
        let mut name = stem.to_string();
        if r.chance(4) {
            bytes = gzip(&bytes);
            name.push_str(".gz");
            if r.chance(4) && bytes.len() > 10 {
                // A damaged gzip stream.
                let i = 10 + r.below(bytes.len() - 10);
                if r.chance(2) {
                    bytes.truncate(i);
                } else {
                    bytes[i] ^= 1 << r.below(8);
                }
            }
        }
        files.push((name, bytes));
    }
    files
}

const CSV_INSERTS: &[&[u8]] = &[
    b"\"",
    b",",
    b"\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"\"\"",
    b",,",
    b" ",
    b"\t",
    b"1e39",
    b"-1e309",
    b"340282366920938463463374607431768211456",
    b"99999999999999999999999999",
    b"NaN",
    b"nan",
    b"inf",
    b"-inf",
    b"Infinity",
    b"1e-50",
    b"-0",
    b"0x1F",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xa8",
];

fn mutate_csv(r: &mut Rng, bases: &Bases) -> (Vec<u8>, CsvOptions) {
    let mut b = r.pick(&bases.csvs).clone();
    for _ in 0..1 + r.below(4) {
        let len = b.len();
        match r.below(8) {
            0 if len > 0 => {
                let s = r.below(len);
                let e = (s + 1 + r.below(8)).min(len);
                b.drain(s..e);
            }
            1 if len > 0 => {
                let s = r.below(len);
                let e = (s + 1 + r.below(24)).min(len);
                let dup = b[s..e].to_vec();
                b.splice(s..s, dup);
            }
            2 if len > 1 => {
                let (i, j) = (r.below(len), r.below(len));
                b.swap(i, j);
            }
            3 => {
                let at = r.below(len + 1);
                for _ in 0..200 + r.below(2000) {
                    b.insert(at, b'9');
                }
            }
            _ => {
                let at = r.below(len + 1);
                let ins = *r.pick(CSV_INSERTS);
                b.splice(at..at, ins.iter().copied());
            }
        }
    }
    let mut opts = CsvOptions::default();
    match r.below(6) {
        0 => opts.header = Some(r.chance(2)),
        1 => {
            opts.regression = true;
            opts.target = Some(r.pick(&["0", "1", "x", "sepal_length"]).to_string());
        }
        2 => opts.skip_bad_rows = true,
        3 => opts.target = Some(r.pick(&["0", "2", "7", "species", "kind", ""]).to_string()),
        _ => {}
    }
    if r.chance(8) {
        b = gzip(&b);
    }
    (b, opts)
}

/// Case `k` of a run seeded with `seed`: a pure function of both, so a failure can be rebuilt.
fn make_case(bases: &Bases, seed: u64, k: u64) -> Case {
    let mut r = Rng::new(seed, k, 1);
    let kind = match k % 8 {
        0..=2 => Kind::Checkpoint,
        3 | 4 => Kind::Binary,
        5 => Kind::Idx,
        _ => Kind::Csv,
    };
    let flag = r.chance(2);
    let (files, csv) = match kind {
        Kind::Checkpoint => {
            let base = r.below(bases.ckpts.len());
            (vec![("fz.ckpt".to_string(), mutate_checkpoint(&mut r, bases, base))], CsvOptions::default())
        }
        Kind::Binary => {
            let base = r.below(bases.bins.len());
            (vec![("fz.bin".to_string(), mutate_binary(&mut r, bases, base))], CsvOptions::default())
        }
        Kind::Idx => (mutate_idx(&mut r, bases), CsvOptions::default()),
        Kind::Csv => {
            let (bytes, opts) = mutate_csv(&mut r, bases);
            (vec![("fz.csv".to_string(), bytes)], opts)
        }
    };
    Case { kind, files, csv, flag }
}

/// Keeps a failing case's files under the temp dir; returns where.
fn keep(seed: u64, label: &str, files: &[(String, Vec<u8>)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shardprop-fuzz-seed{seed}-{label}"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir.join(&files[0].0)
}

fn rerun_hint(seed: u64, k: u64) -> String {
    format!("rerun: SHARDPROP_FUZZ_SEED={seed} SHARDPROP_FUZZ_ONLY={k} cargo test --release --test integration fuzz")
}

// ---------------------------------------------------------------------------------------------
// Decoding in process

/// What a loaded dataset promises to whoever reads it.
fn check_examples(d: &dyn Examples) -> Result<(), String> {
    if d.n_features() == 0 || d.n_targets() == 0 {
        return Err(format!("loaded with {} features and {} targets", d.n_features(), d.n_targets()));
    }
    data::check_rows(d, 0..d.len()).map_err(|e| format!("loaded, but its rows fail their check: {e}"))?;
    for i in 0..d.len() {
        let x = d.features(i);
        if x.len() != d.n_features() || x.iter().any(|v| !v.is_finite()) {
            return Err(format!("row {i}: features {x:?} (expected {} finite numbers)", d.n_features()));
        }
        match d.target(i) {
            Target::Class(c) if c < d.n_targets() => {}
            Target::Values(v) if v.len() == d.n_targets() && v.iter().all(|v| v.is_finite()) => {}
            t => return Err(format!("row {i}: target {t:?} does not fit {} targets", d.n_targets())),
        }
    }
    Ok(())
}

/// Decodes one case: `Ok(true)` loaded (and checked), `Ok(false)` refused with an error,
/// `Err` a broken promise (a panic, a misread).
fn run_case(dir: &Path, case: &Case, why: &mut Option<String>) -> Result<bool, String> {
    for stem in ["fz-images-idx3-ubyte", "fz-labels-idx1-ubyte"] {
        let _ = std::fs::remove_file(dir.join(stem));
        let _ = std::fs::remove_file(dir.join(format!("{stem}.gz")));
    }
    for (name, bytes) in &case.files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let path = dir.join(&case.files[0].0);
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<bool, String> {
        match case.kind {
            Kind::Checkpoint => {
                let got =
                    if case.flag { Checkpoint::load(&path) } else { Checkpoint::from_bytes(&path, &case.files[0].1) };
                let c = match got {
                    Ok(c) => c,
                    Err(e) => {
                        *why = Some(e.to_string());
                        return Ok(false);
                    }
                };
                // A checkpoint that loads encodes and loads again, equal, and its network runs.
                let again = Checkpoint::from_bytes(&path, &c.to_bytes().map_err(|e| e.to_string())?)
                    .map_err(|e| format!("loaded, but its re-encoding does not: {e}"))?;
                if again != c {
                    return Err("loaded, but its re-encoding loads as another checkpoint".into());
                }
                let x = ndarray::Array2::<f32>::zeros((2, c.network.n_inputs()));
                let out = c.network.predict(x.view());
                if out.dim() != (2, c.network.n_outputs()) {
                    return Err(format!("predict gave shape {:?}", out.dim()));
                }
                let _ = c.network.params_digest();
                Ok(true)
            }
            Kind::Binary | Kind::Idx | Kind::Csv => {
                let (loaded, _skipped) = match data::load(&path, &case.csv, case.flag) {
                    Ok(l) => l,
                    Err(e) => {
                        *why = Some(e.to_string());
                        return Ok(false);
                    }
                };
                match check_examples(loaded.examples()) {
                    Ok(()) => {}
                    // Rows of a binary file opened without the verify pass are checked before use.
                    Err(_) if case.kind == Kind::Binary && !case.flag => return Ok(false),
                    Err(e) => return Err(e),
                }
                if let data::AnyDataset::Mapped(m) = &loaded {
                    for s in [data::Scale::MinMax, data::Scale::Standard] {
                        let _ = m.scaler(s);
                    }
                }
                Ok(true)
            }
        }
    }));
    match outcome {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("panicked: {msg}"))
        }
    }
}

/// The in-process bulk, run by `decoders_never_panic_abort_or_blow_up_memory` in a child copy
/// of this binary under an address-space limit; it does nothing unless started that way.
#[test]
#[ignore = "started by decoders_never_panic_abort_or_blow_up_memory in a child process"]
fn in_process_child() {
    if std::env::var_os("SHARDPROP_FUZZ_CHILD").is_none() {
        return;
    }
    let seed = seed();
    let cases = env_u64("SHARDPROP_FUZZ_CASES", DEFAULT_CASES);
    let only = std::env::var("SHARDPROP_FUZZ_ONLY").ok().map(|v| v.parse::<u64>().expect("a case index"));
    let bases = Bases::build();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut loaded = [0u64; 4];
    let mut refused = [0u64; 4];
    let range = match only {
        Some(k) => k..k + 1,
        None => 0..cases,
    };
    let stats = std::env::var("SHARDPROP_FUZZ_STATS").is_ok_and(|v| !v.is_empty());
    let mut reasons = std::collections::BTreeMap::new();
    let mut err = std::io::stderr().lock();
    for k in range {
        let case = make_case(&bases, seed, k);
        // The parent finds the case an abort or a hang happened in from the last of these.
        writeln!(err, "fuzz-case {k}").unwrap();
        let start = Instant::now();
        let mut why = None;
        let res = run_case(dir.path(), &case, &mut why);
        if let Some(w) = why.filter(|_| stats) {
            // The reason without the path and numbers: how deep the mutations reach.
            let w = w.replace(&dir.path().display().to_string(), "");
            let w: String = w.chars().filter(|c| !c.is_ascii_digit()).take(70).collect();
            *reasons.entry(format!("{:?} {w}", case.kind)).or_insert(0u64) += 1;
        }
        let slow = start.elapsed();
        let res = match res {
            Ok(_) if slow > SLOW_CASE => Err(format!("took {slow:?}")),
            r => r,
        };
        match res {
            Ok(true) => loaded[case.kind as usize] += 1,
            Ok(false) => refused[case.kind as usize] += 1,
            Err(e) => {
                let kept = keep(seed, &format!("case{k}"), &case.files);
                failures.push(format!(
                    "seed {seed} case {k} ({:?}): {e}\n    input kept at {}\n    {}",
                    case.kind,
                    kept.display(),
                    rerun_hint(seed, k)
                ));
            }
        }
    }
    for (w, n) in &reasons {
        writeln!(err, "fuzz-reason {n:6} {w}").unwrap();
    }
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmPeak")).map(str::to_string))
        .unwrap_or_default();
    writeln!(
        err,
        "fuzz-summary: seed {seed}: loaded/refused checkpoints {}/{}, binary {}/{}, idx {}/{}, csv {}/{}; {peak}",
        loaded[0], refused[0], loaded[1], refused[1], loaded[2], refused[2], loaded[3], refused[3]
    )
    .unwrap();
    let shown = failures.len().min(10);
    assert!(
        failures.is_empty(),
        "FUZZ FAILURES ({}; the first {shown}):\n{}",
        failures.len(),
        failures[..shown].join("\n")
    );
}

/// Runs `cmd` with stdout and stderr into files in `dir`; kills it after `timeout`. Returns the
/// status (`None` after a timeout) and stderr.
fn run_limited(mut cmd: Command, dir: &Path, timeout: Duration) -> (Option<ExitStatus>, String) {
    let out = std::fs::File::create(dir.join("stdout")).unwrap();
    let err = std::fs::File::create(dir.join("stderr")).unwrap();
    let mut child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (status, String::from_utf8_lossy(&std::fs::read(dir.join("stderr")).unwrap()).into_owned())
}

#[test]
fn decoders_never_panic_abort_or_blow_up_memory() {
    let seed = seed();
    let cases = env_u64("SHARDPROP_FUZZ_CASES", DEFAULT_CASES);
    println!("fuzz: seed {seed}, {cases} in-process cases (SHARDPROP_FUZZ_SEED, SHARDPROP_FUZZ_CASES)");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["fuzz::in_process_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("SHARDPROP_FUZZ_CHILD", "1")
        .env("SHARDPROP_FUZZ_SEED", seed.to_string())
        .env("SHARDPROP_FUZZ_CASES", cases.to_string())
        .env("SHARDPROP_FUZZ_STATS", std::env::var_os("SHARDPROP_FUZZ_STATS").unwrap_or_default())
        // Few threads and malloc arenas, so the address-space limit measures the decoders.
        .env("RAYON_NUM_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "2");
    limit_address_space(&mut cmd, CHILD_AS_BYTES);
    let (status, stderr) = run_limited(cmd, dir.path(), CHILD_TIMEOUT);
    for line in stderr.lines().filter(|l| l.starts_with("fuzz-summary") || l.starts_with("fuzz-reason")) {
        println!("{line}");
    }
    if status.is_some_and(|s| s.success()) && stderr.contains("fuzz-summary") {
        return;
    }
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("fuzz-case ")).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    if let Some(at) = stderr.find("FUZZ FAILURES") {
        let report: String =
            stderr[at..].lines().take_while(|l| !l.starts_with("stack backtrace")).collect::<Vec<_>>().join("\n");
        panic!("seed {seed}: decoders broke their promise:\n{report}");
    }
    // An abort, a signal or a hang: the case is the last one the child started.
    let last =
        stderr.lines().filter_map(|l| l.strip_prefix("fuzz-case ")).next_back().map(|k| k.parse::<u64>().unwrap());
    let how = match status {
        None => format!("hung (killed after {CHILD_TIMEOUT:?})"),
        Some(s) => format!("died ({s}) under a {} MiB address-space limit", CHILD_AS_BYTES >> 20),
    };
    match last {
        Some(k) => {
            let case = make_case(&Bases::build(), seed, k);
            let kept = keep(seed, &format!("case{k}"), &case.files);
            panic!(
                "seed {seed} case {k} ({:?}): the decoding child {how}\n    input kept at {}\n    {}\n{tail}",
                case.kind,
                kept.display(),
                rerun_hint(seed, k)
            );
        }
        None => panic!("seed {seed}: the decoding child {how} before its first case:\n{tail}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The binary

#[test]
fn the_binary_exits_0_or_2_naming_the_file() {
    let seed = seed();
    let runs = env_u64("SHARDPROP_FUZZ_RUNS", DEFAULT_RUNS);
    println!("fuzz: seed {seed}, {runs} runs of the binary (SHARDPROP_FUZZ_SEED, SHARDPROP_FUZZ_RUNS)");
    let bases = Bases::build();
    let dir = tempfile::tempdir().unwrap();
    let good_model = dir.path().join("good.ckpt");
    std::fs::write(&good_model, frame_checkpoint(2, &bases.ckpts[0].bytes)).unwrap();
    let bin = crate::common::bin();
    let mut codes = [0usize; 2];
    for k in 0..runs {
        let mut r = Rng::new(seed, k, 2);
        let case_dir = dir.path().join(format!("run{k}"));
        std::fs::create_dir(&case_dir).unwrap();
        // The iris bases (checkpoint 0, binary 0, CSV 0), so a mutation that leaves the file
        // valid also fits the model.
        let (files, mode) = match r.below(8) {
            0 | 1 => (vec![("fz.ckpt".to_string(), mutate_checkpoint(&mut r, &bases, 0))], "inspect"),
            2 => (vec![("fz.ckpt".to_string(), mutate_checkpoint(&mut r, &bases, 0))], "evaluate-model"),
            3 => (vec![("fz.csv".to_string(), mutate_csv_of(&mut r, &bases, 0))], "evaluate"),
            4 => (vec![("fz.bin".to_string(), mutate_binary(&mut r, &bases, 0))], "evaluate"),
            5 => (vec![("fz.csv".to_string(), mutate_csv_of(&mut r, &bases, 0))], "train"),
            6 => (vec![("fz.bin".to_string(), mutate_binary(&mut r, &bases, 0))], "train"),
            _ => (mutate_idx(&mut r, &bases), "train"),
        };
        for (name, bytes) in &files {
            std::fs::write(case_dir.join(name), bytes).unwrap();
        }
        let input = case_dir.join(&files[0].0);
        let mut cmd = Command::new(bin);
        match mode {
            "inspect" => {
                cmd.arg("inspect").arg(&input);
            }
            "evaluate-model" => {
                cmd.args(["evaluate", "--threads", "1", "--model"]).arg(&input).arg("--data").arg(iris());
            }
            "evaluate" => {
                cmd.args(["evaluate", "--threads", "1", "--model"]).arg(&good_model).arg("--data").arg(&input);
            }
            _ => {
                cmd.args(["train", "--epochs", "1", "--hidden", "3", "--threads", "1", "--quiet", "--data"])
                    .arg(&input)
                    .arg("--out")
                    .arg(case_dir.join("out.ckpt"));
            }
        }
        limit_address_space(&mut cmd, BINARY_AS_BYTES);
        let (status, stderr) = run_limited(cmd, &case_dir, BINARY_TIMEOUT);
        // Any file the command was given may be the one named (a damaged model's classes can
        // make valid data refuse to match it).
        let mut names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        names.push(if mode == "evaluate-model" { "iris.csv" } else { "good.ckpt" });
        let bad = match status.map(|s| s.code()) {
            None => Some(format!("hung: killed after {BINARY_TIMEOUT:?}")),
            Some(None) => Some(format!("killed by a signal ({})", status.unwrap())),
            Some(Some(0)) => None,
            Some(Some(2)) if stderr.starts_with("error:") && names.iter().any(|n| stderr.contains(n)) => None,
            Some(Some(2)) => Some("exit 2, but stderr does not start with \"error:\" and name the file".into()),
            Some(Some(c)) => Some(format!("exit {c}")),
        };
        if let Some(why) = bad {
            let kept = keep(seed, &format!("run{k}"), &files);
            panic!(
                "seed {seed} binary run {k} ({mode}): {why}\n    input kept at {}\n    rerun: SHARDPROP_FUZZ_SEED={seed} cargo test --release --test integration fuzz::the_binary\n    stderr: {stderr}",
                kept.display()
            );
        }
        codes[status.and_then(|s| s.code()).map_or(0, |c| (c == 2) as usize)] += 1;
        let _ = std::fs::remove_dir_all(&case_dir);
    }
    println!("fuzz: {} runs exited 0, {} exited 2", codes[0], codes[1]);
}

/// A mutated copy of CSV base `i`, with default options.
fn mutate_csv_of(r: &mut Rng, bases: &Bases, i: usize) -> Vec<u8> {
    let one = Bases { ckpts: Vec::new(), bins: Vec::new(), idx: Vec::new(), csvs: vec![bases.csvs[i].clone()] };
    mutate_csv(r, &one).0
}
