//! A circuit breaker per provider: after `threshold` failures in a row the provider is skipped for
//! `cooldown`; then one message may try it (half-open) — success closes the breaker, failure
//! opens it again. State is per process: every instance learns a provider's health by itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    /// A half-open trial is under way: others keep skipping the provider until it ends.
    trial: bool,
}

/// What the breaker says of a provider now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Use it.
    Closed,
    /// Use it as the one trial after a cooldown.
    Trial,
    /// Skip it.
    Open,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold: threshold.max(1), cooldown, state: Mutex::new(State::default()) }
    }

    pub fn check(&self) -> Verdict {
        self.check_at(Instant::now())
    }

    pub fn check_at(&self, now: Instant) -> Verdict {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.open_until {
            None => Verdict::Closed,
            Some(until) if now < until || state.trial => Verdict::Open,
            Some(_) => {
                state.trial = true;
                Verdict::Trial
            }
        }
    }

    pub fn success(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = State::default();
    }

    pub fn failure(&self) -> bool {
        self.failure_at(Instant::now())
    }

    /// Counts a failure; answers whether the breaker (re)opened.
    pub fn failure_at(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.failures = state.failures.saturating_add(1);
        if state.trial || state.failures >= self.threshold {
            state.open_until = Some(now + self.cooldown);
            state.trial = false;
            return true;
        }
        false
    }

    pub fn is_open(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.open_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_closes_after_a_good_trial() {
        let breaker = Breaker::new(3, Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(!breaker.failure_at(t0));
        assert!(!breaker.failure_at(t0));
        assert_eq!(breaker.check_at(t0), Verdict::Closed);
        assert!(breaker.failure_at(t0));
        assert_eq!(breaker.check_at(t0 + Duration::from_secs(29)), Verdict::Open);
        // After the cooldown exactly one caller tries it.
        assert_eq!(breaker.check_at(t0 + Duration::from_secs(31)), Verdict::Trial);
        assert_eq!(breaker.check_at(t0 + Duration::from_secs(31)), Verdict::Open);
        breaker.success();
        assert_eq!(breaker.check_at(t0 + Duration::from_secs(32)), Verdict::Closed);
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let breaker = Breaker::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        breaker.failure_at(t0);
        assert_eq!(breaker.check_at(t0 + Duration::from_secs(11)), Verdict::Trial);
        assert!(breaker.failure_at(t0 + Duration::from_secs(11)));
        assert_eq!(breaker.check_at(t0 + Duration::from_secs(20)), Verdict::Open);
        assert_eq!(breaker.check_at(t0 + Duration::from_secs(22)), Verdict::Trial);
    }
}
