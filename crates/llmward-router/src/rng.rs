//! A tiny seeded PRNG (SplitMix64) for backoff jitter and weighted route choice.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// SplitMix64: a small, fast, seedable generator (not cryptographic).
///
/// Used for backoff jitter and weighted route order, where the only requirement is a good spread
/// and, in tests, reproducibility from a seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

/// The golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the process's hash randomness (different on every run).
    pub fn from_entropy() -> Self {
        // std's RandomState is seeded from the OS once per thread, then incremented per instance.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(GAMMA);
        Self::new(hasher.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A uniform number in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            // Multiply-high maps 64 random bits onto the range without a modulo's bias hot spots.
            Some(span) => ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64,
            None => self.next_u64(),
        }
    }

    /// A uniform number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.up_to(n - 1) }
    }
}

/// SplitMix64's output function; also used to derive per-call seeds from one router seed.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    #[test]
    fn up_to_stays_in_range_and_reaches_both_ends() {
        let mut rng = SplitMix64::new(7);
        let (mut saw_low, mut saw_high) = (false, false);
        for _ in 0..10_000 {
            let v = rng.up_to(3);
            assert!(v <= 3);
            saw_low |= v == 0;
            saw_high |= v == 3;
        }
        assert!(saw_low && saw_high);
        assert_eq!(rng.below(0), 0);
        // The full range has no room for an off-by-one: it must simply not overflow.
        let _ = rng.up_to(u64::MAX);
    }
}
