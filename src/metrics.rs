//! Metrics over a set of predictions: accuracy and the confusion matrix.

use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_and_accuracy() {
        let c = Confusion::new(3, [(0, 0), (1, 2), (2, 2), (2, 2)]);
        assert_eq!(c.counts, vec![vec![1, 0, 0], vec![0, 0, 1], vec![0, 0, 2]]);
        assert_eq!(c.accuracy(), 0.75);
    }
}
