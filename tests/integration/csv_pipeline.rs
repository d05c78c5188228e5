//! Issue 13: the parallel CSV pipeline (a reader thread cutting blocks, parser threads, a merge in
//! file order) against the sequential parser, on plain and gzipped text, with blocks of a few
//! bytes so that block boundaries fall everywhere: inside a line, between CR and LF, after a BOM,
//! right before a bad row. Same rows, same skipped lines, same first error (line and column).

use std::path::Path;

use shardprop::data::open::Input;
use shardprop::data::{CsvOptions, Task, csv};

use crate::common::{gzip, temp_path};

/// The dataset and skipped lines, or the error, as text without the directory.
fn show(result: shardprop::Result<(shardprop::data::Dataset, Vec<u64>)>, dir: &Path) -> String {
    match result {
        Ok((mut d, skipped)) => {
            d.source.clear();
            format!("{d:?} skipped {skipped:?}")
        }
        Err(e) => format!("error: {}", e.to_string().replace(&format!("{}/", dir.display()), "")),
    }
}

/// The sequential parser's reading of `path`.
fn sequential(path: &Path, opts: &CsvOptions) -> String {
    show(csv::load_sequential_input(Input::open(path).unwrap(), opts), path.parent().unwrap())
}

/// The pipeline's reading of `path` with blocks of `block` bytes and `threads` parser threads.
fn pipelined(path: &Path, opts: &CsvOptions, block: usize, threads: usize) -> String {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let got = pool.install(|| csv::load_blocks(Input::open(path).unwrap(), opts, block));
    show(got, path.parent().unwrap())
}

/// Writes `bytes` plain and gzipped, and checks that every block size and thread count gives the
/// sequential parser's reading; returns that reading (of the plain file).
fn same_as_sequential(bytes: &[u8], opts: &CsvOptions) -> String {
    let (dir, plain) = temp_path("d.csv");
    let gz = dir.path().join("d.csv.gz");
    std::fs::write(&plain, bytes).unwrap();
    std::fs::write(&gz, gzip(bytes)).unwrap();
    let want = sequential(&plain, opts);
    assert_eq!(sequential(&gz, opts).replace("d.csv.gz", "d.csv"), want, "gzip changed the sequential reading");
    for path in [&plain, &gz] {
        for block in [1, 2, 3, 5, 8, 13, 64, 1 << 20] {
            for threads in [1, 2, 3] {
                let got = pipelined(path, opts, block, threads).replace("d.csv.gz", "d.csv");
                assert_eq!(got, want, "{} with blocks of {block} bytes, {threads} threads", path.display());
            }
        }
    }
    want
}

/// Rows `a,b,label` with string labels first seen in different blocks (so the merge renumbers
/// classes), optionally a bad field and a quoted field.
fn rows(n: usize, bad_at: &[usize], quote_at: Option<usize>, crlf: bool) -> String {
    let end = if crlf { "\r\n" } else { "\n" };
    let mut s = format!("a,b,label{end}");
    for i in 0..n {
        let label = ["cat", "dog", "emu", "fox"][(i * 7 / 3) % 4];
        if bad_at.contains(&i) {
            s += &format!("{i},1e,{label}{end}");
        } else if quote_at == Some(i) {
            s += &format!("\"{i}.5\",\"{}\n\",{label}{end}", i % 5);
        } else {
            s += &format!("{i}.25,{},{label}{end}", i % 5);
        }
    }
    s
}

#[test]
fn rows_classes_and_positions_match_the_sequential_parser_at_every_block_boundary() {
    let plain = CsvOptions::default();
    let skip = CsvOptions { skip_bad_rows: true, ..CsvOptions::default() };
    for crlf in [false, true] {
        let ok = same_as_sequential(rows(40, &[], None, crlf).as_bytes(), &plain);
        assert!(ok.contains("skipped []") && ok.contains("emu"), "{ok}");
        // A bad row: the same first error, by line and column; skipped, the same line list.
        let text = rows(40, &[17, 30], None, crlf);
        let err = same_as_sequential(text.as_bytes(), &plain);
        assert!(err.starts_with("error: d.csv:19:4: "), "{err}");
        let skipped = same_as_sequential(text.as_bytes(), &skip);
        assert!(skipped.contains("skipped [19, 32]"), "{skipped}");
        // A quote half way hands over to the sequential parser: same rows, errors after it too.
        same_as_sequential(rows(40, &[], Some(20), crlf).as_bytes(), &plain);
        same_as_sequential(rows(40, &[5, 33], Some(20), crlf).as_bytes(), &skip);
        let late = same_as_sequential(rows(40, &[33], Some(20), crlf).as_bytes(), &plain);
        assert!(late.starts_with("error: d.csv:36:"), "{late}");
    }
}

#[test]
fn boms_blank_lines_missing_line_ends_and_bad_text_match_the_sequential_parser() {
    let opts = CsvOptions::default();
    let texts: [&[u8]; 10] = [
        b"\xef\xbb\xbfa,b,label\n1,2,x\n3,4,y\n5,6,x\n",
        b"\xef\xbb\xbf1,2,x\n3,4,y\n5,6,x\n7,8,y\n",
        b"a,b,label\n1,2,x\n\n   \n3,4,y\r\n\r\n5,6,x",
        b"a,b,label\n1,2,x\n3,4,y\n5,6\n",
        b"a,b,label\n1,2,x\n3,4,y\n5,6,x,9\n",
        b"a,b,label\n1,2,x\n3,4,y\n5,\x006,x\n",
        b"a,b,label\n1,2,x\n3,4,y\n5,6,\xffx\n",
        b"a,b,label\n1,2,x\n3,4,y\n5,6,\"x\"y\n",
        b"a,b,label\n1,2,x\n3,4,y\n5,6,\"x\n",
        b"a,b,label\n",
    ];
    for text in texts {
        same_as_sequential(text, &opts);
        same_as_sequential(text, &CsvOptions { skip_bad_rows: true, ..CsvOptions::default() });
    }
    let regression = CsvOptions { regression: true, ..CsvOptions::default() };
    same_as_sequential(b"a,b,y\n1,2,0.5\n3,4,1.5\n5,x,2\n7,8,9\n", &regression);
    let fixed = CsvOptions { classes: Some(vec!["y".into(), "x".into()]), ..CsvOptions::default() };
    same_as_sequential(b"a,b,label\n1,2,x\n3,4,y\n5,6,x\n", &fixed);
    let unlabeled = CsvOptions {
        unlabeled: Some(Task::Classification { classes: vec!["p".into(), "q".into()] }),
        target: None,
        ..CsvOptions::default()
    };
    same_as_sequential(b"a,b\n1,2\n3,4\n5,6\n", &unlabeled);
}

#[test]
fn a_damaged_or_truncated_gzip_stream_fails_at_the_same_line_as_the_sequential_parser() {
    // Large enough that the stream's failure comes after many blocks.
    let text = rows(30_000, &[], None, false);
    let packed = gzip(text.as_bytes());
    let mut truncated = packed[..packed.len() * 2 / 3].to_vec();
    let mut damaged = packed.clone();
    let middle = damaged.len() / 2;
    damaged[middle..middle + 64].iter_mut().for_each(|b| *b = !*b);
    let mut bad_crc = packed.clone();
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 1;
    let (dir, _) = temp_path("x");
    for (name, bytes) in [("trunc.csv", &mut truncated), ("damaged.csv", &mut damaged), ("crc.csv", &mut bad_crc)] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let opts = CsvOptions::default();
        let want = sequential(&path, &opts);
        assert!(want.starts_with("error: "), "{name}: {want}");
        for block in [1000, 4096, 1 << 20] {
            for threads in [1, 2] {
                assert_eq!(pipelined(&path, &opts, block, threads), want, "{name}, blocks of {block}");
            }
        }
    }
}

#[test]
fn a_larger_file_with_bad_rows_matches_at_the_default_block_size_and_small_ones() {
    let bad: Vec<usize> = (0..20_000).filter(|i| i % 1777 == 5).collect();
    let text = rows(20_000, &bad, None, true);
    let (dir, plain) = temp_path("big.csv");
    std::fs::write(&plain, &text).unwrap();
    let skip = CsvOptions { skip_bad_rows: true, ..CsvOptions::default() };
    for opts in [CsvOptions::default(), skip] {
        let want = sequential(&plain, &opts);
        for block in [997, 65_536, csv::BLOCK] {
            assert_eq!(pipelined(&plain, &opts, block, 2), want, "blocks of {block}");
        }
    }
    drop(dir);
}

#[test]
fn convert_through_the_pipeline_writes_the_bytes_of_the_sequential_parser() {
    // Several default-size blocks; the same text with its header quoted is parsed sequentially
    // throughout (a quote in the first two lines), and the quotes change no name.
    let bad: Vec<usize> = (0..150_000).filter(|i| i % 20_011 == 7).collect();
    let text = rows(150_000, &bad, None, false);
    let quoted = text.replacen("a,b,label", "\"a\",\"b\",\"label\"", 1);
    let (dir, plain) = temp_path("plain.csv");
    let sequential = dir.path().join("quoted.csv");
    std::fs::write(&plain, &text).unwrap();
    std::fs::write(&sequential, &quoted).unwrap();
    let skip = CsvOptions { skip_bad_rows: true, ..CsvOptions::default() };
    let convert = |from: &Path, to: &str, opts: &CsvOptions| {
        let out = dir.path().join(to);
        let got = csv::convert(Input::open(from).unwrap(), &out, opts).map_err(|e| e.to_string());
        (got, std::fs::read(&out).ok())
    };
    let (want, want_bytes) = convert(&sequential, "a.bin", &skip);
    let (got, got_bytes) = convert(&plain, "b.bin", &skip);
    assert_eq!(want.as_ref().unwrap().1.len(), bad.len());
    assert_eq!(got, want);
    assert!(want_bytes.is_some() && got_bytes == want_bytes, "the binary files differ");
    let (want, _) = convert(&sequential, "c.bin", &CsvOptions::default());
    let (got, _) = convert(&plain, "d.bin", &CsvOptions::default());
    assert!(want.as_ref().is_err_and(|e| e.contains(":9:")), "{want:?}");
    assert_eq!(got.map_err(|e| e.replace("plain.csv", "quoted.csv")), want);
}
