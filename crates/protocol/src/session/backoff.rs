//! Jittered exponential backoff for reconnecting.

use rand_core::RngCore;

/// First delay, ms.
pub const BACKOFF_MIN_MS: u64 = 100;
/// Largest delay, ms.
pub const BACKOFF_MAX_MS: u64 = 30_000;

/// Reconnection backoff: the ceiling doubles from 100 ms to 30 s with each
/// failed attempt; the delay is drawn uniformly from the upper half of the
/// ceiling ("equal jitter"), so many clients do not reconnect in lockstep.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The ceiling for the current attempt.
    pub fn ceiling(&self) -> u64 {
        BACKOFF_MIN_MS
            .saturating_mul(1u64 << self.attempt.min(20))
            .min(BACKOFF_MAX_MS)
    }

    /// Draws the next delay and counts the attempt.
    pub fn next_delay(&mut self, rng: &mut impl RngCore) -> u64 {
        let c = self.ceiling();
        let half = c / 2;
        self.attempt = self.attempt.saturating_add(1);
        half + rng.next_u64() % (c - half + 1)
    }

    /// A connection succeeded: start again from the minimum.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    #[test]
    fn grows_and_caps() {
        let mut b = Backoff::default();
        let mut rng = SeededRng::new(1);
        let delays: Vec<u64> = (0..20).map(|_| b.next_delay(&mut rng)).collect();
        assert!((50..=100).contains(&delays[0]));
        assert!(delays.iter().all(|d| *d <= BACKOFF_MAX_MS));
        assert!(delays[19] >= BACKOFF_MAX_MS / 2);
        b.reset();
        assert_eq!(b.ceiling(), BACKOFF_MIN_MS);
    }
}
