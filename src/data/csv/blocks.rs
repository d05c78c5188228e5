//! The parallel CSV parser, a pipeline: one reader thread takes the text (gunzipping it, if the
//! file is gzipped) and cuts it after line ends into blocks of about `block_len` bytes, which go
//! through a channel to worker threads; each worker parses a block with its own class numbering;
//! the calling thread merges the parsed blocks in file order (renumbering classes), so the rows,
//! the skipped lines and the first error are those of the sequential parser.
//!
//! The reader never stops for the parsers: it reads the next block while the current ones are
//! parsed, up to a fixed number of blocks ahead of the merge (so memory stays bounded). What
//! cannot be cut at line ends goes to the sequential parser as a [`Rest`], from the first line
//! not yet handed out: a block with a quote (a quoted field may hold a line end), a line longer
//! than [`MAX_LINE`] so far, or a read error (a damaged gzip stream), which the sequential parser
//! then meets after the same bytes, at the same line, with the same message.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::path::Path;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};

use super::gathered::Gathered;
use super::layout::Layout;
use super::reader::{MAX_LINE, RecordReader};
use crate::data::CsvOptions;
use crate::error::{Error, Result};

/// The text from a line on, not cut into blocks: for the sequential parser.
pub(super) struct Rest {
    /// Bytes already read, from the start of line `line`.
    pub(super) bytes: Vec<u8>,
    /// 1-based line number of the first byte.
    pub(super) line: u64,
    /// Byte offset of the first byte in the (uncompressed) file.
    pub(super) offset: u64,
    /// The rest of the text after `bytes`.
    pub(super) reader: Box<dyn BufRead + Send>,
}

impl Rest {
    /// The sequential parser's records of the rest, from line `line`.
    pub(super) fn into_reader(self, path: &Path) -> RecordReader<'static> {
        let text: Box<dyn BufRead + Send> = Box::new(io::Cursor::new(self.bytes).chain(self.reader));
        RecordReader::from_reader(text, path, self.line, self.offset)
    }
}

/// A run of whole lines, the `index`-th block of the file.
struct Block {
    index: usize,
    bytes: Vec<u8>,
    line: u64,
    offset: u64,
}

/// What reaches the merge: a parsed block, or the end of the blocks (after `index` of them),
/// with the rest of the text when it could not be cut.
enum Done {
    Parsed(usize, Result<Gathered>),
    End(usize, Option<Rest>),
}

/// Parses the text `r`, which starts with the bytes `head` (line `line`, byte `offset`) and has
/// the columns `layout`, with `workers` parser threads, handing every parsed block to `sink` in
/// file order (`sink` returns the block's feature buffer, for reuse). Returns, if the text could
/// not be cut to its end, the [`Rest`] for the sequential parser. Errors: the first in file
/// order, among the blocks and `sink`.
#[allow(clippy::too_many_arguments)]
pub(super) fn parse(
    r: Box<dyn BufRead + Send>,
    head: Vec<u8>,
    line: u64,
    offset: u64,
    layout: &Layout,
    opts: &CsvOptions,
    sink: &mut dyn FnMut(Gathered) -> Result<Vec<f32>>,
    block_len: usize,
    workers: usize,
    path: &Path,
) -> Result<Option<Rest>> {
    let workers = workers.max(1);
    // Blocks between the reader and the merge: each worker busy with one, one waiting for each.
    let ahead = 2 * workers + 1;
    let (credit_tx, credit_rx) = bounded(ahead);
    for _ in 0..ahead {
        credit_tx.send(()).expect("a channel of `ahead` slots takes `ahead` credits");
    }
    let (work_tx, work_rx) = unbounded::<Block>();
    let (done_tx, done_rx) = unbounded::<Done>();
    // Feature buffers of merged blocks, back to the workers (at most one per block in flight).
    let (spare_tx, spare_rx) = unbounded::<Vec<f32>>();
    let block_len = block_len.max(1);
    std::thread::scope(|s| {
        let to_merge = done_tx.clone();
        let reader = move || cut(r, (head, line, offset), block_len, work_tx, to_merge, credit_rx);
        std::thread::Builder::new()
            .name("csv-reader".into())
            .spawn_scoped(s, reader)
            .map_err(|e| Error::io(path, e))?;
        for _ in 0..workers {
            let (work_rx, done_tx, spare_rx) = (work_rx.clone(), done_tx.clone(), spare_rx.clone());
            let worker = move || {
                for b in work_rx {
                    let mut rr = RecordReader::from_bytes(&b.bytes, path, b.line, b.offset);
                    let mut part = Gathered::reusing(opts, spare_rx.try_recv().unwrap_or_default());
                    let parsed = part.parse(&mut rr, layout, false, opts).map(|()| part);
                    if done_tx.send(Done::Parsed(b.index, parsed)).is_err() {
                        return; // the merge stopped at an earlier error
                    }
                }
            };
            std::thread::Builder::new()
                .name("csv-parser".into())
                .spawn_scoped(s, worker)
                .map_err(|e| Error::io(path, e))?;
        }
        drop((work_rx, done_tx, spare_rx));
        // Returning drops the credits and the merge's end of the channel: the reader and the
        // workers stop at their next hand-over.
        merge(done_rx, credit_tx, spare_tx, sink, path)
    })
}

/// The calling thread's part: hands parsed blocks to `sink` in file order, handing a credit
/// back to the reader and the block's buffer back to the workers for each, until the end.
fn merge(
    done: Receiver<Done>,
    credits: Sender<()>,
    spare: Sender<Vec<f32>>,
    sink: &mut dyn FnMut(Gathered) -> Result<Vec<f32>>,
    path: &Path,
) -> Result<Option<Rest>> {
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    loop {
        match waiting.remove(&next) {
            Some(Done::Parsed(_, part)) => {
                // The first failing block in file order holds the file's first error.
                let _ = spare.send(sink(part?)?);
                let _ = credits.send(()); // fails only once the reader has finished
                next += 1;
            }
            Some(Done::End(_, rest)) => return Ok(rest),
            None => {
                let done = done.recv().map_err(|_| Error::format(path, "internal error: the CSV reader stopped"))?;
                let index = match &done {
                    Done::Parsed(i, _) | Done::End(i, _) => *i,
                };
                waiting.insert(index, done);
            }
        }
    }
}

/// The reader thread: cuts `r` (after the bytes `head` of line `line`, byte `offset`) into
/// blocks of whole lines, each sent once a credit is free, then sends the end.
fn cut(
    mut r: Box<dyn BufRead + Send>,
    (mut carry, mut line, mut offset): (Vec<u8>, u64, u64),
    block_len: usize,
    work: Sender<Block>,
    done: Sender<Done>,
    credits: Receiver<()>,
) {
    let mut index = 0;
    let rest = loop {
        let mut bytes = std::mem::take(&mut carry);
        let want = bytes.len().saturating_add(block_len);
        let at_end = match fill(&mut *r, &mut bytes, want) {
            Ok(at_end) => at_end,
            Err(e) => break Some(Rest { bytes, line, offset, reader: Box::new(Failed(Some(e))) }),
        };
        if !at_end {
            // The last partial line waits for the next block.
            match bytes.iter().rposition(|&b| b == b'\n') {
                Some(pos) => carry = bytes.split_off(pos + 1),
                None if bytes.len() > MAX_LINE => break Some(Rest { bytes, line, offset, reader: r }),
                None => {
                    carry = bytes;
                    continue;
                }
            }
        }
        if bytes.contains(&b'"') {
            bytes.append(&mut carry);
            break Some(Rest { bytes, line, offset, reader: r });
        }
        if !bytes.is_empty() {
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            let len = bytes.len() as u64;
            if credits.recv().is_err() || work.send(Block { index, bytes, line, offset }).is_err() {
                return; // the merge stopped at an error
            }
            index += 1;
            line += lines;
            offset += len;
        }
        if at_end {
            break None;
        }
    };
    let _ = done.send(Done::End(index, rest));
}

/// Reads from `r` onto `buf` until it holds `want` bytes (then `Ok(false)`) or the text ends
/// (`Ok(true)`). It reads through `r`'s own buffer, so the reads of the stream under it are
/// those of the sequential parser.
fn fill(r: &mut dyn BufRead, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    while buf.len() < want {
        let chunk = match r.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(true);
        }
        let take = chunk.len().min(want - buf.len());
        buf.extend_from_slice(&chunk[..take]);
        r.consume(take);
    }
    Ok(false)
}

/// A stream whose next read fails with the error the reader met, so the sequential parser
/// reports it where it would have met it.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

impl BufRead for Failed {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(&[]),
        }
    }

    fn consume(&mut self, _: usize) {}
}
