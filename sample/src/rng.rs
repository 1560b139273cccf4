//! A small seeded random source with the draws the generator needs.
//!
//! Integer draws only: every figure the generator writes is exact, and the
//! same seed gives the same files on every platform.

/// A seeded pseudo-random source (wyrand, from `fastrand`).
#[derive(Debug, Clone)]
pub struct Rng(fastrand::Rng);

/// One in a million, the unit of [`Rng::chance`].
pub const MILLION: u32 = 1_000_000;

impl Rng {
    /// A source for one `stream` of a seed: each part of the data set
    /// (catalog, accounts, events) draws from its own stream, so that asking
    /// for more events does not change the catalog or the accounts.
    #[must_use]
    pub fn new(seed: u64, stream: u64) -> Self {
        Self(fastrand::Rng::with_seed(splitmix64(splitmix64(seed) ^ stream)))
    }

    /// A value in `0..n`; `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.u64(0..n.max(1))
    }

    /// An index in `0..n`; `n` must be positive.
    pub fn index(&mut self, n: usize) -> usize {
        self.0.usize(0..n.max(1))
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.u64(lo..=hi.max(lo))
    }

    /// True with a probability of `per_million` in a million.
    pub fn chance(&mut self, per_million: u32) -> bool {
        self.0.u32(0..MILLION) < per_million
    }

    /// True with a probability of `percent` in a hundred.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.0.u32(0..100) < percent
    }

    /// One of `items`, each as likely as its weight.
    pub fn weighted<T: Copy>(&mut self, items: &[(u32, T)]) -> T {
        let total: u64 = items.iter().map(|(w, _)| u64::from(*w)).sum();
        let mut at = self.below(total);
        for (w, item) in items {
            if at < u64::from(*w) {
                return *item;
            }
            at -= u64::from(*w);
        }
        items[items.len() - 1].1
    }

    /// One of `items`, uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Appends `n` random decimal digits.
    pub fn digits(&mut self, out: &mut String, n: usize) {
        for _ in 0..n {
            out.push(char::from(b'0' + u8::try_from(self.below(10)).unwrap_or(0)));
        }
    }

    /// A skewed index in `0..n`: low indices are drawn far more often (the
    /// product of two uniform draws, a density falling like `-ln x`). Map
    /// the result through a permutation to spread the heavy users.
    pub fn skewed(&mut self, n: usize) -> usize {
        let n64 = n.max(1) as u64;
        let a = self.below(n64);
        let b = self.below(n64);
        usize::try_from(a * b / n64).unwrap_or(0)
    }
}

/// SplitMix64's finaliser: turns nearby seeds into unrelated ones.
#[must_use]
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |seed, stream| {
            let mut r = Rng::new(seed, stream);
            (0..8).map(|_| r.below(1_000_000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 1), draw(7, 1));
        assert_ne!(draw(7, 1), draw(7, 2));
        assert_ne!(draw(7, 1), draw(8, 1));
    }

    #[test]
    fn weighted_and_skewed_stay_in_range() {
        let mut r = Rng::new(1, 0);
        let mut seen = [0u32; 3];
        for _ in 0..10_000 {
            seen[r.weighted(&[(1, 0usize), (0, 1), (9, 2)])] += 1;
            assert!(r.skewed(10) < 10);
        }
        assert_eq!(seen[1], 0);
        assert!(seen[2] > seen[0] * 5);
    }
}
