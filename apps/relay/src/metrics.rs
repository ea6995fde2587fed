//! Counters for `/metrics`, rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A histogram with fixed upper bounds.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *b {
                c.fetch_add(1, Relaxed);
            }
        }
        self.sum_micros.fetch_add((v * 1e6) as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", c.load(Relaxed));
        }
        let n = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {n}");
    }
}

/// Everything the relay counts.
#[derive(Debug)]
pub struct Metrics {
    /// Open websocket connections.
    pub connections: AtomicI64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Current document subscriptions over all connections.
    pub subscriptions: AtomicI64,
    /// Envelopes accepted and stored.
    pub envelopes_in: AtomicU64,
    /// Envelopes delivered to subscribers (live and replayed).
    pub envelopes_out: AtomicU64,
    /// Frame bytes received.
    pub bytes_in: AtomicU64,
    /// Frame bytes sent.
    pub bytes_out: AtomicU64,
    commit_batch: Histogram,
    commit_latency: Histogram,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            subscriptions: AtomicI64::new(0),
            envelopes_in: AtomicU64::new(0),
            envelopes_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            commit_batch: Histogram::new(&[
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
            ]),
            commit_latency: Histogram::new(&[
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            rejections: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    /// A committed batch of `writes` storage actions that took `took`.
    pub fn record_commit(&self, writes: usize, took: Duration) {
        self.commit_batch.observe(writes as f64);
        self.commit_latency.observe(took.as_secs_f64());
    }

    /// A refused request, by reason.
    pub fn rejection(&self, reason: &'static str) {
        if let Ok(mut m) = self.rejections.lock() {
            *m.entry(reason).or_default() += 1;
        }
    }

    /// A wire `error` sent to a client, by code (whatever its cause: the
    /// relay's own limits, or the protocol's rules).
    pub fn error_sent(&self, code: &'static str) {
        if let Ok(mut m) = self.errors.lock() {
            *m.entry(code).or_default() += 1;
        }
    }

    /// Rejections counted for `reason`.
    pub fn rejections(&self, reason: &str) -> u64 {
        self.rejections
            .lock()
            .map(|m| m.get(reason).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        gauge(
            "starling_relay_connections",
            "Open websocket connections.",
            "gauge",
            self.connections.load(Relaxed).to_string(),
        );
        gauge(
            "starling_relay_connections_total",
            "Connections accepted.",
            "counter",
            self.connections_total.load(Relaxed).to_string(),
        );
        gauge(
            "starling_relay_subscriptions",
            "Current document subscriptions.",
            "gauge",
            self.subscriptions.load(Relaxed).to_string(),
        );
        gauge(
            "starling_relay_envelopes_in_total",
            "Envelopes accepted and stored.",
            "counter",
            self.envelopes_in.load(Relaxed).to_string(),
        );
        gauge(
            "starling_relay_envelopes_out_total",
            "Envelopes delivered to subscribers.",
            "counter",
            self.envelopes_out.load(Relaxed).to_string(),
        );
        gauge(
            "starling_relay_bytes_in_total",
            "Frame bytes received.",
            "counter",
            self.bytes_in.load(Relaxed).to_string(),
        );
        gauge(
            "starling_relay_bytes_out_total",
            "Frame bytes sent.",
            "counter",
            self.bytes_out.load(Relaxed).to_string(),
        );
        self.commit_batch.render(
            &mut out,
            "starling_relay_commit_batch_jobs",
            "Writes (envelopes, membership ops, compactions, replays) grouped into one SQLite transaction.",
        );
        self.commit_latency.render(
            &mut out,
            "starling_relay_commit_seconds",
            "Time to carry out and commit one batch.",
        );
        let _ = writeln!(
            out,
            "# HELP starling_relay_rejections_total Requests refused, by reason.\n# TYPE starling_relay_rejections_total counter"
        );
        if let Ok(m) = self.rejections.lock() {
            for (reason, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "starling_relay_rejections_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP starling_relay_errors_total Wire errors sent to clients, by code.\n# TYPE starling_relay_errors_total counter"
        );
        if let Ok(m) = self.errors.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(out, "starling_relay_errors_total{{code=\"{code}\"}} {n}");
            }
        }
        out
    }
}
