//! [`MappedNpy`]: a float32, little-endian, C-order `.npy` features file served to training
//! straight from a read-only map, as [`crate::data::binary::MappedDataset`] serves the binary
//! format, with its labels (a second, small array) in memory.
//!
//! A `.npy` stores no checksum or statistics, so opening reads the rows once, sequentially and
//! not through the map (plain reads, with the kernel's read-ahead): every cell is checked, the
//! scaling statistics are gathered in row order (the bits [`ScalerFit::fit`] gives in memory),
//! and the fingerprint hash is computed (the one [`crate::data::Fingerprint::of`] would compute),
//! so nothing reads the whole file again.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::array::Place;
use super::header::{self, Header};
use crate::data::mapping::{MappedFile, PageRelease, RowFloats};
use crate::data::{Examples, Scale, Scaler, ScalerFit, Target, Targets, Task};
use crate::error::{Error, Result};
use crate::hash::Fnv1a;

/// A `.npy` features file opened by memory mapping, with its targets in memory.
pub struct MappedNpy {
    map: MappedFile,
    /// The rows as `f32`s, a view into `map` made once when opening ([`RowFloats`]).
    rows: RowFloats,
    n_rows: usize,
    n_features: usize,
    targets: Targets,
    stats: ScalerFit,
    hash: u64,
    release: PageRelease,
    /// What the targets mean.
    pub task: Task,
    /// Feature names.
    pub feature_names: Vec<String>,
    /// The file.
    pub path: PathBuf,
}

impl MappedNpy {
    /// Maps `path`, whose header `h` (read before, from the same path) says `rows × cols`
    /// native-endian `f32` cells in C order at a 4-byte aligned offset; `targets` holds one
    /// target per row. Checks the header again on the map, the file's length, and every cell.
    pub fn open(path: &Path, h: &Header, (rows, cols): (usize, usize), targets: Targets, task: Task) -> Result<Self> {
        let place = Place::file(path);
        let map = MappedFile::open(path)?;
        let again = header::parse(map.bytes()).map_err(|(at, m)| place.err(Some(at), m))?;
        if &again != h {
            return Err(place.err(Some(0), "the header changed while the file was being opened"));
        }
        let expected = h.data_offset.checked_add(h.data_len);
        if expected != Some(map.bytes().len() as u64) {
            let what = if expected.is_some_and(|e| e > map.bytes().len() as u64) {
                "truncated"
            } else {
                "bytes after the data"
            };
            return Err(place.err(
                None,
                format!(
                    "{what}: shape {} of {:?} needs {} bytes after the {}-byte header, the file is {} bytes",
                    h.shape_text(),
                    h.descr,
                    h.data_len,
                    h.data_offset,
                    map.bytes().len()
                ),
            ));
        }
        let rows_view = RowFloats::of(&map.bytes()[h.data_offset as usize..]);
        let mut d = Self {
            rows: rows_view,
            n_rows: rows,
            n_features: cols,
            targets,
            stats: ScalerFit::new(cols),
            hash: 0,
            release: PageRelease::new(cols * 4),
            task,
            feature_names: (1..=cols).map(|j| format!("col{j}")).collect(),
            path: path.to_path_buf(),
            map,
        };
        d.pass(h, &place)?;
        Ok(d)
    }

    /// The one sequential pass of [`MappedNpy::open`]: cells, statistics, fingerprint hash.
    fn pass(&mut self, h: &Header, place: &Place) -> Result<()> {
        let w = self.n_features;
        let per = ((1 << 20) / (4 * w)).max(1);
        let mut bytes = vec![0u8; per * w * 4];
        let mut row = vec![0f32; w];
        let mut hash = Fnv1a::default();
        let mut stats = ScalerFit::new(w);
        let mut i = 0;
        while i < self.n_rows {
            let n = per.min(self.n_rows - i);
            let at = h.data_offset + (i * w * 4) as u64;
            let chunk = &mut bytes[..n * w * 4];
            self.map.file().read_exact_at(chunk, at).map_err(|e| Error::io(&self.path, e))?;
            for (r, cells) in chunk.chunks_exact(w * 4).enumerate() {
                for (v, c) in row.iter_mut().zip(cells.chunks_exact(4)) {
                    *v = f32::from_le_bytes(c.try_into().expect("4 bytes"));
                }
                if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                    return Err(place.err(
                        Some(at + ((r * w + j) * 4) as u64),
                        format!("row {}, column {}: {} is not a finite number", i + r + 1, j + 1, row[j]),
                    ));
                }
                stats.push(&row);
                row.iter().for_each(|v| hash.eat(v.to_bits() as u64));
                match self.target(i + r) {
                    Target::Class(c) => hash.eat((c as f32).to_bits() as u64),
                    Target::Values(v) => v.iter().for_each(|v| hash.eat(v.to_bits() as u64)),
                }
            }
            i += n;
        }
        (self.stats, self.hash) = (stats, hash.value());
        Ok(())
    }

    #[inline]
    fn floats(&self) -> &[f32] {
        // SAFETY: `rows` points into `self.map`, which lives (mapped, read-only, at the same
        // address) as long as `self` and so as long as the slice.
        unsafe { self.rows.get() }
    }

    /// The scaler of kind `scale`, from the statistics gathered when the file was opened.
    pub fn scaler(&self, scale: Scale) -> Scaler {
        self.stats.scaler(scale)
    }
}

impl Examples for MappedNpy {
    fn len(&self) -> usize {
        self.n_rows
    }
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn n_targets(&self) -> usize {
        self.task.n_outputs()
    }
    fn features(&self, i: usize) -> &[f32] {
        &self.floats()[i * self.n_features..(i + 1) * self.n_features]
    }
    fn target(&self, i: usize) -> Target<'_> {
        self.targets.row(i, self.task.n_outputs())
    }
    fn content_hash(&self) -> Option<u64> {
        Some(self.hash)
    }
    fn check_source(&self) -> Result<()> {
        self.map.check_source()
    }
    fn rows_read(&self, rows: usize) {
        self.release.rows_read(rows, &self.map);
    }
    fn prefetch(&self, rows: &[usize]) {
        let floats = self.floats();
        // SAFETY: the rows' f32s viewed as bytes (any bit pattern is a byte), same lifetime.
        let bytes = unsafe { std::slice::from_raw_parts(floats.as_ptr().cast::<u8>(), std::mem::size_of_val(floats)) };
        crate::data::prefetch::will_need(bytes, self.n_features * 4, rows);
    }
}
