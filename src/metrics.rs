//! Prometheus metrics: what the daemon counts, and the text a scrape gets.
//!
//! There are two kinds of numbers here, and they are kept apart on purpose.
//!
//! * **Counters and the histogram** grow as the daemon works: every check,
//!   every event, every delivery attempt. They live in one [`Metrics`]
//!   value, shared as `Arc<Metrics>` by the scheduler, the notify worker
//!   and the HTTP server. Recording is a few atomic additions; nothing
//!   here blocks or does I/O.
//! * **Gauges of the current state** (how many watches are `ok` or
//!   `deleted`, how old the oldest pending delivery is) already live in
//!   the store. Copying them into gauges on every change would mean two
//!   sources of truth that can drift apart, so instead the server reads a
//!   [`Snapshot`] from the store when Prometheus scrapes and passes it to
//!   [`Metrics::encode`]. The gauges are built fresh for that one answer
//!   and dropped afterwards: a status that no watch has any more simply
//!   disappears from the next scrape instead of lingering at its last
//!   value, and two scrapes running at once cannot see each other's
//!   numbers.
//!
//! The output is the OpenMetrics text format as `prometheus_client` writes
//! it (Prometheus reads it natively); serve it with [`CONTENT_TYPE`].
//! A scrape looks like this (abridged):
//!
//! ```text
//! # HELP palimpsest_checks Checks finished, by outcome.
//! # TYPE palimpsest_checks counter
//! palimpsest_checks_total{outcome="changed"} 12
//! # TYPE palimpsest_check_duration_seconds histogram
//! # UNIT palimpsest_check_duration_seconds seconds
//! palimpsest_check_duration_seconds_bucket{le="0.005"} 0
//! ...
//! palimpsest_watches{status="ok"} 99812
//! palimpsest_up 1
//! # EOF
//! ```
//!
//! # Label values are a closed vocabulary
//!
//! Every distinct label value is a time series that Prometheus keeps
//! forever. The `outcome`, `kind` and `status` arguments must therefore come
//! from a small fixed set (`"changed"`, `"edited"`, `"ok"`...), never from
//! a URL, a watch name or an error message.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The `Content-Type` of the text [`Metrics::encode`] returns.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds, in seconds, of the check-duration histogram buckets.
///
/// A conditional GET answered `304` from a nearby server takes a few
/// milliseconds; a slow site can use the whole fetch timeout (30 s by
/// default) and a big page's extraction a little more. Roughly a factor of
/// two to three between bounds keeps the quantile estimates honest across
/// that whole range with only 13 series.
const CHECK_DURATION_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Check outcomes that exist before the first check, so that a dashboard
/// shows `0` (and `rate()` works) instead of "no data".
const CHECK_OUTCOMES: [&str; 7] = [
    "changed",
    "unchanged",
    "not_modified",
    "failed",
    "gone",
    "blocked",
    "panicked",
];

/// Delivery outcomes that exist before the first delivery.
const DELIVERY_OUTCOMES: [&str; 3] = ["delivered", "retry", "failed"];

/// The label set `{outcome="..."}`. The field name is the label name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The label set `{kind="..."}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// The label set `{status="..."}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// The state the server reads from the store at scrape time.
///
/// It is plain data so that the server can fill it however it likes (one
/// `GROUP BY` query, a cached value) and tests can write it by hand.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Number of watches per page status (`"ok"`, `"deleted"`,
    /// `"unreachable"`, `"blocked"`, `"paused"`). A status listed twice is
    /// summed.
    pub watches_by_status: Vec<(String, i64)>,
    /// Age of the oldest delivery still waiting to be sent, `None` when the
    /// outbox is empty (exported as `0`).
    pub oldest_pending_delivery_age: Option<Duration>,
}

/// The daemon's counters, shared as `Arc<Metrics>`.
///
/// Every method takes `&self`: the metric types are atomics (and a lock
/// around each label family's map), so one value can be used from every
/// task at once.
#[derive(Debug)]
pub struct Metrics {
    /// Owns a handle to every metric below, for encoding.
    registry: Registry,
    checks: Family<OutcomeLabel, Counter>,
    check_duration: Histogram,
    fetch_bytes: Counter,
    events: Family<KindLabel, Counter>,
    deliveries: Family<OutcomeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics, every counter at zero.
    ///
    /// Metric handles in `prometheus_client` are cheap clones of an `Arc`:
    /// the registry gets one clone of each (to read at scrape time) and the
    /// struct keeps the other (to count with).
    pub fn new() -> Metrics {
        let mut registry = Registry::default();

        // A counter is registered without its `_total` suffix; the encoder
        // adds it to the sample name (`palimpsest_checks_total`).
        let checks = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "palimpsest_checks",
            "Checks finished, by outcome",
            checks.clone(),
        );

        // With a unit, the encoder appends it to the name and writes a
        // `# UNIT` line, as OpenMetrics wants.
        let check_duration = Histogram::new(CHECK_DURATION_BUCKETS);
        registry.register_with_unit(
            "palimpsest_check_duration",
            "Time from the start of a check to its record, fetch included",
            Unit::Seconds,
            check_duration.clone(),
        );

        let fetch_bytes = Counter::default();
        registry.register_with_unit(
            "palimpsest_fetch",
            "Body bytes received by checks, after decompression",
            Unit::Bytes,
            fetch_bytes.clone(),
        );

        let events = Family::<KindLabel, Counter>::default();
        registry.register(
            "palimpsest_events",
            "Events raised, by kind",
            events.clone(),
        );

        let deliveries = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "palimpsest_deliveries",
            "Delivery attempts of alerts, by outcome",
            deliveries.clone(),
        );

        // Creating a series is enough; `get_or_create` returns a read guard
        // on the family's map, dropped at once by `let _`.
        for outcome in CHECK_OUTCOMES {
            let _ = checks.get_or_create(&outcome_label(outcome));
        }
        for outcome in DELIVERY_OUTCOMES {
            let _ = deliveries.get_or_create(&outcome_label(outcome));
        }
        for kind in crate::model::EventKind::ALL {
            let _ = events.get_or_create(&KindLabel {
                kind: kind.as_str(),
            });
        }

        Metrics {
            registry,
            checks,
            check_duration,
            fetch_bytes,
            events,
            deliveries,
        }
    }

    /// Counts one finished check: its outcome (`"changed"`, `"unchanged"`,
    /// `"not_modified"`, `"failed"`, `"gone"`, `"blocked"`, `"panicked"`),
    /// how long it took and how many body bytes it received.
    /// Labels are static strings: counting a check allocates nothing.
    pub fn record_check(&self, outcome: &'static str, duration: Duration, bytes: u64) {
        self.checks.get_or_create(&outcome_label(outcome)).inc();
        self.check_duration.observe(duration.as_secs_f64());
        if bytes > 0 {
            self.fetch_bytes.inc_by(bytes);
        }
    }

    /// Counts one event raised, by its kind (`"edited"`, `"deleted"`...).
    pub fn record_event(&self, kind: &'static str) {
        self.events.get_or_create(&KindLabel { kind }).inc();
    }

    /// Counts one delivery attempt: `"delivered"`, `"retry"` (a retryable
    /// failure, another attempt is scheduled) or `"failed"` (given up).
    pub fn record_delivery(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&outcome_label(outcome)).inc();
    }

    /// Writes every metric, plus the gauges of `snap`, as one OpenMetrics
    /// text exposition ending in `# EOF`.
    ///
    /// Writing into a `String` cannot fail, so neither can this; should
    /// the encoder ever refuse something anyway, the error is logged and
    /// the answer is a bare `# EOF` (a valid, empty exposition) rather than
    /// half a scrape that Prometheus would reject as a whole.
    pub fn encode(&self, snap: &Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        match self.encode_into(&mut out, snap) {
            Ok(()) => out,
            Err(e) => {
                tracing::error!("cannot encode the metrics: {e}");
                "# EOF\n".to_owned()
            }
        }
    }

    fn encode_into(&self, out: &mut String, snap: &Snapshot) -> std::fmt::Result {
        encode_registry(out, &self.registry)?;
        encode_registry(out, &scrape_registry(snap))?;
        encode_eof(out)
    }
}

fn outcome_label(outcome: &'static str) -> OutcomeLabel {
    OutcomeLabel { outcome }
}

/// A registry holding only the gauges of one scrape.
///
/// `prometheus_client` encodes several registries into one answer when
/// they are written one after the other and followed by one `# EOF`, which
/// is what [`Metrics::encode`] does.
fn scrape_registry(snap: &Snapshot) -> Registry {
    let mut registry = Registry::default();

    let watches = Family::<StatusLabel, Gauge>::default();
    for (status, count) in &snap.watches_by_status {
        let label = StatusLabel {
            status: status.clone(),
        };
        watches.get_or_create(&label).inc_by(*count);
    }
    registry.register("palimpsest_watches", "Watches by page status", watches);

    // Seconds with a fraction: a float gauge (stored as the bits of an f64).
    let age = Gauge::<f64, AtomicU64>::default();
    age.set(
        snap.oldest_pending_delivery_age
            .map_or(0.0, |d| d.as_secs_f64()),
    );
    registry.register_with_unit(
        "palimpsest_oldest_pending_delivery_age",
        "Age of the oldest alert delivery not yet sent, 0 when none waits",
        Unit::Seconds,
        age,
    );

    // `up`-style gauge: the target answered, so the daemon is running.
    let up = Gauge::<i64>::default();
    up.set(1);
    registry.register("palimpsest_up", "1 while the daemon is running", up);

    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    /// The sample lines (`name{labels} value`) of an exposition.
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    fn value_of(text: &str, series: &str) -> Option<f64> {
        samples(text).into_iter().find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }

    /// Parses one sample line strictly enough to catch broken output:
    /// a metric name, an optional `{k="v",...}` label set with escapes, one
    /// space, a number. Returns the metric name.
    fn parse_sample(line: &str) -> Result<&str, String> {
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .ok_or_else(|| format!("no value: {line}"))?;
        let name = &line[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("bad metric name: {line}"));
        }
        let mut rest = &line[name_end..];
        if let Some(labels) = rest.strip_prefix('{') {
            let mut chars = labels.char_indices();
            let end = loop {
                // label name
                let key_start = chars.clone().next().map(|(i, _)| i);
                let mut key_end = None;
                for (i, c) in chars.by_ref() {
                    if c == '=' {
                        key_end = Some(i);
                        break;
                    }
                    if !(c.is_ascii_alphanumeric() || c == '_') {
                        return Err(format!("bad label name: {line}"));
                    }
                }
                match (key_start, key_end) {
                    (Some(s), Some(e)) if e > s => {}
                    _ => return Err(format!("empty label name: {line}")),
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(format!("label value not quoted: {line}"));
                }
                // label value, with \\ \" \n escapes
                loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\' | '"' | 'n')) => {}
                            _ => return Err(format!("bad escape: {line}")),
                        },
                        Some((_, '"')) => break,
                        Some((_, '\n')) | None => {
                            return Err(format!("unterminated value: {line}"));
                        }
                        Some(_) => {}
                    }
                }
                match chars.next() {
                    Some((_, ',')) => continue,
                    Some((i, '}')) => break i,
                    _ => return Err(format!("bad label separator: {line}")),
                }
            };
            rest = &labels[end + 1..];
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("no space before value: {line}"))?;
        let ok = matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok();
        if !ok {
            return Err(format!("bad value: {line}"));
        }
        Ok(name)
    }

    /// Checks a whole exposition: `# HELP`/`# TYPE`/`# UNIT` comments,
    /// samples that belong to a declared family, one `# EOF` at the end.
    fn check_exposition(text: &str) {
        assert!(text.ends_with("# EOF\n"), "no trailing # EOF:\n{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        let mut families = HashSet::new();
        for line in text.lines() {
            if let Some(comment) = line.strip_prefix("# ") {
                let mut words = comment.splitn(3, ' ');
                match words.next() {
                    Some("TYPE") => {
                        let name = words.next().unwrap_or_default();
                        assert!(families.insert(name.to_owned()), "family twice: {name}");
                        let ty = words.next().unwrap_or_default();
                        assert!(["counter", "gauge", "histogram"].contains(&ty), "type {ty}");
                    }
                    Some("HELP" | "UNIT") => assert!(words.next().is_some(), "{line}"),
                    Some("EOF") => {}
                    _ => panic!("unknown comment: {line}"),
                }
                continue;
            }
            let name = parse_sample(line).unwrap_or_else(|e| panic!("{e}"));
            let family_ok = families.iter().any(|f| {
                name == f
                    || name
                        .strip_prefix(f.as_str())
                        .is_some_and(|s| ["_total", "_bucket", "_sum", "_count"].contains(&s))
            });
            assert!(family_ok, "sample of no declared family: {line}");
        }
    }

    #[test]
    fn is_send_and_sync() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Metrics>();
    }

    #[test]
    fn counters_appear_with_labels_and_values() {
        let m = Metrics::new();
        m.record_check("changed", Duration::from_millis(120), 30_000);
        m.record_check("changed", Duration::from_millis(80), 20_000);
        m.record_check("not_modified", Duration::from_millis(3), 0);
        m.record_event("edited");
        m.record_event("deleted");
        m.record_event("edited");
        m.record_delivery("delivered");
        m.record_delivery("retry");

        let text = m.encode(&Snapshot::default());
        let v = |s| value_of(&text, s);
        assert_eq!(v("palimpsest_checks_total{outcome=\"changed\"}"), Some(2.0));
        assert_eq!(
            v("palimpsest_checks_total{outcome=\"not_modified\"}"),
            Some(1.0)
        );
        assert_eq!(v("palimpsest_fetch_bytes_total"), Some(50_000.0));
        assert_eq!(v("palimpsest_events_total{kind=\"edited\"}"), Some(2.0));
        assert_eq!(v("palimpsest_events_total{kind=\"deleted\"}"), Some(1.0));
        assert_eq!(
            v("palimpsest_deliveries_total{outcome=\"delivered\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("palimpsest_deliveries_total{outcome=\"retry\"}"),
            Some(1.0)
        );
        assert_eq!(v("palimpsest_check_duration_seconds_count"), Some(3.0));
        assert_eq!(
            v("palimpsest_check_duration_seconds_bucket{le=\"0.005\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("palimpsest_check_duration_seconds_bucket{le=\"0.1\"}"),
            Some(2.0)
        );
        assert_eq!(
            v("palimpsest_check_duration_seconds_bucket{le=\"+Inf\"}"),
            Some(3.0)
        );
        let sum = v("palimpsest_check_duration_seconds_sum").unwrap_or_default();
        assert!((sum - 0.203).abs() < 1e-9, "sum {sum}");
        assert_eq!(v("palimpsest_up"), Some(1.0));
    }

    #[test]
    fn known_labels_start_at_zero() {
        let text = Metrics::new().encode(&Snapshot::default());
        for outcome in CHECK_OUTCOMES {
            let series = format!("palimpsest_checks_total{{outcome=\"{outcome}\"}}");
            assert_eq!(value_of(&text, &series), Some(0.0), "{series}");
        }
        for outcome in DELIVERY_OUTCOMES {
            let series = format!("palimpsest_deliveries_total{{outcome=\"{outcome}\"}}");
            assert_eq!(value_of(&text, &series), Some(0.0), "{series}");
        }
        assert_eq!(
            value_of(&text, "palimpsest_events_total{kind=\"first_seen\"}"),
            Some(0.0)
        );
        assert_eq!(value_of(&text, "palimpsest_fetch_bytes_total"), Some(0.0));
    }

    #[test]
    fn gauges_come_from_the_snapshot() {
        let m = Metrics::new();
        let snap = Snapshot {
            watches_by_status: vec![
                ("ok".to_owned(), 97),
                ("deleted".to_owned(), 2),
                ("ok".to_owned(), 3),
            ],
            oldest_pending_delivery_age: Some(Duration::from_millis(90_500)),
        };
        let text = m.encode(&snap);
        check_exposition(&text);
        assert_eq!(
            value_of(&text, "palimpsest_watches{status=\"ok\"}"),
            Some(100.0)
        );
        assert_eq!(
            value_of(&text, "palimpsest_watches{status=\"deleted\"}"),
            Some(2.0)
        );
        assert_eq!(
            value_of(&text, "palimpsest_oldest_pending_delivery_age_seconds"),
            Some(90.5)
        );

        // The next scrape knows only its own snapshot.
        let text = m.encode(&Snapshot::default());
        assert!(!text.contains("status=\"deleted\""), "{text}");
        assert_eq!(
            value_of(&text, "palimpsest_oldest_pending_delivery_age_seconds"),
            Some(0.0)
        );
    }

    #[test]
    fn exposition_is_well_formed() {
        let m = Metrics::new();
        m.record_check("failed", Duration::from_secs(61), 0);
        m.record_check("panicked", Duration::ZERO, 0);
        m.record_event("item_removed");
        m.record_delivery("failed");
        // A hostile label value must come out escaped, not break the line.
        let snap = Snapshot {
            watches_by_status: vec![("we\"ird\\sta\ntus".to_owned(), 1)],
            oldest_pending_delivery_age: None,
        };
        let text = m.encode(&snap);
        check_exposition(&text);
        assert!(
            text.contains(r#"palimpsest_watches{status="we\"ird\\sta\ntus"} 1"#),
            "{text}"
        );
        for family in [
            "# TYPE palimpsest_checks counter",
            "# TYPE palimpsest_check_duration_seconds histogram",
            "# TYPE palimpsest_fetch_bytes counter",
            "# TYPE palimpsest_events counter",
            "# TYPE palimpsest_deliveries counter",
            "# TYPE palimpsest_watches gauge",
            "# TYPE palimpsest_oldest_pending_delivery_age_seconds gauge",
            "# TYPE palimpsest_up gauge",
        ] {
            assert!(text.contains(family), "missing {family}:\n{text}");
        }
    }

    #[test]
    fn the_checker_rejects_broken_lines() {
        assert!(parse_sample("a_b{x=\"1\",y=\"2\"} 3").is_ok());
        assert!(parse_sample("a 1.5e3").is_ok());
        assert!(parse_sample("a{x=\"1} 3").is_err());
        assert!(parse_sample("a{x=1} 3").is_err());
        assert!(parse_sample("a{x=\"1\"}3").is_err());
        assert!(parse_sample("a{x=\"1\"} three").is_err());
        assert!(parse_sample("9a 1").is_err());
    }

    #[test]
    fn shared_across_threads() {
        let m = Arc::new(Metrics::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        m.record_check("unchanged", Duration::from_millis(10), 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let text = m.encode(&Snapshot::default());
        assert_eq!(
            value_of(&text, "palimpsest_checks_total{outcome=\"unchanged\"}"),
            Some(1000.0)
        );
        assert_eq!(
            value_of(&text, "palimpsest_fetch_bytes_total"),
            Some(1000.0)
        );
    }
}
