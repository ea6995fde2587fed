//! A token bucket for per-connection message rates.

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

#[cfg(test)]
mod tests {
    use super::*;

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
