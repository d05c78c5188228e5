//! Rows parsed so far, of the whole file or of one block, with their own class numbering: what
//! the sequential parser fills and what the block pipeline merges in file order.

use std::path::Path;

use super::classes::ClassMap;
use super::layout::Layout;
use super::reader::RecordReader;
use super::rows::{ParsedRows, extend, out_of_memory, parse_rows};
use crate::data::{CsvOptions, Dataset, Target};
use crate::error::{Error, Result};

/// Rows parsed so far, with their class numbering (first-seen) and skipped lines.
pub(super) struct Gathered {
    rows: ParsedRows,
    classes: ClassMap,
    skipped: Vec<u64>,
    count: u64,
}

impl Gathered {
    /// Nothing yet; the class map fixed by `opts.classes`, if given.
    pub(super) fn new(opts: &CsvOptions) -> Self {
        let classes = opts.classes.as_deref().map(ClassMap::fixed).unwrap_or_default();
        Self { rows: ParsedRows::default(), classes, skipped: Vec::new(), count: 0 }
    }

    /// Parses the records of `rr` (the current one first when `pending`) into `self`.
    pub(super) fn parse(
        &mut self,
        rr: &mut RecordReader<'_>,
        layout: &Layout,
        pending: bool,
        opts: &CsvOptions,
    ) -> Result<()> {
        let (rows, path) = (&mut self.rows, rr.path().to_path_buf());
        let mut each = |row: &[f32], target: Target<'_>| {
            rows.push(row, target).map_err(|e| out_of_memory(&path, rows.rows(row.len()), e))
        };
        self.count += parse_rows(rr, layout, pending, opts, &mut self.classes, &mut self.skipped, &mut each)?;
        Ok(())
    }

    /// Nothing yet, as [`Gathered::new`], with `x` (emptied) as the buffer of features: a
    /// block's parser reuses the buffer of a block already merged, whose pages are mapped and
    /// warm, instead of faulting in fresh ones.
    pub(super) fn reusing(opts: &CsvOptions, mut x: Vec<f32>) -> Self {
        let mut got = Self::new(opts);
        x.clear();
        got.rows.x = x;
        got
    }

    /// Appends a later block's rows, renumbering its classes into this map; returns the block's
    /// buffer of features, for [`Gathered::reusing`].
    pub(super) fn append(&mut self, part: Gathered, path: &Path, opts: &CsvOptions) -> Result<Vec<f32>> {
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
        Ok(part.rows.x)
    }

    /// Rows parsed.
    pub(super) fn rows(&self) -> u64 {
        self.count
    }

    /// Hands the rows to `each` in order, their classes renumbered into `classes` and their
    /// skipped lines added to `skipped`; returns the feature buffer, for [`Gathered::reusing`].
    pub(super) fn drain(
        self,
        classes: &mut ClassMap,
        skipped: &mut Vec<u64>,
        each: &mut dyn FnMut(&[f32], Target<'_>) -> Result<()>,
    ) -> Result<Vec<f32>> {
        let remap: Vec<u32> = self.classes.names.iter().map(|n| classes.intern(n)).collect();
        skipped.extend_from_slice(&self.skipped);
        let rows = self.count as usize;
        let features = self.rows.x.len().checked_div(rows).unwrap_or(0);
        let values = self.rows.vals.len().checked_div(rows).unwrap_or(0);
        for i in 0..rows {
            let row = &self.rows.x[i * features..(i + 1) * features];
            match self.rows.ids.get(i) {
                Some(&id) => each(row, Target::Class(remap.get(id as usize).map_or(id, |&r| r) as usize))?,
                None => each(row, Target::Values(&self.rows.vals[i * values..(i + 1) * values]))?,
            }
        }
        Ok(self.rows.x)
    }

    /// The dataset, and the lines skipped.
    pub(super) fn into_dataset(self, path: &Path, opts: &CsvOptions, layout: &Layout) -> Result<(Dataset, Vec<u64>)> {
        if self.count == 0 {
            return Err(no_rows(path, layout));
        }
        Ok((self.rows.into_dataset(path, opts, layout, self.classes)?, self.skipped))
    }
}

/// The error for a file without a data row.
pub(super) fn no_rows(path: &Path, layout: &Layout) -> Error {
    let what = if layout.has_header { "header only" } else { "all rows were skipped" };
    Error::format(path, format!("{what}: no data rows"))
}
