//! [`Rows`]: the one view of "some rows of a dataset" that training and evaluation read: a
//! dataset and an optional row map (the training rows left by a validation split, or the
//! validation rows themselves).
//!
//! The map is applied once per step, not once per row: [`Rows::resolve`] turns a batch's view
//! indices into the dataset's own row numbers (no copy when there is no map), and the engine then
//! reads every row of the batch straight from the dataset, one dynamic call per row.

use super::Examples;
use crate::error::Result;

/// Rows of a dataset, in order: all of them, or row `map[i]` of `data` as row `i`.
///
/// Converts from any `&Dataset`, `&MappedDataset` or `&dyn Examples` (all rows), so functions
/// that take `impl Into<Rows>` take those as they are.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    data: &'a dyn Examples,
    map: Option<&'a [usize]>,
}

impl<'a> Rows<'a> {
    /// Every row of `data`.
    pub fn all(data: &'a dyn Examples) -> Self {
        Self { data, map: None }
    }

    /// Rows `map` of `data`, in that order: row `i` of the view is row `map[i]` of `data`.
    pub fn subset(data: &'a dyn Examples, map: &'a [usize]) -> Self {
        Self { data, map: Some(map) }
    }

    /// The dataset the rows come from.
    pub fn data(&self) -> &'a dyn Examples {
        self.data
    }

    /// Rows in the view.
    pub fn len(&self) -> usize {
        self.map.map_or_else(|| self.data.len(), <[usize]>::len)
    }

    /// Whether the view has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Features per row (`S_1`).
    pub fn n_features(&self) -> usize {
        self.data.n_features()
    }

    /// The dataset's row number of the view's row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> usize {
        self.map.map_or(i, |m| m[i])
    }

    /// The dataset's row numbers of the view's rows `idx`: `idx` itself when there is no map,
    /// else `map[idx[j]]` written into `buf` (cleared first; it allocates only to grow).
    pub fn resolve<'b>(&self, idx: &'b [usize], buf: &'b mut Vec<usize>) -> &'b [usize] {
        match self.map {
            None => idx,
            Some(m) => {
                buf.clear();
                buf.extend(idx.iter().map(|&i| m[i]));
                buf
            }
        }
    }

    /// [`Examples::prefetch`] for the view's rows `idx` (mapped through `buf` as by
    /// [`Rows::resolve`]).
    pub fn prefetch(&self, idx: &[usize], buf: &mut Vec<usize>) {
        self.data.prefetch(self.resolve(idx, buf));
    }

    /// [`super::check_rows`] for the view's rows `idx`: the source is whole and, where opening
    /// did not check them, their cells are valid.
    pub fn check(&self, idx: impl IntoIterator<Item = usize>) -> Result<()> {
        super::check_rows(self.data, idx.into_iter().map(|i| self.row(i)))
    }

    /// Raw (unscaled) features of the view's row `i`.
    pub fn features(&self, i: usize) -> &'a [f32] {
        self.data.features(self.row(i))
    }
}

impl<'a, E: Examples> From<&'a E> for Rows<'a> {
    fn from(data: &'a E) -> Self {
        Self::all(data)
    }
}

impl<'a, 'b: 'a> From<&'a (dyn Examples + 'b)> for Rows<'a> {
    fn from(data: &'a (dyn Examples + 'b)) -> Self {
        Self::all(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn a_map_picks_rows_in_its_order_and_resolves_once() {
        let x: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let d = Dataset::from_labels(x, vec![0, 1, 0, 1, 0], 2, vec!["a".into(), "b".into()], "t").unwrap();
        let all = Rows::from(&d);
        assert_eq!((all.len(), all.row(3)), (5, 3));
        let map = [4, 0, 2];
        let v = Rows::subset(&d, &map);
        assert_eq!((v.len(), v.n_features(), v.features(0)), (3, 2, &[8.0, 9.0][..]));
        let mut buf = Vec::new();
        assert_eq!(v.resolve(&[2, 1], &mut buf), [2, 0]);
        assert_eq!(all.resolve(&[2, 1], &mut buf), [2, 1]);
    }
}
