//! A CSV file to a [`Dataset`] in memory: one sequential streaming parser, and for an
//! uncompressed regular file a parallel one over waves of blocks cut at line ends. Both give the
//! same dataset and the same first error.

use std::io::{BufReader, Read};
use std::path::Path;

use rayon::prelude::*;

use super::classes::ClassMap;
use super::layout::Layout;
use super::reader::{MAX_LINE, RecordReader, read_line_bounded, too_long};
use super::rows::{Rows, extend, out_of_memory, parse_rows};
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

/// [`load`] from an opened input. A pipe or FIFO is read exactly once, by the sequential parser.
pub fn load_input(input: Input, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    let path = input.path().to_path_buf();
    let input = if input.is_regular() && !input.is_gzip() {
        if let Some(done) = load_parallel(input, opts)? {
            return Ok(done);
        }
        // Quotes or blank lines near the start: a regular file may be read again from the start.
        Input::open(&path)?
    } else {
        input
    };
    let mut classes = opts.classes.as_deref().map(ClassMap::fixed).unwrap_or_default();
    let mut rows = Rows::default();
    let mut skipped = Vec::new();
    let layout = stream(input, opts, &mut classes, &mut skipped, |row, target| {
        rows.push(row, target).map_err(|e| out_of_memory(&path, rows.rows(row.len()), e))
    })?;
    Ok((rows.finish(&path, opts, &layout, classes)?, skipped))
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
        let what = if layout.has_header { "header only" } else { "all rows were skipped" };
        return Err(Error::format(rr.path(), format!("{what}: no data rows")));
    }
    Ok(layout)
}

/// Bytes per block of the parallel parser.
const BLOCK: usize = 8 << 20;

/// One block's rows, with its own class numbering and skipped lines.
struct Part {
    rows: Rows,
    classes: ClassMap,
    skipped: Vec<u64>,
    count: u64,
}

/// The parallel path of [`load`] over an uncompressed regular file; `None` when the file needs
/// the sequential one (quoted fields, blank lines among the first two).
fn load_parallel(input: Input, opts: &CsvOptions) -> Result<Option<(Dataset, Vec<u64>)>> {
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
        return Ok(None);
    }
    let mut head = RecordReader::from_bytes(&first, path, 1, bom as u64);
    let (layout, first_is_data) = Layout::read(&mut head, opts)?;
    drop(head);
    let fixed = opts.classes.as_deref().map(ClassMap::fixed);
    let mut classes = fixed.clone().unwrap_or_default();
    let (mut rows, mut skipped, mut count) = (Rows::default(), Vec::new(), 0u64);
    let threads = rayon::current_num_threads().max(1);
    let (mut carry, mut line, mut offset) =
        if first_is_data { (first, 1, bom as u64) } else { (first.split_off(first_len), 2, (bom + first_len) as u64) };
    loop {
        let mut wave = std::mem::take(&mut carry);
        let want = (threads * BLOCK) as u64;
        let got = (&mut r).take(want).read_to_end(&mut wave).map_err(|e| Error::io(path, e))?;
        let at_end = (got as u64) < want;
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
            return Ok(None);
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
        let parts: Vec<Result<Part>> = blocks
            .par_iter()
            .map(|&(a, b, first_line, first_offset)| {
                let mut rr = RecordReader::from_bytes(&wave[a..b], path, first_line, first_offset);
                let mut part = Part {
                    rows: Rows::default(),
                    classes: fixed.clone().unwrap_or_default(),
                    skipped: Vec::new(),
                    count: 0,
                };
                let mut each = |row: &[f32], target: Target<'_>| {
                    part.rows.push(row, target).map_err(|e| out_of_memory(path, part.rows.rows(row.len()), e))
                };
                let n = parse_rows(&mut rr, &layout, false, opts, &mut part.classes, &mut part.skipped, &mut each)?;
                part.count = n;
                Ok(part)
            })
            .collect();
        for part in parts {
            // The first failing block in file order holds the file's first error.
            let part = part?;
            let remap: Vec<u32> = part.classes.names.iter().map(|n| classes.intern(n)).collect();
            let ids: Vec<u32> = if opts.unlabeled.is_some() {
                part.rows.ids.clone() // placeholders
            } else {
                part.rows.ids.iter().map(|&id| remap[id as usize]).collect()
            };
            let oom = |e| out_of_memory(path, count as usize, e);
            extend(&mut rows.x, &part.rows.x).map_err(oom)?;
            extend(&mut rows.ids, &ids).map_err(oom)?;
            extend(&mut rows.vals, &part.rows.vals).map_err(oom)?;
            skipped.extend_from_slice(&part.skipped);
            count += part.count;
        }
        if at_end {
            break;
        }
    }
    if count == 0 {
        let what = if layout.has_header { "header only" } else { "all rows were skipped" };
        return Err(Error::format(path, format!("{what}: no data rows")));
    }
    Ok(Some((rows.finish(path, opts, &layout, classes)?, skipped)))
}
