//! Seeded, portable randomness. ChaCha8 is specified bit for bit, and the helpers here avoid
//! `rand`'s sampling algorithms (which may change between versions) for anything that decides
//! the order of training.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Stream used for weight initialisation.
pub const STREAM_INIT: u64 = 0;
/// Stream used for shuffling the training data each epoch.
pub const STREAM_SHUFFLE: u64 = 1;
/// Stream used for holding out validation rows.
pub const STREAM_SPLIT: u64 = 2;

/// A ChaCha8 generator for `seed` on one of the streams above.
pub fn seeded(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The complete state of a [`seeded`] generator, small and stable enough to store in checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The seed.
    pub seed: u64,
    /// The stream.
    pub stream: u64,
    /// Position in the stream, in 32-bit words.
    pub word_pos: u128,
}

impl RngState {
    /// Captures `rng`, which must have come from [`seeded`]`(seed, stream)`.
    pub fn capture(seed: u64, rng: &ChaCha8Rng) -> Self {
        Self { seed, stream: rng.get_stream(), word_pos: rng.get_word_pos() }
    }
    /// Rebuilds the generator.
    pub fn restore(&self) -> ChaCha8Rng {
        let mut rng = seeded(self.seed, self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }
}

/// A uniform integer in `0..n` by rejection sampling (`n > 0`).
pub fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let n = n as u64;
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return (v % n) as usize;
        }
    }
}

/// Fisher–Yates shuffle of `v` in place.
pub fn shuffle<X>(rng: &mut ChaCha8Rng, v: &mut [X]) {
    for i in (1..v.len()).rev() {
        let j = below(rng, i + 1);
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_seeded_permutation_and_state_round_trips() {
        let mut rng = seeded(7, STREAM_SHUFFLE);
        let mut v: Vec<usize> = (0..100).collect();
        shuffle(&mut rng, &mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
        let state = RngState::capture(7, &rng);
        let a = rng.next_u64();
        assert_eq!(state.restore().next_u64(), a);
        let mut w: Vec<usize> = (0..100).collect();
        shuffle(&mut seeded(7, STREAM_SHUFFLE), &mut w);
        assert_eq!(v, w);
    }
}
