//! Token buckets: messages per connection, and answer bytes per device.

use std::collections::HashMap;
use std::sync::Mutex;

use starling_protocol::DeviceId;
use tokio::time::Instant;

/// Refills `rate` tokens per second up to `burst`; each message takes one.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: Instant::now(),
        }
    }

    /// Takes a token if one is available.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Refills `rate` bytes per second up to `burst`; a charge may take it
/// below zero (the debt is paid before the device is served again).
#[derive(Debug, Clone)]
struct ByteBucket {
    tokens: f64,
    last: Instant,
}

/// What the relay sends each device in answer to its own requests (replays,
/// membership logs, errors), paced per device over all its connections.
#[derive(Debug)]
pub(crate) struct AnswerBudgets {
    rate: f64,
    burst: f64,
    max_conns: u32,
    devices: Mutex<HashMap<DeviceId, (ByteBucket, u32)>>,
}

impl AnswerBudgets {
    /// `max_conns` connections per device at most: with the budget, this
    /// bounds what the relay queues for one device.
    pub fn new(bytes_per_sec: u64, burst: u64, max_conns: u32) -> Self {
        Self {
            rate: bytes_per_sec as f64,
            burst: burst as f64,
            max_conns,
            devices: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, b: &mut ByteBucket, now: Instant) {
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
    }

    /// A connection of `device` was welcomed: false if it holds its most
    /// already.
    pub fn join(&self, device: DeviceId) -> bool {
        let Ok(mut m) = self.devices.lock() else {
            return false;
        };
        let burst = self.burst;
        let (_, conns) = m.entry(device).or_insert_with(|| {
            (
                ByteBucket {
                    tokens: burst,
                    last: Instant::now(),
                },
                0,
            )
        });
        if *conns >= self.max_conns {
            return false;
        }
        *conns += 1;
        true
    }

    /// A welcomed connection of `device` closed. A device with no
    /// connections and a full bucket is forgotten.
    pub fn leave(&self, device: DeviceId) {
        let Ok(mut m) = self.devices.lock() else {
            return;
        };
        let now = Instant::now();
        if let Some((b, conns)) = m.get_mut(&device) {
            *conns = conns.saturating_sub(1);
            let mut b2 = b.clone();
            self.refill(&mut b2, now);
            *b = b2;
            if *conns == 0 && b.tokens >= self.burst {
                m.remove(&device);
            }
        }
    }

    /// Charges `bytes` to `device`; returns when its debt is paid, if it
    /// is in debt.
    pub fn charge(&self, device: DeviceId, bytes: u64) -> Option<Instant> {
        let Ok(mut m) = self.devices.lock() else {
            return None;
        };
        let (b, _) = m.get_mut(&device)?;
        let now = Instant::now();
        let mut b2 = b.clone();
        self.refill(&mut b2, now);
        b2.tokens -= bytes as f64;
        *b = b2;
        (b.tokens < 0.0).then(|| now + std::time::Duration::from_secs_f64(-b.tokens / self.rate))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn answer_debt_is_paid_over_time_and_shared_by_a_devices_connections() {
        let budgets = AnswerBudgets::new(1000, 5000, 8);
        let d = starling_protocol::DeviceKey::generate(&mut rand_core::OsRng).device_id();
        assert!(budgets.join(d));
        assert!(budgets.join(d));
        assert_eq!(budgets.charge(d, 4000), None);
        let paid = budgets.charge(d, 3000).unwrap();
        assert_eq!(paid - Instant::now(), std::time::Duration::from_secs(2));
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        assert_eq!(budgets.charge(d, 0), None);
        for _ in 2..8 {
            assert!(budgets.join(d));
        }
        assert!(!budgets.join(d), "one connection too many");
        budgets.leave(d);
        assert!(budgets.join(d));
    }

    #[tokio::test(start_paused = true)]
    async fn refills_over_time() {
        let mut b = TokenBucket::new(10, 5);
        for _ in 0..5 {
            assert!(b.try_take());
        }
        assert!(!b.try_take());
        tokio::time::advance(std::time::Duration::from_millis(100)).await;
        assert!(b.try_take());
        assert!(!b.try_take());
        tokio::time::advance(std::time::Duration::from_secs(10)).await;
        for _ in 0..5 {
            assert!(b.try_take());
        }
        assert!(!b.try_take());
    }
}
