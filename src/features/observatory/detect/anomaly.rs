//! Anomaly detection over a check's numeric readings (latency in ms, disk %, ...).
//!
//! Fixed thresholds cannot tell "slow for this endpoint" from "slow for any
//! endpoint", so the health-check service also compares each reading with the
//! recent past of the same check. A reading far outside the usual band becomes
//! a `warn` carrying [`Anomaly::evidence`], a sentence a human can act on.
//!
//! Three ways to describe "the usual" are offered because they fail
//! differently: `zscore` (mean and standard deviation) is simple but pulled by
//! outliers, `mad` (median and median absolute deviation) shrugs off outliers,
//! and `ewma` (exponentially weighted) follows slow drifts.
//!
//! Measured false-positive rate on N(92, 8) noise, window 1 h at 10 s
//! (360 readings), sensitivity 3, 20,000 judged readings (see the
//! `*_noise_stays_below_one_percent_false_positives` tests):
//! zscore 0.33% (65), ewma 0.30% (61), mad 0.33% (66).

use std::time::Duration;

/// Converts a MAD into a standard-deviation estimate for Gaussian data, so
/// one `sensitivity` means roughly the same thing for every method.
const MAD_TO_SIGMA: f64 = 1.4826;
/// Smallest spread ever used, so a perfectly flat series cannot divide by zero.
const ABSOLUTE_SPREAD_FLOOR: f64 = 1e-9;
/// Spread floor relative to the usual value. A very steady series (a loopback
/// answering in 22 ± 0.3 ms) would otherwise flag a 1 ms wobble; with 5%, at the
/// default sensitivity a reading must be about 15% off the usual to count, while a
/// real step (e.g. 5×) still stands out at once.
const RELATIVE_SPREAD_FLOOR: f64 = 0.05;
/// Below this magnitude the usual value is treated as zero, because a ratio to
/// it would be meaningless (or infinite).
const NEAR_ZERO: f64 = 1e-9;
/// Usual values that would be printed as "0" or "0.0" are described as
/// "usually 0" in evidence: a ratio to a number the reader cannot see helps no one.
const DISPLAYS_AS_ZERO: f64 = 0.05;
/// From this magnitude on values are printed as integers ("92 ms"); below it
/// one decimal carries real information ("2.3 ms"). Slightly under 10 so that
/// 9.96 prints as "10", not "10.0".
const INTEGER_DISPLAY_FROM: f64 = 9.95;
/// Bounds on the EWMA smoothing factor: at least 1% so old readings do fade,
/// at most 50% so a single reading cannot define "the usual".
const EWMA_ALPHA_MIN: f64 = 0.01;
const EWMA_ALPHA_MAX: f64 = 0.5;

/// How "the usual" and its spread are computed from the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Exponentially weighted mean and variance, in time order.
    Ewma,
    /// Mean and population standard deviation.
    Zscore,
    /// Median and scaled median absolute deviation.
    Mad,
}

impl Method {
    /// Parses a configuration value; case and surrounding spaces are ignored
    /// because these come from hand-written config files.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        [Self::Ewma, Self::Zscore, Self::Mad]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }

    /// The name used in configuration and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ewma => "ewma",
            Self::Zscore => "zscore",
            Self::Mad => "mad",
        }
    }
}

/// Tuning for [`judge`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How the usual value and spread are computed.
    pub method: Method,
    /// Only readings this recent count as "the usual".
    pub window: Duration,
    /// How many spreads away from the usual a reading must be to be flagged.
    /// Settings with a negative or non-finite sensitivity judge nothing.
    pub sensitivity: f64,
    /// Fewer readings than this in the window means "not enough to judge"
    /// (a value of 0 behaves as 1).
    pub min_samples: usize,
}

impl Default for Settings {
    /// EWMA over the last hour at three spreads, and at least 30 readings,
    /// so that a freshly added check does not warn on its first few readings.
    fn default() -> Self {
        Self {
            method: Method::Ewma,
            window: Duration::from_secs(3600),
            sensitivity: 3.0,
            min_samples: 30,
        }
    }
}

/// One reading: when (unix millis, i64) and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// The measured value, in the check's unit.
    pub value: f64,
}

/// A reading judged to be far from the usual, with the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The judged reading's value.
    pub value: f64,
    /// The usual value (mean, median or EWMA mean, depending on the method).
    pub usual: f64,
    /// `value / usual`; 0.0 when the usual is ~0 and a ratio would mean nothing.
    pub ratio: f64,
    /// How many spreads the value is away from the usual.
    pub score: f64,
    /// How many readings of the window the usual was computed from.
    pub samples: usize,
}

impl Anomaly {
    /// A one-line explanation, e.g. "latency 480 ms, 5.2× the usual 92 ms",
    /// or "latency 480 ms, usually 0 ms" when the usual is ~0.
    pub fn evidence(&self, what: &str, unit: &str) -> String {
        let value = with_unit(&format_value(self.value), unit);
        let usual = with_unit(&format_value(self.usual), unit);
        match self.displayable_ratio() {
            Some(ratio) => format!("{what} {value}, {ratio:.1}× the usual {usual}"),
            None => format!("{what} {value}, usually {usual}"),
        }
    }

    /// The ratio, unless the usual is too close to zero for a ratio to help.
    fn displayable_ratio(&self) -> Option<f64> {
        let meaningful = self.usual.abs() >= DISPLAYS_AS_ZERO && self.ratio.is_finite();
        meaningful.then_some(self.ratio)
    }
}

/// Judges `latest` against `history`.
///
/// `history` holds readings strictly before `latest`, in any order; it may
/// include readings older than the window, which are ignored: only those with
/// `at_ms >= latest.at_ms - window` count, so the caller can pass a ring buffer
/// as is. Returns None when fewer than `min_samples` readings are in the
/// window, when any value involved is not finite, or when the reading is
/// within the band.
///
/// Deviations in both directions are flagged: a latency that collapses to
/// near zero is as suspicious as one that explodes. Readings in `history`
/// at or after `latest.at_ms` are ignored too, so a caller passing its whole
/// buffer cannot make a reading judge itself.
pub fn judge(settings: &Settings, history: &[Reading], latest: Reading) -> Option<Anomaly> {
    if !latest.value.is_finite() || !is_usable_sensitivity(settings.sensitivity) {
        return None;
    }
    let mut window = window_readings(history, latest.at_ms, settings.window);
    if window.len() < settings.min_samples.max(1) || window.iter().any(|r| !r.value.is_finite()) {
        return None;
    }
    let baseline = Baseline::of(settings.method, &mut window)?;
    let score = baseline.score(latest.value)?;
    (score > settings.sensitivity).then(|| Anomaly {
        value: latest.value,
        usual: baseline.usual,
        ratio: ratio(latest.value, baseline.usual),
        score,
        samples: window.len(),
    })
}

/// A negative sensitivity would flag everything and NaN would flag nothing
/// silently; both are configuration mistakes, so they judge nothing.
fn is_usable_sensitivity(sensitivity: f64) -> bool {
    sensitivity.is_finite() && sensitivity >= 0.0
}

/// The readings that describe "the usual" for a reading taken at `latest_ms`.
fn window_readings(history: &[Reading], latest_ms: i64, window: Duration) -> Vec<Reading> {
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let start_ms = latest_ms.saturating_sub(window_ms);
    history
        .iter()
        .filter(|r| r.at_ms >= start_ms && r.at_ms < latest_ms)
        .copied()
        .collect()
}

/// `value / usual`, or 0.0 when that would divide by ~zero or overflow.
fn ratio(value: f64, usual: f64) -> f64 {
    if usual.abs() < NEAR_ZERO {
        return 0.0;
    }
    let ratio = value / usual;
    if ratio.is_finite() { ratio } else { 0.0 }
}

/// The usual value of a window and how far readings normally stray from it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Baseline {
    usual: f64,
    /// Always at least the floor, hence strictly positive.
    spread: f64,
}

impl Baseline {
    /// Computes the baseline; None if the numbers overflowed (values near
    /// f64::MAX), because a judgement on infinities would be noise.
    fn of(method: Method, window: &mut [Reading]) -> Option<Self> {
        let (usual, raw_spread) = match method {
            Method::Zscore => mean_and_std(window),
            Method::Mad => median_and_scaled_mad(window)?,
            Method::Ewma => ewma_mean_and_std(window),
        };
        let baseline = Self {
            usual,
            spread: floored_spread(raw_spread, usual),
        };
        (baseline.usual.is_finite() && baseline.spread.is_finite()).then_some(baseline)
    }

    /// How many spreads `value` is from the usual; None on overflow.
    fn score(&self, value: f64) -> Option<f64> {
        let score = (value - self.usual).abs() / self.spread;
        score.is_finite().then_some(score)
    }
}

/// Keeps a flat series from turning every tiny wobble into an anomaly.
fn floored_spread(spread: f64, usual: f64) -> f64 {
    spread
        .max(ABSOLUTE_SPREAD_FLOOR)
        .max(RELATIVE_SPREAD_FLOOR * usual.abs())
}

/// Mean and population standard deviation (the window is the population).
fn mean_and_std(window: &[Reading]) -> (f64, f64) {
    let n = window.len().max(1) as f64;
    let mean = window.iter().map(|r| r.value).sum::<f64>() / n;
    let variance = window.iter().map(|r| (r.value - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt())
}

/// Median and MAD scaled to a standard-deviation estimate.
fn median_and_scaled_mad(window: &[Reading]) -> Option<(f64, f64)> {
    let mut values: Vec<f64> = window.iter().map(|r| r.value).collect();
    let center = median(&mut values)?;
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    let mad = median(&mut deviations)?;
    Some((center, MAD_TO_SIGMA * mad))
}

/// Median in linear time; reorders `values`. None when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (lower, upper_middle, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper_middle = *upper_middle;
    if n % 2 == 1 {
        return Some(upper_middle);
    }
    let lower_middle = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(lower_middle / 2.0 + upper_middle / 2.0)
}

/// Exponentially weighted mean and standard deviation, oldest reading first.
///
/// The variance starts at zero, so it is divided by the total weight the
/// updates have accumulated; otherwise short windows would underestimate the
/// spread and fire too often.
fn ewma_mean_and_std(window: &mut [Reading]) -> (f64, f64) {
    window.sort_by_key(|r| r.at_ms);
    let alpha = ewma_alpha(window.len());
    let mut values = window.iter().map(|r| r.value);
    let mut mean = values.next().unwrap_or(0.0);
    let mut variance = 0.0;
    let mut updates = 0_i32;
    for value in values {
        let diff = value - mean;
        let increment = alpha * diff;
        mean += increment;
        variance = (1.0 - alpha) * (variance + diff * increment);
        updates = updates.saturating_add(1);
    }
    let accumulated_weight = 1.0 - (1.0 - alpha).powi(updates);
    if accumulated_weight > 0.0 {
        variance /= accumulated_weight;
    }
    (mean, variance.sqrt())
}

/// alpha = 2 / (n + 1), the usual "n-reading" EWMA, kept within bounds.
fn ewma_alpha(readings: usize) -> f64 {
    (2.0 / (readings as f64 + 1.0)).clamp(EWMA_ALPHA_MIN, EWMA_ALPHA_MAX)
}

/// Integers from 10 on, one decimal below; zero is always "0".
fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= INTEGER_DISPLAY_FROM {
        return format!("{value:.0}");
    }
    let text = format!("{value:.1}");
    if text == "0.0" || text == "-0.0" {
        "0".to_string()
    } else {
        text
    }
}

/// "92 ms", but "95%" and a bare "92" when there is no unit.
fn with_unit(value: &str, unit: &str) -> String {
    match unit {
        "" => value.to_string(),
        "%" => format!("{value}%"),
        _ => format!("{value} {unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP_MS: i64 = 10_000;
    const WINDOW_READINGS: usize = 360;
    const NOISE_MEAN: f64 = 92.0;
    const NOISE_STD: f64 = 8.0;
    const JUDGED_NOISE_READINGS: usize = 20_000;

    /// xorshift64*: deterministic, dependency-free noise for the tests.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Self {
            Self(seed.max(1))
        }

        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform in (0, 1], so its logarithm is finite.
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 1.0) / (1_u64 << 53) as f64
        }

        /// Box–Muller transform.
        fn gaussian(&mut self, mean: f64, std: f64) -> f64 {
            let radius = (-2.0 * self.uniform().ln()).sqrt();
            let angle = 2.0 * std::f64::consts::PI * self.uniform();
            mean + std * radius * angle.cos()
        }
    }

    fn settings(method: Method) -> Settings {
        Settings {
            method,
            ..Settings::default()
        }
    }

    fn reading(index: usize, value: f64) -> Reading {
        Reading {
            at_ms: 1_700_000_000_000 + index as i64 * STEP_MS,
            value,
        }
    }

    fn latency_noise(count: usize, seed: u64) -> Vec<Reading> {
        let mut rng = Rng::new(seed);
        (0..count)
            .map(|i| reading(i, rng.gaussian(NOISE_MEAN, NOISE_STD)))
            .collect()
    }

    fn flat(count: usize, value: f64) -> Vec<Reading> {
        (0..count).map(|i| reading(i, value)).collect()
    }

    fn assert_five_times_step_is_flagged(method: Method) {
        let history = latency_noise(WINDOW_READINGS, 7);
        let step = reading(WINDOW_READINGS, 5.0 * NOISE_MEAN);
        let anomaly = judge(&settings(method), &history, step);
        let Some(anomaly) = anomaly else {
            panic!("{} did not flag a 5× step", method.as_str());
        };
        let evidence = anomaly.evidence("latency", "ms");
        eprintln!("{} step evidence: {evidence}", method.as_str());
        assert!(evidence.starts_with("latency 460 ms, "), "{evidence}");
        assert!(evidence.contains("× the usual 9"), "{evidence}");
        assert!(evidence.ends_with(" ms"), "{evidence}");
        assert_eq!(anomaly.samples, WINDOW_READINGS);
        assert!((anomaly.ratio - 5.0).abs() < 0.2, "{anomaly:?}");
    }

    /// Judges every noise reading against the window before it.
    fn false_positive_rate(method: Method) -> f64 {
        let readings = latency_noise(WINDOW_READINGS + JUDGED_NOISE_READINGS, 42);
        let settings = settings(method);
        let flagged = (WINDOW_READINGS..readings.len())
            .filter(|&i| {
                let history = readings
                    .get(i.saturating_sub(WINDOW_READINGS + 40)..i)
                    .unwrap_or(&[]);
                readings
                    .get(i)
                    .is_some_and(|latest| judge(&settings, history, *latest).is_some())
            })
            .count();
        let rate = flagged as f64 / JUDGED_NOISE_READINGS as f64;
        eprintln!(
            "false-positive rate {}: {:.2}% ({flagged}/{JUDGED_NOISE_READINGS})",
            method.as_str(),
            rate * 100.0
        );
        rate
    }

    #[test]
    fn zscore_flags_a_five_times_latency_step() {
        assert_five_times_step_is_flagged(Method::Zscore);
    }

    #[test]
    fn mad_flags_a_five_times_latency_step() {
        assert_five_times_step_is_flagged(Method::Mad);
    }

    #[test]
    fn ewma_flags_a_five_times_latency_step() {
        assert_five_times_step_is_flagged(Method::Ewma);
    }

    #[test]
    fn zscore_noise_stays_below_one_percent_false_positives() {
        assert!(false_positive_rate(Method::Zscore) < 0.01);
    }

    #[test]
    fn mad_noise_stays_below_one_percent_false_positives() {
        assert!(false_positive_rate(Method::Mad) < 0.01);
    }

    #[test]
    fn ewma_noise_stays_below_one_percent_false_positives() {
        assert!(false_positive_rate(Method::Ewma) < 0.01);
    }

    #[test]
    fn a_sharp_drop_is_flagged_too() {
        let history = latency_noise(WINDOW_READINGS, 3);
        let drop = reading(WINDOW_READINGS, 1.0);
        let anomaly = judge(&settings(Method::Mad), &history, drop);
        assert!(anomaly.is_some_and(|a| a.ratio < 0.1));
    }

    #[test]
    fn fewer_than_min_samples_readings_are_not_judged() {
        let history = latency_noise(29, 1);
        let step = reading(29, 10_000.0);
        for method in [Method::Zscore, Method::Mad, Method::Ewma] {
            assert_eq!(judge(&settings(method), &history, step), None);
        }
    }

    #[test]
    fn readings_older_than_the_window_are_ignored() {
        let mut history: Vec<Reading> = (0..1000)
            .map(|i| Reading {
                at_ms: -1_000_000_000 - i,
                value: 1e6,
            })
            .collect();
        history.extend(latency_noise(WINDOW_READINGS, 11));
        let step = reading(WINDOW_READINGS, 460.0);
        for method in [Method::Zscore, Method::Mad, Method::Ewma] {
            let anomaly = judge(&settings(method), &history, step);
            assert!(anomaly.is_some_and(|a| (a.usual - NOISE_MEAN).abs() < 5.0));
        }
    }

    #[test]
    fn only_old_readings_mean_not_enough_samples() {
        let old: Vec<Reading> = (0..500)
            .map(|i| Reading {
                at_ms: i,
                value: 1.0,
            })
            .collect();
        let latest = Reading {
            at_ms: 10_000_000_000,
            value: 1e9,
        };
        assert_eq!(judge(&Settings::default(), &old, latest), None);
    }

    #[test]
    fn readings_at_or_after_the_latest_are_ignored() {
        let mut history = latency_noise(WINDOW_READINGS, 5);
        let latest = reading(WINDOW_READINGS, 460.0);
        history.push(latest);
        history.push(reading(WINDOW_READINGS + 1, 460.0));
        let anomaly = judge(&settings(Method::Zscore), &history, latest);
        assert!(anomaly.is_some_and(|a| a.samples == WINDOW_READINGS));
    }

    #[test]
    fn non_finite_values_are_not_judged() {
        let mut history = latency_noise(WINDOW_READINGS, 9);
        let step = reading(WINDOW_READINGS, 460.0);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let latest = reading(WINDOW_READINGS, bad);
            for method in [Method::Zscore, Method::Mad, Method::Ewma] {
                assert_eq!(judge(&settings(method), &history, latest), None);
            }
        }
        if let Some(r) = history.get_mut(100) {
            r.value = f64::NAN;
        }
        for method in [Method::Zscore, Method::Mad, Method::Ewma] {
            assert_eq!(judge(&settings(method), &history, step), None);
        }
    }

    #[test]
    fn values_near_the_float_limit_do_not_overflow_into_a_verdict() {
        let history: Vec<Reading> = (0..WINDOW_READINGS)
            .map(|i| reading(i, if i % 2 == 0 { f64::MAX } else { -f64::MAX }))
            .collect();
        let latest = reading(WINDOW_READINGS, f64::MAX);
        for method in [Method::Zscore, Method::Mad, Method::Ewma] {
            let anomaly = judge(&settings(method), &history, latest);
            assert!(anomaly.is_none_or(|a| a.score.is_finite() && a.ratio.is_finite()));
        }
    }

    #[test]
    fn a_flat_series_ignores_a_one_percent_wobble_but_flags_a_jump() {
        let history = flat(WINDOW_READINGS, 100.0);
        for method in [Method::Zscore, Method::Mad, Method::Ewma] {
            let settings = settings(method);
            let wobble = judge(&settings, &history, reading(WINDOW_READINGS, 101.0));
            let jump = judge(&settings, &history, reading(WINDOW_READINGS, 500.0));
            assert_eq!(wobble, None, "{}", method.as_str());
            assert!(jump.is_some_and(|a| a.usual == 100.0 && a.ratio == 5.0));
        }
    }

    #[test]
    fn a_flat_zero_series_reports_usually_zero_without_a_ratio() {
        let history = flat(WINDOW_READINGS, 0.0);
        let anomaly = judge(&settings(Method::Zscore), &history, reading(360, 480.0));
        let Some(anomaly) = anomaly else {
            panic!("a jump from a flat zero series was not flagged");
        };
        assert_eq!(anomaly.ratio, 0.0);
        assert!(anomaly.score.is_finite());
        assert_eq!(
            anomaly.evidence("latency", "ms"),
            "latency 480 ms, usually 0 ms"
        );
    }

    #[test]
    fn a_negative_or_nan_sensitivity_judges_nothing() {
        let history = latency_noise(WINDOW_READINGS, 2);
        let step = reading(WINDOW_READINGS, 460.0);
        for sensitivity in [-1.0, f64::NAN, f64::INFINITY] {
            let settings = Settings {
                sensitivity,
                ..Settings::default()
            };
            assert_eq!(judge(&settings, &history, step), None);
        }
    }

    #[test]
    fn evidence_rounds_large_values_to_integers_and_small_ones_to_a_decimal() {
        let anomaly = Anomaly {
            value: 480.4,
            usual: 92.3,
            ratio: 5.2,
            score: 48.0,
            samples: 360,
        };
        assert_eq!(
            anomaly.evidence("latency", "ms"),
            "latency 480 ms, 5.2× the usual 92 ms"
        );
        let small = Anomaly {
            value: 2.345,
            usual: 0.41,
            ratio: 5.72,
            score: 9.0,
            samples: 60,
        };
        assert_eq!(
            small.evidence("latency", "s"),
            "latency 2.3 s, 5.7× the usual 0.4 s"
        );
    }

    #[test]
    fn evidence_writes_percent_without_a_space() {
        let anomaly = Anomaly {
            value: 97.0,
            usual: 48.6,
            ratio: 2.0,
            score: 6.0,
            samples: 60,
        };
        assert_eq!(
            anomaly.evidence("disk", "%"),
            "disk 97%, 2.0× the usual 49%"
        );
    }

    #[test]
    fn methods_round_trip_through_their_names() {
        for method in [Method::Ewma, Method::Zscore, Method::Mad] {
            assert_eq!(Method::parse(method.as_str()), Some(method));
        }
        assert_eq!(Method::parse(" ZScore "), Some(Method::Zscore));
        assert_eq!(Method::parse("median"), None);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_middle_average() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut []), None);
    }
}
