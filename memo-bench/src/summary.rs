//! Interleaved rounds and their summary: the median and range of each row's samples.

/// One row's samples reduced to their median and range (minimum to maximum).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The middle sample (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

impl Summary {
    /// The summary of `samples`, or `None` when there are none (or one is NaN).
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }

    /// This median over `reference`'s: how many times slower (above 1) or faster.
    pub fn ratio_to(&self, reference: &Self) -> f64 {
        self.median / reference.median
    }
}

/// One benchmarked row: each call runs one timed batch and returns its nanoseconds per op.
pub type Batch<'a> = Box<dyn FnMut() -> f64 + 'a>;

/// Runs `rounds` rounds, each running every row's batch once in turn (row 0, row 1, ...,
/// then again), and returns every row's samples. Interleaving makes a burst of load on the
/// machine land on all rows alike instead of on whichever row ran then.
pub fn interleave(rows: &mut [Batch<'_>], rounds: usize) -> Vec<Vec<f64>> {
    let mut samples = vec![Vec::with_capacity(rounds); rows.len()];
    for _ in 0..rounds {
        for (row, times) in rows.iter_mut().zip(&mut samples) {
            times.push(row());
        }
    }
    samples
}

/// The per-round ratios of `samples` to `reference` (same round, same index), summarised.
pub fn ratio_range(samples: &[f64], reference: &[f64]) -> Option<Summary> {
    let ratios: Vec<f64> = samples.iter().zip(reference).map(|(s, r)| s / r).collect();
    Summary::of(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let odd = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!(
            odd,
            Summary {
                median: 3.0,
                min: 1.0,
                max: 5.0
            }
        );
        let even = Summary::of(&[4.0, 1.0, 3.0, 10.0]).unwrap();
        assert_eq!(
            even,
            Summary {
                median: 3.5,
                min: 1.0,
                max: 10.0
            }
        );
    }

    #[test]
    fn no_samples_or_nan_has_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn ratio_is_of_medians() {
        let memo = Summary::of(&[2.0, 3.0, 100.0]).unwrap();
        let raw = Summary::of(&[1.0, 2.0, 2.0]).unwrap();
        assert!((memo.ratio_to(&raw) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn rounds_interleave_rows_in_turn() {
        let order = std::cell::RefCell::new(Vec::new());
        let mut rows: Vec<Batch<'_>> = vec![
            Box::new(|| {
                order.borrow_mut().push(0);
                1.0
            }),
            Box::new(|| {
                order.borrow_mut().push(1);
                2.0
            }),
        ];
        let samples = interleave(&mut rows, 3);
        drop(rows);
        assert_eq!(order.into_inner(), vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(samples, vec![vec![1.0; 3], vec![2.0; 3]]);
    }

    #[test]
    fn per_round_ratios_pair_rounds() {
        let r = ratio_range(&[2.0, 6.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(
            r,
            Summary {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
    }
}
