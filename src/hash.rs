//! FNV-1a, 64 bits: a stable, dependency-free digest for the `params_digest` of a network and the
//! fingerprint of a dataset. Not for anything an adversary chooses to collide.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// A running FNV-1a hash. Each [`Fnv1a::eat`] folds in one unit (a byte, or a whole 32-bit word
/// for the dataset fingerprint): `h = (h ⊕ unit) · PRIME`.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(OFFSET)
    }
}

impl Fnv1a {
    /// Folds in one unit.
    #[inline]
    pub fn eat(&mut self, unit: u64) {
        self.0 = (self.0 ^ unit).wrapping_mul(PRIME);
    }

    /// Folds in every byte of `bytes`, one unit each.
    pub fn eat_bytes(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.eat(b as u64));
    }

    /// The hash so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}

/// FNV-1a over bytes.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::default();
    h.eat_bytes(bytes);
    h.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_test_vectors() {
        // From the FNV reference (isthe.com/chongo/tech/comp/fnv): FNV-1a 64 of "" and "a".
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
