//! What the relay counts, kept in `prometheus-client` metrics and rendered
//! for `/metrics` in the Prometheus text format (version 0.0.4).
//!
//! Labelled families (`rejections_total{reason}`, `errors_total{code}`)
//! start with every reason and code the relay uses at zero, so a rate over
//! them is defined before the first event.

use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// One label, e.g. `reason="rate_limit"`.
type Label = [(&'static str, &'static str); 1];

/// Reasons the relay refuses a request for (`rejections_total{reason}`).
const REASONS: &[&str] = &[
    "connection_limit",
    "damaged_doc",
    "frame_too_large",
    "idle_timeout",
    "malformed",
    "not_allowed",
    "quota",
    "rate_limit",
    "slow_consumer",
    "storage_fault",
    "store_failure",
    "subscription_limit",
    "text_frame",
    "version",
];

/// Wire error codes, as `errors_total{code}` names them.
const CODES: &[&str] = &[
    "auth_failed",
    "bad_envelope",
    "bad_membership",
    "busy",
    "forbidden",
    "fork",
    "gap",
    "malformed",
    "not_allowed",
    "other",
    "too_large",
    "unknown_doc",
    "version",
];

/// Everything the relay counts.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open websocket connections.
    pub(crate) connections: Gauge,
    /// Connections accepted since start.
    pub(crate) connections_accepted: Counter,
    /// Current document subscriptions over all connections.
    pub(crate) subscriptions: Gauge,
    /// Envelopes accepted (and stored, unless their commit failed).
    pub(crate) envelopes_in: Counter,
    /// Envelopes delivered to subscribers (live and replayed).
    pub(crate) envelopes_out: Counter,
    /// Frame bytes received.
    pub(crate) bytes_in: Counter,
    /// Frame bytes sent.
    pub(crate) bytes_out: Counter,
    /// Jobs handed to the store thread and not yet committed.
    pub(crate) store_queue: Gauge,
    /// Times a connection waited for intake (writes held until committed).
    pub(crate) intake_waits: Counter,
    /// 1 while the database takes writes, 0 while it refuses them.
    pub(crate) storage_ok: Gauge,
    /// Group commits that failed and were rolled back.
    pub(crate) commit_failures: Counter,
    /// Documents refused to everyone because their stored rows are damaged.
    pub(crate) damaged_docs: Gauge,
    commit_batch: Histogram,
    commit_latency: Histogram,
    rejections: Family<Label, Counter>,
    errors: Family<Label, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            connections: Gauge::default(),
            connections_accepted: Counter::default(),
            subscriptions: Gauge::default(),
            envelopes_in: Counter::default(),
            envelopes_out: Counter::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            store_queue: Gauge::default(),
            intake_waits: Counter::default(),
            storage_ok: Gauge::default(),
            commit_failures: Counter::default(),
            damaged_docs: Gauge::default(),
            commit_batch: Histogram::new([
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
            ]),
            commit_latency: Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            rejections: Family::default(),
            errors: Family::default(),
        };
        m.storage_ok.set(1);
        for r in REASONS {
            let _ = m.rejections.get_or_create(&[("reason", r)]);
        }
        for c in CODES {
            let _ = m.errors.get_or_create(&[("code", c)]);
        }
        m.register()
    }
}

impl Metrics {
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        let p = "starling_relay_";
        r.register(
            format!("{p}connections"),
            "Open websocket connections",
            self.connections.clone(),
        );
        // A counter named `connections` would collide with the gauge in
        // OpenMetrics (both families would be `starling_relay_connections`).
        r.register(
            format!("{p}connections_accepted"),
            "Connections accepted",
            self.connections_accepted.clone(),
        );
        r.register(
            format!("{p}subscriptions"),
            "Current document subscriptions",
            self.subscriptions.clone(),
        );
        r.register(
            format!("{p}envelopes_in"),
            "Envelopes accepted for storage",
            self.envelopes_in.clone(),
        );
        r.register(
            format!("{p}envelopes_out"),
            "Envelopes delivered to subscribers",
            self.envelopes_out.clone(),
        );
        r.register(
            format!("{p}bytes_in"),
            "Frame bytes received",
            self.bytes_in.clone(),
        );
        r.register(
            format!("{p}bytes_out"),
            "Frame bytes sent",
            self.bytes_out.clone(),
        );
        r.register(
            format!("{p}commit_batch_jobs"),
            "Writes (envelopes, membership ops, compactions, replays) grouped into one SQLite transaction",
            self.commit_batch.clone(),
        );
        r.register(
            format!("{p}commit_seconds"),
            "Time to carry out and commit one batch",
            self.commit_latency.clone(),
        );
        r.register(
            format!("{p}store_queue_jobs"),
            "Jobs handed to the database thread and not yet committed (at most 64; past it connections wait)",
            self.store_queue.clone(),
        );
        r.register(
            format!("{p}intake_waits"),
            "Times a connection stopped being read until commits freed intake (limits.intake_bytes)",
            self.intake_waits.clone(),
        );
        r.register(
            format!("{p}storage_ok"),
            "1 while the database takes writes, 0 while the relay refuses writes after a failed commit",
            self.storage_ok.clone(),
        );
        r.register(
            format!("{p}commit_failures"),
            "Group commits that failed and were rolled back (nothing in them was acknowledged)",
            self.commit_failures.clone(),
        );
        r.register(
            format!("{p}damaged_documents"),
            "Documents refused to everyone because their stored rows are damaged",
            self.damaged_docs.clone(),
        );
        r.register(
            format!("{p}rejections"),
            "Requests refused, by reason",
            self.rejections.clone(),
        );
        r.register(
            format!("{p}errors"),
            "Wire errors sent to clients, by code",
            self.errors.clone(),
        );
        self
    }

    /// A committed batch of `writes` storage actions that took `took`.
    pub fn record_commit(&self, writes: usize, took: Duration) {
        self.commit_batch.observe(writes as f64);
        self.commit_latency.observe(took.as_secs_f64());
    }

    /// A refused request, by reason.
    pub fn rejection(&self, reason: &'static str) {
        self.rejections.get_or_create(&[("reason", reason)]).inc();
    }

    /// A wire `error` sent to a client, by code (whatever its cause: the
    /// relay's own limits, or the protocol's rules).
    pub fn error_sent(&self, code: &'static str) {
        self.errors.get_or_create(&[("code", code)]).inc();
    }

    /// Rejections counted for `reason`.
    pub fn rejections(&self, reason: &'static str) -> u64 {
        self.rejections
            .get(&[("reason", reason)])
            .map_or(0, |c| c.get())
    }

    /// Open websocket connections.
    pub fn connections(&self) -> i64 {
        self.connections.get()
    }

    /// Envelopes accepted for storage.
    pub fn envelopes_in(&self) -> u64 {
        self.envelopes_in.get()
    }

    /// Envelopes delivered to subscribers (live and replayed).
    pub fn envelopes_out(&self) -> u64 {
        self.envelopes_out.get()
    }

    /// Frame bytes sent.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.get()
    }

    /// Jobs handed to the database thread and not yet committed.
    pub fn store_queue(&self) -> i64 {
        self.store_queue.get()
    }

    /// Whether the database takes writes.
    pub fn storage_ok(&self) -> bool {
        self.storage_ok.get() == 1
    }

    /// Group commits that failed.
    pub fn commit_failures(&self) -> u64 {
        self.commit_failures.get()
    }

    /// Times a connection waited for intake.
    pub fn intake_waits(&self) -> u64 {
        self.intake_waits.get()
    }

    /// Documents refused because their stored rows are damaged.
    pub fn damaged_documents(&self) -> i64 {
        self.damaged_docs.get()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot render metrics");
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_names_and_zeroed_families() {
        let m = Metrics::default();
        m.connections.inc();
        m.rejection("quota");
        m.record_commit(3, Duration::from_millis(2));
        let text = m.render();
        for line in [
            "starling_relay_connections 1",
            "starling_relay_connections_accepted_total 0",
            "starling_relay_envelopes_in_total 0",
            "starling_relay_rejections_total{reason=\"quota\"} 1",
            "starling_relay_rejections_total{reason=\"slow_consumer\"} 0",
            "starling_relay_errors_total{code=\"busy\"} 0",
            "starling_relay_commit_batch_jobs_bucket{le=\"4\"} 1",
            "starling_relay_commit_seconds_count 1",
            "starling_relay_storage_ok 1",
            "starling_relay_store_queue_jobs 0",
            "starling_relay_commit_failures_total 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert_eq!(m.rejections("quota"), 1);
        assert_eq!(m.rejections("nope"), 0);
    }
}
