//! The latency object of the JSON document (`metrics.md` §2.4, §5), derived from a merged HDR
//! histogram in microseconds.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Microseconds per millisecond, for the `*_ms` fields.
const MICROS_PER_MS: f64 = 1000.0;

/// One operation's latency figures in milliseconds; every figure is `None` without samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyView {
    /// HDR mean: each bucket's median-equivalent value weighted by its count.
    pub average_ms: Option<f64>,
    /// Highest equivalent value of the bucket holding the 50th-percentile rank.
    pub p50_ms: Option<f64>,
    /// As `p50_ms`, 95th percentile.
    pub p95_ms: Option<f64>,
    /// As `p50_ms`, 99th percentile.
    pub p99_ms: Option<f64>,
    /// Lowest equivalent of the smallest non-zero sample, or 0 if a 0 µs sample exists.
    pub min_ms: Option<f64>,
    /// Highest equivalent of the largest sample.
    pub max_ms: Option<f64>,
    /// Number of samples.
    pub sample_count: u64,
}

impl LatencyView {
    /// Derives the figures; `None` or an empty histogram gives the all-`null` object.
    pub fn from_histogram(histogram: Option<&Histogram<u64>>) -> Self {
        let Some(h) = histogram.filter(|h| !h.is_empty()) else {
            return LatencyView::default();
        };
        // hdrhistogram implements exactly the §5 rules: ceil-rank percentiles reported as the
        // bucket's highest equivalent, `min` as lowest equivalent (0 if any 0 µs sample),
        // `max` as highest equivalent, `mean` over median equivalents.
        let ms = |micros: u64| Some(micros as f64 / MICROS_PER_MS);
        LatencyView {
            average_ms: Some(h.mean() / MICROS_PER_MS),
            p50_ms: ms(h.value_at_percentile(50.0)),
            p95_ms: ms(h.value_at_percentile(95.0)),
            p99_ms: ms(h.value_at_percentile(99.0)),
            min_ms: ms(h.min()),
            max_ms: ms(h.max()),
            sample_count: h.len(),
        }
    }

    /// The JSON object (keys sorted by `serde_json`'s map).
    pub fn to_json(&self) -> Value {
        json!({
            "average_ms": self.average_ms,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            "sample_count": self.sample_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{Latencies, Op};

    fn histogram_of(micros: &[u64]) -> Latencies {
        let mut l = Latencies::default();
        for m in micros {
            l.record(Op::RoomCreation, Duration::from_micros(*m));
        }
        l
    }

    #[test]
    fn no_samples_gives_nulls_and_zero_count() {
        let view = LatencyView::from_histogram(None);
        assert_eq!(view, LatencyView::default());
        assert_eq!(
            serde_json::to_string(&view.to_json()).expect("json"),
            r#"{"average_ms":null,"max_ms":null,"min_ms":null,"p50_ms":null,"p95_ms":null,"p99_ms":null,"sample_count":0}"#
        );
        let empty = crate::metrics::latency::new_histogram();
        assert_eq!(
            LatencyView::from_histogram(Some(&empty)),
            LatencyView::default()
        );
    }

    #[test]
    fn reproduces_the_spec_example() {
        let l = histogram_of(&[800, 1200, 1500, 2500, 9000]);
        let view = LatencyView::from_histogram(l.get(Op::RoomCreation));
        assert_eq!(view.average_ms, Some(3.001));
        assert_eq!(view.p50_ms, Some(1.5));
        assert_eq!(view.p95_ms, Some(9.007));
        assert_eq!(view.p99_ms, Some(9.007));
        assert_eq!(view.min_ms, Some(0.8));
        assert_eq!(view.max_ms, Some(9.007));
        assert_eq!(view.sample_count, 5);
        assert_eq!(
            serde_json::to_string(&view.to_json()).expect("json"),
            r#"{"average_ms":3.001,"max_ms":9.007,"min_ms":0.8,"p50_ms":1.5,"p95_ms":9.007,"p99_ms":9.007,"sample_count":5}"#
        );
    }

    #[test]
    fn zero_microsecond_sample_makes_min_zero() {
        let l = histogram_of(&[0, 700]);
        let view = LatencyView::from_histogram(l.get(Op::RoomCreation));
        assert_eq!(view.min_ms, Some(0.0));
        assert_eq!(view.max_ms, Some(0.7));
        assert_eq!(view.sample_count, 2);
    }
}
