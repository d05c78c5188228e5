//! [`Fingerprint`]: what a checkpoint remembers of its training data, so that resuming (or a
//! rank of a distributed run) on other data is refused.

use serde::{Deserialize, Serialize};

use super::{Examples, Target};
use crate::hash::Fnv1a;

/// The row and column counts of a dataset and a hash of its bytes, so that resuming on other data
/// can be refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Rows.
    pub rows: u64,
    /// Features per row.
    pub features: u64,
    /// Targets per row.
    pub targets: u64,
    /// FNV-1a over the 32-bit words of every row's features then target (a class as `f32`); for
    /// a binary dataset file, its stored CRC-32 of rows and metadata with bit 63 set.
    pub hash: u64,
}

impl Fingerprint {
    /// Fingerprints `data`: its stored content hash when it has one, else reads every row once.
    pub fn of(data: &dyn Examples) -> Self {
        let (rows, features, targets) = (data.len() as u64, data.n_features() as u64, data.n_targets() as u64);
        if let Some(hash) = data.content_hash() {
            return Self { rows, features, targets, hash };
        }
        let mut h = Fnv1a::default();
        let mut eat = |vals: &[f32]| vals.iter().for_each(|v| h.eat(v.to_bits() as u64));
        for i in 0..data.len() {
            eat(data.features(i));
            match data.target(i) {
                Target::Class(c) => eat(&[c as f32]),
                Target::Values(v) => eat(v),
            }
        }
        Self { rows, features, targets, hash: h.value() }
    }
}
