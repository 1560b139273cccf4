//! How good a score is on labelled rows: ROC AUC, precision at the top k,
//! calibration, and the curves the report draws.
//!
//! Computed here rather than taken from a library, so that every figure
//! the model file records has one definition, tested on hand-worked cases.

use serde::{Deserialize, Serialize};

use super::bounds::{CURVE_POINTS_MAX, SCORE_BINS};

/// Bins of the calibration table (equal widths over 0 to 1).
pub const CALIBRATION_BINS: usize = 10;

/// Quality figures of scores against labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Rows scored.
    pub rows: usize,
    /// Rows labelled positive.
    pub positives: usize,
    /// The area under the ROC curve: the chance that a positive row scores
    /// above a negative one (ties count half); 0.5 is a coin.
    pub roc_auc: f64,
    /// The share of positives among the 5 % of rows that score highest.
    pub precision_at_5pct: f64,
    /// The same for the top 10 %.
    pub precision_at_10pct: f64,
    /// The share of positives overall: the precision of a random pick.
    pub base_rate: f64,
    /// The mean squared difference of score and label.
    pub brier: f64,
    /// Predicted against observed, by score bin.
    pub calibration: Vec<CalibrationBin>,
    /// The ROC curve, `[false positive rate, true positive rate]`, from
    /// `[0, 0]` to `[1, 1]`.
    pub roc: Vec<[f64; 2]>,
    /// The gain chart, `[share of rows targeted, share of positives
    /// found]`, the rows taken highest score first.
    pub gain: Vec<[f64; 2]>,
    /// Rows per score bin (equal widths over 0 to 1), positives.
    pub histogram_positives: Vec<usize>,
    /// The same for the negatives.
    pub histogram_negatives: Vec<usize>,
}

/// One bin of the calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationBin {
    /// Lowest score of the bin.
    pub from: f64,
    /// Rows in the bin.
    pub rows: usize,
    /// Mean score of its rows.
    pub predicted: f64,
    /// Share of its rows that are positive.
    pub observed: f64,
}

impl Metrics {
    /// Every figure of `scores` (between 0 and 1) against `labels`.
    #[must_use]
    pub fn of(scores: &[f64], labels: &[bool]) -> Self {
        assert_eq!(scores.len(), labels.len(), "one score per label");
        let rows = labels.len();
        let positives = labels.iter().filter(|&&l| l).count();
        let brier = if rows == 0 {
            0.0
        } else {
            scores.iter().zip(labels).map(|(s, &l)| (s - f64::from(u8::from(l))).powi(2)).sum::<f64>() / rows as f64
        };
        let mut histogram_positives = vec![0; SCORE_BINS];
        let mut histogram_negatives = vec![0; SCORE_BINS];
        for (&s, &l) in scores.iter().zip(labels) {
            let bin = bin_of(s, SCORE_BINS);
            if l {
                histogram_positives[bin] += 1;
            } else {
                histogram_negatives[bin] += 1;
            }
        }
        Self {
            rows,
            positives,
            roc_auc: roc_auc(scores, labels).unwrap_or(0.5),
            precision_at_5pct: precision_at(scores, labels, 0.05),
            precision_at_10pct: precision_at(scores, labels, 0.10),
            base_rate: if rows == 0 { 0.0 } else { positives as f64 / rows as f64 },
            brier,
            calibration: calibration(scores, labels),
            roc: thin(&roc_curve(scores, labels)),
            gain: gain_curve(scores, labels),
            histogram_positives,
            histogram_negatives,
        }
    }
}

/// The area under the ROC curve, by ranks (the Mann-Whitney U statistic
/// over positives times negatives), tied scores sharing their mean rank.
/// `None` without both classes.
#[must_use]
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mean_rank = (i + j + 2) as f64 / 2.0;
        rank_sum += mean_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Rows in score order, highest first; ties keep row order, so the
/// result is the same on every run.
#[must_use]
pub fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// The share of positives among the `fraction` of rows that score highest
/// (at least one row).
#[must_use]
pub fn precision_at(scores: &[f64], labels: &[bool], fraction: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let k = top_count(scores.len(), fraction);
    let hits = ranking(scores).iter().take(k).filter(|&&r| labels[r]).count();
    hits as f64 / k as f64
}

/// How many rows the top `fraction` of `rows` is: rounded up, at least one.
#[must_use]
pub fn top_count(rows: usize, fraction: f64) -> usize {
    let k = (rows as f64 * fraction.clamp(0.0, 1.0)).ceil();
    // A count of rows, so the cast back is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let k = k as usize;
    k.clamp(1, rows.max(1))
}

/// The ROC curve at every distinct score, from `[0, 0]` to `[1, 1]`.
#[must_use]
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Vec<[f64; 2]> {
    let positives = labels.iter().filter(|&&l| l).count().max(1) as f64;
    let negatives = labels.iter().filter(|&&l| !l).count().max(1) as f64;
    let order = ranking(scores);
    let mut points = vec![[0.0, 0.0]];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &r) in order.iter().enumerate() {
        if labels[r] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = order.get(i + 1).is_none_or(|&next| scores[next] != scores[r]);
        if last_of_tie {
            points.push([fp / negatives, tp / positives]);
        }
    }
    points
}

/// The gain chart at every percent of rows targeted.
#[must_use]
pub fn gain_curve(scores: &[f64], labels: &[bool]) -> Vec<[f64; 2]> {
    let positives = labels.iter().filter(|&&l| l).count().max(1) as f64;
    let order = ranking(scores);
    let mut found = vec![0usize; order.len() + 1];
    for (i, &r) in order.iter().enumerate() {
        found[i + 1] = found[i] + usize::from(labels[r]);
    }
    (0..CURVE_POINTS_MAX)
        .map(|step| {
            let share = step as f64 / (CURVE_POINTS_MAX - 1) as f64;
            let k = if step == 0 { 0 } else { top_count(order.len(), share) };
            [share, found[k] as f64 / positives]
        })
        .collect()
}

/// Predicted against observed in [`CALIBRATION_BINS`] equal score bins;
/// empty bins left out.
#[must_use]
pub fn calibration(scores: &[f64], labels: &[bool]) -> Vec<CalibrationBin> {
    let mut sums = vec![(0usize, 0.0, 0usize); CALIBRATION_BINS];
    for (&s, &l) in scores.iter().zip(labels) {
        let bin = &mut sums[bin_of(s, CALIBRATION_BINS)];
        bin.0 += 1;
        bin.1 += s;
        bin.2 += usize::from(l);
    }
    sums.into_iter()
        .enumerate()
        .filter(|(_, (rows, _, _))| *rows > 0)
        .map(|(i, (rows, sum, hits))| CalibrationBin {
            from: i as f64 / CALIBRATION_BINS as f64,
            rows,
            predicted: sum / rows as f64,
            observed: hits as f64 / rows as f64,
        })
        .collect()
}

/// The bin of a score in `bins` equal bins over 0 to 1 (1 in the last).
fn bin_of(score: f64, bins: usize) -> usize {
    let at = (score.clamp(0.0, 1.0) * bins as f64).floor();
    // Between 0 and `bins` after the clamp.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let at = at as usize;
    at.min(bins - 1)
}

/// At most [`CURVE_POINTS_MAX`] points of a curve, evenly picked, the first
/// and last kept.
fn thin(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    if points.len() <= CURVE_POINTS_MAX {
        return points.to_vec();
    }
    let last = points.len() - 1;
    (0..CURVE_POINTS_MAX).map(|i| points[i * last / (CURVE_POINTS_MAX - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORES: [f64; 6] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
    const LABELS: [bool; 6] = [true, true, false, true, false, false];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn auc_by_hand() {
        // Positives .9, .8, .6 against negatives .7, .5, .4: 3 + 3 + 2 of
        // 9 pairs ordered right.
        assert!(close(roc_auc(&SCORES, &LABELS).unwrap_or(0.0), 8.0 / 9.0));
        // A tie counts half; perfect and reversed orders give 1 and 0.
        assert!(close(roc_auc(&[0.5, 0.5], &[true, false]).unwrap_or(0.0), 0.5));
        assert!(close(roc_auc(&[0.1, 0.9], &[false, true]).unwrap_or(0.0), 1.0));
        assert!(close(roc_auc(&[0.9, 0.1], &[false, true]).unwrap_or(1.0), 0.0));
        // Two positives tied with one negative at .5, one negative below:
        // (0.5 + 1) per positive, over 2 x 2 pairs.
        assert!(close(roc_auc(&[0.5, 0.5, 0.5, 0.1], &[true, true, false, false]).unwrap_or(0.0), 0.75));
        assert_eq!(roc_auc(&[0.3], &[true]), None);
    }

    #[test]
    fn the_roc_curve_integrates_to_the_auc() {
        let curve = roc_curve(&SCORES, &LABELS);
        assert_eq!(curve.first(), Some(&[0.0, 0.0]));
        assert_eq!(curve.last(), Some(&[1.0, 1.0]));
        let area: f64 = curve.windows(2).map(|w| (w[1][0] - w[0][0]) * (w[1][1] + w[0][1]) / 2.0).sum();
        assert!(close(area, 8.0 / 9.0));
    }

    #[test]
    fn precision_at_the_top() {
        // Top third: the two highest, both positive; top half: 2 of 3.
        assert!(close(precision_at(&SCORES, &LABELS, 1.0 / 3.0), 1.0));
        assert!(close(precision_at(&SCORES, &LABELS, 0.5), 2.0 / 3.0));
        // 5 % of 6 rows rounds up to one row.
        assert!(close(precision_at(&SCORES, &LABELS, 0.05), 1.0));
        assert_eq!(top_count(200, 0.05), 10);
        assert_eq!(top_count(0, 0.1), 1);
    }

    #[test]
    fn calibration_gain_and_brier_by_hand() {
        let m = Metrics::of(&SCORES, &LABELS);
        assert_eq!((m.rows, m.positives), (6, 3));
        assert!(close(m.base_rate, 0.5));
        // (0.1² + 0.2² + 0.7² + 0.4² + 0.5² + 0.4²) / 6
        assert!(close(m.brier, (0.01 + 0.04 + 0.49 + 0.16 + 0.25 + 0.16) / 6.0));
        let bins: Vec<(usize, f64)> = m.calibration.iter().map(|b| (b.rows, b.observed)).collect();
        assert_eq!(bins, vec![(1, 0.0), (1, 0.0), (1, 1.0), (1, 0.0), (1, 1.0), (1, 1.0)]);
        assert_eq!(m.gain.len(), CURVE_POINTS_MAX);
        assert_eq!(m.gain[0], [0.0, 0.0]);
        assert_eq!(m.gain[CURVE_POINTS_MAX - 1], [1.0, 1.0]);
        // Half the rows (the top 3) find 2 of the 3 positives.
        assert!(close(m.gain[50][1], 2.0 / 3.0));
        assert_eq!(m.histogram_positives.iter().sum::<usize>(), 3);
    }

    #[test]
    fn long_curves_are_thinned() {
        let scores: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        let labels: Vec<bool> = (0..1000).map(|i| i % 3 == 0).collect();
        let m = Metrics::of(&scores, &labels);
        assert_eq!(m.roc.len(), CURVE_POINTS_MAX);
        assert_eq!(m.roc.last(), Some(&[1.0, 1.0]));
    }
}
