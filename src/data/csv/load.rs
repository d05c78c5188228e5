//! A CSV file to a [`Dataset`] in memory: one sequential streaming parser, and a parallel one
//! (`blocks`: a reader thread cutting blocks at line ends, parser threads, a merge in file
//! order) for every input, plain or gzipped, file or pipe. Both give the same dataset and the
//! same first error.
//!
//! The file is opened once (by the caller, as an [`Input`], whose head was already sniffed for
//! the binary and gzip magics). When the parallel parser meets what it cannot cut into blocks (a
//! quote, which may hide a line end inside a field, or a blank line among the first two), the
//! sequential parser goes on from the first line not yet parsed, over the bytes already read and
//! then the same handle: nothing is reopened and nothing is parsed twice.

use std::io::{BufRead, Cursor, Read};
use std::path::Path;

use super::blocks;
use super::classes::ClassMap;
use super::gathered::{Gathered, no_rows};
use super::layout::Layout;
use super::reader::{RecordReader, read_line_bounded};
use super::rows::parse_rows;
use crate::data::open::{BOM, Input};
use crate::data::{CsvOptions, Dataset, Target};
use crate::error::Result;

/// Loads a CSV file into memory. Returns the dataset and the lines of rows skipped (only with
/// `skip_bad_rows`). The text is parsed in parallel, in blocks cut at line ends by a reader
/// thread (which also gunzips), as many parser threads as the rayon pool has, until a quote,
/// from which one thread goes on (see [`load_blocks`]). Memory beyond the final matrix stays
/// bounded by the blocks in flight.
pub fn load(path: &Path, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    load_input(Input::open(path)?, opts)
}

/// [`load`] from an opened input (a file, pipe or FIFO, plain or gzipped), which is read once,
/// in order.
pub fn load_input(input: Input, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    load_blocks(input, opts, BLOCK)
}

/// The sequential parser alone: one thread reads, gunzips and parses. [`load_input`] gives the
/// same dataset and errors; this is its reference in tests and benches.
pub fn load_sequential_input(input: Input, opts: &CsvOptions) -> Result<(Dataset, Vec<u64>)> {
    let path = input.path().to_path_buf();
    load_sequential(RecordReader::from_input(input)?, None, opts, Gathered::new(opts))
        .and_then(|(layout, got)| got.into_dataset(&path, opts, &layout))
}

/// Parses every data row of `input`, handing each to `each` in file order, with the class ids of
/// `classes` (which numbers them as first seen, or is fixed); returns the layout. Parsed in
/// parallel as by [`load_input`], with `block_opts` for the blocks' own class maps.
pub(super) fn stream(
    input: Input,
    opts: &CsvOptions,
    block_opts: &CsvOptions,
    classes: &mut ClassMap,
    skipped: &mut Vec<u64>,
    mut each: impl FnMut(&[f32], Target<'_>) -> Result<()>,
) -> Result<Layout> {
    let path = &input.path().to_path_buf();
    let (mut rr, layout, pending) = match start(input, opts)? {
        Start::Sequential(mut rr) => {
            let (layout, pending) = Layout::read(&mut rr, opts)?;
            (rr, layout, pending)
        }
        Start::Blocks { r, head, line, offset, layout } => {
            let mut rows = 0;
            let mut sink = |part: Gathered| {
                rows += part.rows();
                part.drain(classes, skipped, &mut each)
            };
            let workers = rayon::current_num_threads();
            let rest = blocks::parse(r, head, line, offset, &layout, block_opts, &mut sink, BLOCK, workers, path)?;
            let Some(rest) = rest else {
                return if rows == 0 { Err(no_rows(path, &layout)) } else { Ok(layout) };
            };
            (rest.into_reader(path), layout, false)
        }
    };
    let rows = parse_rows(&mut rr, &layout, pending, opts, classes, skipped, &mut each)?;
    if rows == 0 {
        return Err(no_rows(rr.path(), &layout));
    }
    Ok(layout)
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

/// Bytes per block of the parallel parser: small enough that the first blocks reach the
/// workers soon and that the blocks ahead of the merge stay a few MB, large enough that handing
/// one over costs nothing against parsing it.
pub const BLOCK: usize = 1 << 20;

/// [`load_input`] with blocks of about `block_len` bytes (tests use a few bytes, so that block
/// boundaries fall everywhere: inside lines, between CR and LF, right before a bad row).
/// Quoted fields, or a blank line among the first two, hand the rest of the file, from the first
/// line not yet parsed, to the sequential parser.
pub fn load_blocks(input: Input, opts: &CsvOptions, block_len: usize) -> Result<(Dataset, Vec<u64>)> {
    let path = &input.path().to_path_buf();
    let (rr, layout, got) = match start(input, opts)? {
        Start::Sequential(rr) => (rr, None, Gathered::new(opts)),
        Start::Blocks { r, head, line, offset, layout } => {
            let mut got = Gathered::new(opts);
            let mut sink = |part| got.append(part, path, opts);
            let workers = rayon::current_num_threads();
            let rest = blocks::parse(r, head, line, offset, &layout, opts, &mut sink, block_len, workers, path)?;
            let Some(rest) = rest else { return got.into_dataset(path, opts, &layout) };
            (rest.into_reader(path), Some(layout), got)
        }
    };
    let (layout, got) = load_sequential(rr, layout, opts, got)?;
    got.into_dataset(path, opts, &layout)
}

/// How a text is parsed, decided from its first two lines.
enum Start {
    /// By the sequential parser from the first line (a quote or a blank line among the first
    /// two: header detection needs the records, not the lines).
    Sequential(RecordReader<'static>),
    /// In blocks, from the first data line (`head`: its bytes already read, at line `line` and
    /// byte `offset`), with the columns `layout`.
    Blocks { r: Box<dyn BufRead + Send>, head: Vec<u8>, line: u64, offset: u64, layout: Layout },
}

/// Reads the first two lines of `input` (after a BOM) and decides how the rest is parsed.
fn start(input: Input, opts: &CsvOptions) -> Result<Start> {
    let path = &input.path().to_path_buf();
    let mut r = input.into_text();
    // The first two lines: header detection looks at both.
    let mut first = Vec::new();
    read_line_bounded(&mut r, &mut first, path, 1)?;
    let bom = if first.starts_with(&BOM) { BOM.len() } else { 0 };
    first.drain(..bom);
    let first_len = first.len();
    read_line_bounded(&mut r, &mut first, path, 2)?;
    let blank = |line: &[u8]| line.iter().all(u8::is_ascii_whitespace);
    if first.contains(&b'"') || blank(&first[..first_len]) || (first.len() > first_len && blank(&first[first_len..])) {
        let text: Box<dyn BufRead + Send> = Box::new(Cursor::new(first).chain(r));
        return Ok(Start::Sequential(RecordReader::from_reader(text, path, 1, bom as u64)));
    }
    let mut head = RecordReader::from_bytes(&first, path, 1, bom as u64);
    let (layout, first_is_data) = Layout::read(&mut head, opts)?;
    drop(head);
    let (head, line, offset) =
        if first_is_data { (first, 1, bom as u64) } else { (first.split_off(first_len), 2, (bom + first_len) as u64) };
    Ok(Start::Blocks { r, head, line, offset, layout })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// `text` loaded from a plain file by the parallel parser in blocks of 64 bytes (handing
    /// over to the sequential one at the first quote) and from a gzipped one by the sequential
    /// parser throughout: the same dataset and skipped lines, or the same error.
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
        let show = |path: &Path, parallel: bool| match if parallel {
            load_blocks(Input::open(path).unwrap(), opts, 64)
        } else {
            load_sequential_input(Input::open(path).unwrap(), opts)
        } {
            Ok((mut d, skipped)) => {
                d.source.clear();
                format!("{d:?} {skipped:?}")
            }
            Err(e) => e.to_string().replace(&path.display().to_string(), "d.csv"),
        };
        (show(&plain, true), show(&gz, false))
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
