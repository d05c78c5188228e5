//! A CSV file to a [`Dataset`] in memory: one sequential streaming parser, and for an
//! uncompressed regular file a parallel one over waves of blocks cut at line ends. Both give the
//! same dataset and the same first error.
//!
//! The file is opened once (by the caller, as an [`Input`], whose head was already sniffed for
//! the binary and gzip magics). When the parallel parser meets what it cannot cut into blocks (a
//! quote, which may hide a line end inside a field, or a blank line among the first two), the
//! sequential parser goes on from the first line not yet parsed, over the bytes already read and
//! then the same handle: nothing is reopened and nothing is parsed twice.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

use rayon::prelude::*;

use super::classes::ClassMap;
use super::layout::Layout;
use super::reader::{MAX_LINE, RecordReader, read_line_bounded, too_long};
use super::rows::{ParsedRows, extend, out_of_memory, parse_rows};
use crate::data::open::{BOM, Input};
use crate::data::{CsvOptions, Dataset, Target};
use crate::error::{Error, Result};

/// Loads a CSV file into memory. Returns the dataset and the lines of rows skipped (only with
/// `skip_bad_rows`). An uncompressed regular file without quotes is parsed in parallel, in waves
/// of blocks cut at line ends (memory beyond the final matrix stays bounded by the wave);
/// anything else streams through one thread. Both give the same dataset and the same first error.
pub fn load(path: &Path, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    load_input(Input::open(path)?, opts)
}

/// [`load`] from an opened input, which is read once, in order: a pipe or FIFO (and a gzipped
/// file) by the sequential parser, an uncompressed regular file in parallel.
pub fn load_input(input: Input, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    if input.is_regular() && !input.is_gzip() {
        return load_parallel(input, opts);
    }
    let path = input.path().to_path_buf();
    load_sequential(RecordReader::from_input(input)?, None, opts, Gathered::new(opts))
        .and_then(|(layout, got)| got.into_dataset(&path, opts, &layout))
}

/// Parses every data row of `input`, handing each to `each`; returns the layout.
pub(super) fn stream(
    input: Input,
    opts: &CsvOptions,
    classes: &mut ClassMap,
    skipped: &mut Vec<u64>,
    mut each: impl FnMut(&[f32], Target<'_>) -> Result<()>,
) -> Result<Layout> {
    let mut rr = RecordReader::from_input(input)?;
    let (layout, pending) = Layout::read(&mut rr, opts)?;
    let rows = parse_rows(&mut rr, &layout, pending, opts, classes, skipped, &mut each)?;
    if rows == 0 {
        return Err(no_rows(rr.path(), &layout));
    }
    Ok(layout)
}

/// The error for a file without a data row.
fn no_rows(path: &Path, layout: &Layout) -> Error {
    let what = if layout.has_header { "header only" } else { "all rows were skipped" };
    Error::format(path, format!("{what}: no data rows"))
}

/// Rows parsed so far (of the whole file, or of one block), with their class numbering
/// (first-seen) and skipped lines.
struct Gathered {
    rows: ParsedRows,
    classes: ClassMap,
    skipped: Vec<u64>,
    count: u64,
}

impl Gathered {
    /// Nothing yet; the class map fixed by `opts.classes`, if given.
    fn new(opts: &CsvOptions) -> Self {
        let classes = opts.classes.as_deref().map(ClassMap::fixed).unwrap_or_default();
        Self { rows: ParsedRows::default(), classes, skipped: Vec::new(), count: 0 }
    }

    /// Parses the records of `rr` (the current one first when `pending`) into `self`.
    fn parse(&mut self, rr: &mut RecordReader<'_>, layout: &Layout, pending: bool, opts: &CsvOptions) -> Result<()> {
        let (rows, path) = (&mut self.rows, rr.path().to_path_buf());
        let mut each = |row: &[f32], target: Target<'_>| {
            rows.push(row, target).map_err(|e| out_of_memory(&path, rows.rows(row.len()), e))
        };
        self.count += parse_rows(rr, layout, pending, opts, &mut self.classes, &mut self.skipped, &mut each)?;
        Ok(())
    }

    /// Appends a later block's rows, renumbering its classes into this map.
    fn append(&mut self, part: Gathered, path: &Path, opts: &CsvOptions) -> Result<()> {
        let remap: Vec<u32> = part.classes.names.iter().map(|n| self.classes.intern(n)).collect();
        let ids: Vec<u32> = if opts.unlabeled.is_some() {
            part.rows.ids // placeholders
        } else {
            part.rows.ids.iter().map(|&id| remap[id as usize]).collect()
        };
        let oom = |e| out_of_memory(path, self.count as usize, e);
        extend(&mut self.rows.x, &part.rows.x).map_err(oom)?;
        extend(&mut self.rows.ids, &ids).map_err(oom)?;
        extend(&mut self.rows.vals, &part.rows.vals).map_err(oom)?;
        self.skipped.extend_from_slice(&part.skipped);
        self.count += part.count;
        Ok(())
    }

    /// The dataset, and the lines skipped.
    fn into_dataset(self, path: &Path, opts: &CsvOptions, layout: &Layout) -> Result<(Dataset, Vec<u64>)> {
        if self.count == 0 {
            return Err(no_rows(path, layout));
        }
        Ok((self.rows.into_dataset(path, opts, layout, self.classes)?, self.skipped))
    }
}

/// The sequential parser: reads the layout from `rr` unless it is already known (then `rr`
/// starts at a record boundary after it), and every row after it into `got`.
fn load_sequential(
    mut rr: RecordReader<'_>,
    layout: Option<Layout>,
    opts: &CsvOptions,
    mut got: Gathered,
) -> Result<(Layout, Gathered)> {
    let (layout, pending) = match layout {
        Some(layout) => (layout, false),
        None => Layout::read(&mut rr, opts)?,
    };
    got.parse(&mut rr, &layout, pending, opts)?;
    Ok((layout, got))
}

/// Bytes per block of the parallel parser.
#[cfg(not(test))]
const BLOCK: usize = 8 << 20;
/// Under test, blocks of a few lines, so a small file spans many waves.
#[cfg(test)]
const BLOCK: usize = 64;

/// The parallel path of [`load`] over an uncompressed regular file. Quoted fields, or a blank
/// line among the first two, hand the rest of the file, from the first line not yet parsed, to
/// the sequential parser.
fn load_parallel(input: Input, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    let path = &input.path().to_path_buf();
    let mut r = BufReader::with_capacity(1 << 20, input.into_reader());
    // The first two lines: header detection looks at both.
    let mut first = Vec::new();
    read_line_bounded(&mut r, &mut first, path, 1)?;
    let bom = if first.starts_with(&BOM) { BOM.len() } else { 0 };
    first.drain(..bom);
    let first_len = first.len();
    read_line_bounded(&mut r, &mut first, path, 2)?;
    let blank = |line: &[u8]| line.iter().all(u8::is_ascii_whitespace);
    if first.contains(&b'"') || blank(&first[..first_len]) || (first.len() > first_len && blank(&first[first_len..])) {
        let rr = RecordReader::from_reader(Box::new(Cursor::new(first).chain(r)), path, 1, bom as u64);
        let (layout, got) = load_sequential(rr, None, opts, Gathered::new(opts))?;
        return got.into_dataset(path, opts, &layout);
    }
    let mut head = RecordReader::from_bytes(&first, path, 1, bom as u64);
    let (layout, first_is_data) = Layout::read(&mut head, opts)?;
    drop(head);
    let mut got = Gathered::new(opts);
    let threads = rayon::current_num_threads().max(1);
    let (mut carry, mut line, mut offset) =
        if first_is_data { (first, 1, bom as u64) } else { (first.split_off(first_len), 2, (bom + first_len) as u64) };
    loop {
        let mut wave = std::mem::take(&mut carry);
        let want = (threads * BLOCK) as u64;
        let got_bytes = (&mut r).take(want).read_to_end(&mut wave).map_err(|e| Error::io(path, e))?;
        let at_end = (got_bytes as u64) < want;
        if !at_end {
            // Keep the last partial line for the next wave.
            match wave.iter().rposition(|&b| b == b'\n') {
                Some(pos) => carry = wave.split_off(pos + 1),
                None if wave.len() > MAX_LINE => return Err(too_long(path, line)),
                None => {
                    carry = wave;
                    continue;
                }
            }
        }
        if wave.contains(&b'"') {
            // A quoted field may hold a line end, so blocks cannot be cut at line ends: the
            // sequential parser goes on from this wave's first line.
            wave.append(&mut carry);
            let rest: Box<dyn BufRead + Send> = Box::new(Cursor::new(wave).chain(r));
            let rr = RecordReader::from_reader(rest, path, line, offset);
            let (layout, got) = load_sequential(rr, Some(layout), opts, got)?;
            return got.into_dataset(path, opts, &layout);
        }
        // Blocks of about equal size, cut after a line end, with their first line numbers and
        // byte offsets.
        let mut blocks = Vec::with_capacity(threads);
        let mut start = 0;
        while start < wave.len() {
            let target = (start + wave.len().div_ceil(threads)).min(wave.len());
            let end = wave[target..].iter().position(|&b| b == b'\n').map_or(wave.len(), |p| target + p + 1);
            blocks.push((start, end, line, offset + start as u64));
            line += wave[start..end].iter().filter(|&&b| b == b'\n').count() as u64;
            start = end;
        }
        offset += wave.len() as u64;
        let parts: Vec<Result<Gathered>> = blocks
            .par_iter()
            .map(|&(a, b, first_line, first_offset)| {
                let mut rr = RecordReader::from_bytes(&wave[a..b], path, first_line, first_offset);
                let mut part = Gathered::new(opts);
                part.parse(&mut rr, &layout, false, opts)?;
                Ok(part)
            })
            .collect();
        for part in parts {
            // The first failing block in file order holds the file's first error.
            got.append(part?, path, opts)?;
        }
        if at_end {
            break;
        }
    }
    got.into_dataset(path, opts, &layout)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// `text` loaded from a plain file (the parallel parser, handing over to the sequential one
    /// at the first quote) and from a gzipped one (the sequential parser throughout): the same
    /// dataset and skipped lines, or the same error.
    fn both(text: &str, opts: &CsvOptions) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let (plain, gz) = (dir.path().join("plain"), dir.path().join("gz"));
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::create_dir_all(&gz).unwrap();
        let (plain, gz) = (plain.join("d.csv"), gz.join("d.csv"));
        std::fs::write(&plain, text).unwrap();
        let mut w = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        w.write_all(text.as_bytes()).unwrap();
        w.finish().unwrap();
        let show = |path: &Path| match load(path, opts) {
            Ok((mut d, skipped)) => {
                d.source.clear();
                format!("{d:?} {skipped:?}")
            }
            Err(e) => e.to_string().replace(&path.display().to_string(), "d.csv"),
        };
        (show(&plain), show(&gz))
    }

    fn rows(n: usize, quote_at: Option<usize>, bad_at: Option<usize>) -> String {
        let mut s = String::from("a,b,label\n");
        for i in 0..n {
            let label = ["x", "y", "z"][i * 7 % 3];
            match (Some(i) == quote_at, Some(i) == bad_at) {
                (_, true) => s += &format!("{i},oops,{label}\n"),
                (true, _) => s += &format!("\"{i}.5\",\"{}\n\",{label}\n", i % 5),
                _ => s += &format!("{i}.5,{},{label}\n", i % 5),
            }
        }
        s
    }

    #[test]
    fn a_quote_in_a_later_wave_hands_over_to_the_sequential_parser_with_the_same_result() {
        let default = CsvOptions::default();
        let skip = CsvOptions { skip_bad_rows: true, ..CsvOptions::default() };
        for (quote, bad) in
            [(None, None), (Some(150), None), (Some(0), None), (Some(150), Some(40)), (Some(150), Some(180))]
        {
            let text = rows(200, quote, bad);
            for opts in [&default, &skip] {
                let (plain, gz) = both(&text, opts);
                assert_eq!(plain, gz, "quote at {quote:?}, bad row at {bad:?}");
                if bad.is_some() && !opts.skip_bad_rows {
                    assert!(plain.contains("cannot parse \"oops\""), "{plain}");
                }
            }
        }
    }

    #[test]
    fn a_quote_or_blank_line_in_the_first_two_lines_is_read_sequentially() {
        for text in ["\"a\",b,label\n1,2,x\n3,4,y\n", "\n1,2,x\n3,4,y\n", "a,b,label\n  \n1,2,x\n3,4,y\n"] {
            let (plain, gz) = both(text, &CsvOptions::default());
            assert_eq!(plain, gz, "{text:?}");
        }
    }
}
