//! The simulator's random numbers: `SplitMix64` and integer-only helpers on top. Public, so
//! the model-based test and the benchmarks seed their scenarios with the same generator.
//!
//! Written out here rather than taken from a crate so that a seed replays the same run on every
//! platform and with every dependency version: the generator is fixed, and no decision goes
//! through floating point.

/// A `SplitMix64` generator (Steele, Lea and Flood, 2014): tiny, fast, and good enough for
/// behaviour that only has to look random.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub const fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; 0 when `n` is 0.
    pub const fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift: the bias is at most n / 2^64, far below anything visible.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi` (`hi` below `lo` counts as `lo`).
    pub const fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub const fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index of `weights`, each chosen with probability proportional to its weight; `None`
    /// when every weight is 0.
    pub(crate) fn weighted(&mut self, weights: &[u64]) -> Option<usize> {
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut roll = self.below(total);
        for (index, &weight) in weights.iter().enumerate() {
            if roll < weight {
                return Some(index);
            }
            roll -= weight;
        }
        None
    }

    /// A duration in milliseconds from weighted bands `(weight, low_ms, high_ms)`: pick a band,
    /// then uniform inside it. Bands give skewed distributions (mostly minutes, sometimes an
    /// hour) without floating point.
    pub(crate) fn band(&mut self, bands: &[(u64, u64, u64)]) -> u64 {
        let weights: Vec<u64> = bands.iter().map(|b| b.0).collect();
        match self.weighted(&weights).and_then(|i| bands.get(i)) {
            Some(&(_, lo, hi)) => self.between(lo, hi),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_numbers_and_helpers_stay_in_range() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut rng = Rng::new(7);
        let mut seen = [0_u32; 3];
        for _ in 0..3_000 {
            let x = rng.between(5, 7);
            assert!((5..=7).contains(&x));
            seen[(x - 5) as usize] += 1;
            assert_eq!(rng.below(0), 0);
            let pick = rng.weighted(&[0, 3, 1]).unwrap();
            assert!(pick == 1 || pick == 2);
            let ms = rng.band(&[(1, 10, 20), (0, 1_000, 2_000), (1, 30, 40)]);
            assert!((10..=20).contains(&ms) || (30..=40).contains(&ms));
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(rng.weighted(&[0, 0]), None);
        assert_eq!(rng.between(9, 3), 9);
    }
}
