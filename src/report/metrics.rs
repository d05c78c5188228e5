//! Metrics over a set of predictions: accuracy and the confusion matrix, dense ([`Confusion`])
//! for a few classes, sparse ([`ConfusionPairs`]) for any number.

use std::collections::BTreeMap;

use serde::Serialize;

/// Classes up to which the confusion matrix is shown in full (text, JSON `confusion`, SVG).
pub const MAX_DENSE_CLASSES: usize = 50;

/// Counts of (true class, predicted class) pairs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// `counts[t][p]`: examples of true class `t` predicted as `p`.
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// Tallies `(truth, prediction)` pairs over `k` classes.
    pub fn new(k: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut counts = vec![vec![0u64; k]; k];
        for (t, p) in pairs {
            if t < k && p < k {
                counts[t][p] += 1;
            }
        }
        Self { counts }
    }

    /// Fraction on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().flatten().sum();
        let diag: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        diag as f64 / total.max(1) as f64
    }

    /// A fixed-width text table with class names as headers.
    pub fn to_text(&self, names: &[String]) -> String {
        let w = names
            .iter()
            .map(|n| n.len())
            .max()
            .unwrap_or(1)
            .max(self.counts.iter().flatten().max().map_or(1, |m| m.to_string().len()))
            .max(4);
        let mut s = format!("{:>w$} ", "true\\pred");
        for n in names {
            s += &format!("{n:>w$} ");
        }
        s.push('\n');
        for (t, row) in self.counts.iter().enumerate() {
            s += &format!("{:>w$} ", names.get(t).map_or("?", |n| n.as_str()), w = w.max(9));
            for c in row {
                s += &format!("{c:>w$} ");
            }
            s.push('\n');
        }
        s
    }
}

/// Counts of (true class, predicted class) pairs, kept sparse: memory grows with the distinct
/// pairs seen (at most one per row), never with classes², so a model of a million classes can
/// be evaluated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfusionPairs {
    k: usize,
    counts: BTreeMap<(usize, usize), u64>,
}

impl ConfusionPairs {
    /// No pairs yet, over `k` classes.
    pub fn new(k: usize) -> Self {
        Self { k, counts: BTreeMap::new() }
    }

    /// Counts one example of true class `t` predicted as `p` (pairs outside `k` are dropped).
    pub fn add(&mut self, t: usize, p: usize) {
        if t < self.k && p < self.k {
            *self.counts.entry((t, p)).or_insert(0) += 1;
        }
    }

    /// Classes.
    pub fn classes(&self) -> usize {
        self.k
    }

    /// The non-zero counts as `(true, predicted, count)`, ordered by true then predicted class.
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
        self.counts.iter().map(|(&(t, p), &c)| (t, p, c))
    }

    /// Fraction on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.values().sum();
        let diag: u64 = self.pairs().filter(|&(t, p, _)| t == p).map(|(_, _, c)| c).sum();
        diag as f64 / total.max(1) as f64
    }

    /// The full `k × k` matrix, when `k` is at most [`MAX_DENSE_CLASSES`].
    pub fn dense(&self) -> Option<Confusion> {
        (self.k <= MAX_DENSE_CLASSES)
            .then(|| Confusion::new(self.k, self.pairs().flat_map(|(t, p, c)| std::iter::repeat_n((t, p), c as usize))))
    }

    /// The `n` most frequent errors (`true ≠ predicted`) as `(true, predicted, count)`, most
    /// frequent first (ties by true, then predicted class).
    pub fn top_errors(&self, n: usize) -> Vec<(usize, usize, u64)> {
        let mut errors: Vec<_> = self.pairs().filter(|&(t, p, _)| t != p).collect();
        errors.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        errors.truncate(n);
        errors
    }

    /// The matrix as text: in full for up to [`MAX_DENSE_CLASSES`] classes, else a summary (the
    /// 20 most frequent errors).
    pub fn to_text(&self, names: &[String]) -> String {
        if let Some(c) = self.dense() {
            return c.to_text(names);
        }
        let name = |i: usize| names.get(i).map_or("?", |n| n.as_str());
        let errors = self.top_errors(20);
        let mut s = format!(
            "confusion matrix: {} classes, more than {MAX_DENSE_CLASSES}: not shown in full (--json has every non-zero pair as confusion_pairs)\n",
            self.k
        );
        if errors.is_empty() {
            s += "no errors\n";
        } else {
            s += &format!("the {} most frequent errors (true -> predicted: count):\n", errors.len());
            for (t, p, c) in errors {
                s += &format!("  {} -> {}: {c}\n", name(t), name(p));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_pairs_agree_with_the_dense_matrix_and_summarise_many_classes() {
        let pairs = [(0, 0), (1, 2), (2, 2), (2, 2)];
        let mut sparse = ConfusionPairs::new(3);
        for (t, p) in pairs {
            sparse.add(t, p);
        }
        assert_eq!(sparse.dense(), Some(Confusion::new(3, pairs)));
        assert_eq!(sparse.accuracy(), 0.75);
        assert_eq!(sparse.pairs().collect::<Vec<_>>(), vec![(0, 0, 1), (1, 2, 1), (2, 2, 2)]);
        // A million classes cost only the pairs seen.
        let mut many = ConfusionPairs::new(1_000_000);
        for (t, p) in [(5, 5), (7, 9), (7, 9), (999_999, 0)] {
            many.add(t, p);
        }
        assert!(many.dense().is_none());
        assert_eq!(many.top_errors(1), vec![(7, 9, 2)]);
        let names: Vec<String> = (0..1_000_000).map(|i| format!("c{i}")).collect();
        let text = many.to_text(&names);
        assert!(text.contains("1000000 classes") && text.contains("c7 -> c9: 2"), "{text}");
    }

    #[test]
    fn confusion_counts_and_accuracy() {
        let c = Confusion::new(3, [(0, 0), (1, 2), (2, 2), (2, 2)]);
        assert_eq!(c.counts, vec![vec![1, 0, 0], vec![0, 0, 1], vec![0, 0, 2]]);
        assert_eq!(c.accuracy(), 0.75);
    }
}
