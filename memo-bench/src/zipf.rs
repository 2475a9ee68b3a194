//! Zipf-distributed key ranks from a precomputed CDF, drawn with a small seeded PRNG, so that
//! every run (and every store within a run) reads the same sequence.

/// `SplitMix64`: a tiny, fast, seedable generator, good enough to drive benchmarks.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform draw from `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Zipf's law over ranks `0..n`: rank `k` (0-based) is drawn with probability proportional to
/// `1 / (k + 1)^s`.
#[derive(Clone, Debug)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks (at least one) with exponent `s`.
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n.max(1));
        let mut total = 0.0_f64;
        for rank in 1..=n.max(1) {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self { cdf }
    }

    /// How many ranks the distribution covers.
    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    /// Never: a distribution covers at least one rank.
    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// One rank, by inverse CDF (a binary search).
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// `count` ranks drawn from a generator seeded with `seed`.
    pub fn draws(&self, count: usize, seed: u64) -> Vec<u32> {
        let mut rng = SplitMix64::new(seed);
        (0..count)
            .map(|_| u32::try_from(self.sample(&mut rng)).unwrap_or(u32::MAX))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_one_over_k() {
        let n = 100;
        let zipf = Zipf::new(n, 1.0);
        let draws = zipf.draws(100_000, 7);
        let mut counts = vec![0_u32; n];
        for d in &draws {
            counts[*d as usize] += 1;
        }
        // P(rank 0) = 1 / H(100) = 0.1928; the bounds are many standard deviations (0.12%)
        // wide, and the seed is fixed.
        let top = f64::from(counts[0]) / draws.len() as f64;
        assert!((0.17..0.215).contains(&top), "top share {top}");
        // Rank k is about 1/k as frequent as rank 0.
        for k in [2_usize, 5, 10] {
            let ratio = f64::from(counts[0]) / f64::from(counts[k - 1]);
            assert!(
                (0.75 * k as f64..1.3 * k as f64).contains(&ratio),
                "rank {k}: {ratio}"
            );
        }
        assert!(counts.iter().all(|&c| c > 0), "every rank is drawn");
    }

    #[test]
    fn draws_stay_in_range_and_repeat_with_the_seed() {
        let zipf = Zipf::new(10, 1.0);
        let a = zipf.draws(10_000, 42);
        assert!(a.iter().all(|&d| d < 10));
        assert_eq!(a, zipf.draws(10_000, 42));
        assert_ne!(a, zipf.draws(10_000, 43));
    }

    #[test]
    fn uniform_floats_stay_in_the_unit_interval() {
        let mut rng = SplitMix64::new(1);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        assert!(
            (4_500.0..5_500.0).contains(&sum),
            "mean far from 0.5: {sum}"
        );
    }
}
