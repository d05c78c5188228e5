//! IDX files (the MNIST format), raw or gzipped: a big-endian `u32` magic `0x0000_08NN` (type
//! `0x08` = unsigned byte, `NN` dimensions), `NN` big-endian `u32` sizes, then the bytes row-major.
//! Pixels are scaled to `[0, 1]` by dividing by 255 as they load.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::Dataset;
use super::open::{Input, read_up_to};
use crate::error::{Error, Result};

/// Magic of an IDX file of unsigned-byte images (3 dimensions).
pub const MAGIC_IMAGES: u32 = 0x0000_0803;
/// Magic of an IDX file of unsigned-byte labels (1 dimension).
pub const MAGIC_LABELS: u32 = 0x0000_0801;

/// Whether the file name looks like an IDX file (`…-idx3-ubyte`, `…-idx1-ubyte`, maybe `.gz`).
pub fn is_idx_path(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains("-idx") && n.contains("-ubyte"))
}

/// Reads an IDX file with the given magic; returns its dimensions and data bytes. The header is
/// read and checked first (magic, non-zero sizes, a data size that fits this machine's memory),
/// then exactly the data it announces: a file, or a gzip stream, that holds more or less is
/// refused without reading past one byte more than announced.
pub fn read_idx(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut reader = Input::open(path)?.into_text();
    let ndims = (magic & 0xff) as usize;
    let data_start = 4 + 4 * ndims;
    let mut header = vec![0u8; data_start];
    let got = read_up_to(&mut reader, &mut header).map_err(|e| Error::io(path, e))?;
    if got < 4 {
        return Err(Error::format(path, format!("file is {got} bytes, too short for an IDX header")));
    }
    let word = |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let found = word(0);
    if found != magic {
        return Err(Error::format(path, format!("byte 0: bad magic 0x{found:08x}, expected 0x{magic:08x}")));
    }
    if got < data_start {
        return Err(Error::format(path, format!("file is {got} bytes, too short for {ndims} dimension sizes")));
    }
    let dims: Vec<usize> = (0..ndims).map(|d| word(4 + 4 * d) as usize).collect();
    if let Some(d) = dims.iter().position(|&d| d == 0) {
        return Err(Error::format(path, format!("byte {}: dimension {} is 0 (no data)", 4 + 4 * d, d + 1)));
    }
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let memory = crate::memory::physical().unwrap_or(1 << 40);
    let expected = match expected {
        Some(e) if e <= memory / 2 => e,
        _ => {
            return Err(Error::format(
                path,
                format!("byte 4: header says dimensions {dims:?}, more data than this machine could hold"),
            ));
        }
    };
    // Exactly the announced bytes, and one more to tell whether the file goes on.
    let mut bytes = Vec::new();
    let mut limited = (&mut reader).take(expected as u64 + 1);
    limited.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() != expected {
        let what = if bytes.len() > expected { "more".to_string() } else { bytes.len().to_string() };
        return Err(Error::format(
            path,
            format!(
                "byte {data_start}: header says dimensions {dims:?} ({expected} bytes of data) but {what} bytes follow"
            ),
        ));
    }
    Ok((dims, bytes))
}

/// The labels file beside an images file: `…-images-idx3-ubyte` → `…-labels-idx1-ubyte`.
pub fn labels_beside(images: &Path) -> Result<PathBuf> {
    let name = images.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !name.contains("images-idx3") {
        return Err(Error::Config(format!(
            "{}: expected an MNIST images file named like train-images-idx3-ubyte[.gz]",
            images.display()
        )));
    }
    let labels = images.with_file_name(name.replace("images-idx3", "labels-idx1"));
    if labels.exists() {
        return Ok(labels);
    }
    // Allow one to be gzipped and the other not.
    let alt = match labels.to_str() {
        Some(s) if s.ends_with(".gz") => PathBuf::from(&s[..s.len() - 3]),
        Some(s) => PathBuf::from(format!("{s}.gz")),
        None => labels.clone(),
    };
    if alt.exists() {
        Ok(alt)
    } else {
        Err(Error::Config(format!("{}: no labels file beside it (looked for {})", images.display(), labels.display())))
    }
}

/// The images file of `split` (`train` or `t10k`) in an MNIST directory, gzipped or not.
pub fn images_in(dir: &Path, split: &str) -> Result<PathBuf> {
    for name in [format!("{split}-images-idx3-ubyte.gz"), format!("{split}-images-idx3-ubyte")] {
        let p = dir.join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(Error::Config(format!("{}: no {split}-images-idx3-ubyte[.gz] in this directory", dir.display())))
}

/// Loads MNIST images and labels: `path` is an images file (labels found beside it) or a
/// directory (its training split).
pub fn load_mnist(path: &Path) -> Result<Dataset> {
    let images = if path.is_dir() { images_in(path, "train")? } else { path.to_path_buf() };
    let labels_path = labels_beside(&images)?;
    let (idims, pixels) = read_idx(&images, MAGIC_IMAGES)?;
    let (ldims, labels) = read_idx(&labels_path, MAGIC_LABELS)?;
    if idims[0] != ldims[0] {
        return Err(Error::Mismatch(format!(
            "{} holds {} images but {} holds {} labels",
            images.display(),
            idims[0],
            labels_path.display(),
            ldims[0]
        )));
    }
    if let Some((i, &bad)) = labels.iter().enumerate().find(|&(_, &l)| l > 9) {
        return Err(Error::format(&labels_path, format!("byte {}: label {bad} is not a digit 0-9", 8 + i)));
    }
    let n_features = idims[1] * idims[2];
    let x = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let classes = (0..10).map(|d| d.to_string()).collect();
    let labels = labels.into_iter().map(u32::from).collect();
    let mut data = Dataset::from_labels(x, labels, n_features, classes, &images.display().to_string())?;
    data.feature_names = (0..n_features).map(|j| format!("pixel{j}")).collect();
    Ok(data)
}
