//! Writing results: stdout that reports a failure instead of panicking, and the checks that
//! keep an output from replacing an input or another output.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Writes `text` to stdout and flushes it. A full disk or a closed pipe is an error naming
/// stdout (exit 2), where `println!` would panic. (inspect, evaluate, predict and gradcheck
/// restore SIGPIPE's default in `main`, so a closed pipe ends them quietly before this sees it.)
pub fn print_out(text: std::fmt::Arguments) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(text).and_then(|()| out.flush()).context("cannot write to stdout")
}

/// `field` as a CSV field: quoted (with its quotes doubled) when it holds a comma, a quote, a
/// CR or LF, or begins or ends with a space or tab, which a reader would split or trim;
/// otherwise as it is.
pub fn csv_field(field: &str) -> Cow<'_, str> {
    let edge = |c: Option<char>| c.is_some_and(|c| c == ' ' || c == '\t');
    if field.contains([',', '"', '\r', '\n']) || edge(field.chars().next()) || edge(field.chars().last()) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(field)
    }
}

/// Refuses an output that is one of the run's inputs (the same file, by device and inode, under
/// any name): `convert x.csv x.csv` or `train --data x.csv --out x.csv` would replace the data.
pub fn refuse_overwriting_inputs(flag: &str, out: Option<&PathBuf>, inputs: &[Option<&PathBuf>]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(out) = out else { return Ok(()) };
    let Ok(o) = std::fs::metadata(out) else { return Ok(()) }; // a new file is nobody's input
    if !o.is_file() {
        return Ok(()); // devices and FIFOs are written in place, never replaced
    }
    // A directory input (MNIST's) stands for the files in it.
    let mut files: Vec<PathBuf> = Vec::new();
    for input in inputs.iter().flatten() {
        match std::fs::read_dir(input) {
            Ok(dir) => files.extend(dir.flatten().map(|e| e.path())),
            Err(_) => files.push(input.to_path_buf()),
        }
    }
    for input in &files {
        if std::fs::metadata(input).is_ok_and(|i| (i.dev(), i.ino()) == (o.dev(), o.ino())) {
            bail!(
                "{flag} {} is the input {}: writing it would destroy the data; choose another output file",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Refuses two outputs that are one file (`--out x --metrics x`: one would replace the other).
/// Compared by name (absolute, lexically) and, for files that exist, by device and inode.
pub fn refuse_same_outputs(outs: &[(&str, Option<&PathBuf>)]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| std::fs::metadata(p).ok().filter(|m| m.is_file()).map(|m| (m.dev(), m.ino()));
    let outs: Vec<(&str, &PathBuf)> = outs.iter().filter_map(|(f, p)| p.map(|p| (*f, p))).collect();
    for (i, (fa, a)) in outs.iter().enumerate() {
        for (fb, b) in &outs[i + 1..] {
            let same_name = std::path::absolute(a).ok().zip(std::path::absolute(b).ok()).is_some_and(|(x, y)| x == y);
            if same_name || id(a).is_some_and(|x| id(b) == Some(x)) {
                bail!("{fa} {} and {fb} {} are the same file: one would replace the other", a.display(), b.display());
            }
        }
    }
    Ok(())
}

/// Refuses an `--out` that cannot be written, before any training: its directory must exist, it
/// must not be a directory, and a probe file beside it must be creatable.
pub fn check_writable_out(o: &Path) -> Result<()> {
    let dir = o.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!("--out {}: the directory {} does not exist", o.display(), dir.display());
    }
    if o.is_dir() {
        bail!("--out {}: is a directory, not a file", o.display());
    }
    shardprop::io::atomic::AtomicFile::probe(o).with_context(|| format!("--out {}: cannot be written", o.display()))
}

/// `path` made absolute against the working directory (lexically: links are not followed).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}: cannot make the path absolute", path.display()))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_only_where_a_reader_would_split_or_trim_them() {
        for (name, field) in [
            ("plain", "plain"),
            ("two words", "two words"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("cr\r", "\"cr\r\""),
            (" padded", "\" padded\""),
            ("padded\t", "\"padded\t\""),
            ("", ""),
        ] {
            assert_eq!(csv_field(name), field, "{name:?}");
        }
    }
}
