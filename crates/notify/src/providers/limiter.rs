//! A provider's rate limit on this instance: a token bucket of `per_sec` tokens a second holding
//! at most `burst`. A message that finds it empty goes to the next provider, or waits (without
//! spending a delivery attempt) when every provider is at its limit. The limit is per instance:
//! with several instances, divide the provider's limit among them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Limiter {
    per_sec: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Limiter {
    /// `None` for no limit (`per_sec` 0).
    pub fn new(per_sec: f64, burst: u32) -> Option<Self> {
        (per_sec > 0.0).then(|| {
            let burst = f64::from(burst.max(1));
            Self { per_sec, burst, state: Mutex::new((burst, Instant::now())) }
        })
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&self) -> Result<(), Duration> {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = *state;
        let tokens = (tokens + now.saturating_duration_since(last).as_secs_f64() * self.per_sec).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let limiter = Limiter::new(2.0, 3).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            limiter.take_at(start).unwrap();
        }
        let wait = limiter.take_at(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        limiter.take_at(start + Duration::from_millis(500)).unwrap();
        assert!(limiter.take_at(start + Duration::from_millis(600)).is_err());
        // Idle time refills to the burst, never beyond.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            limiter.take_at(later).unwrap();
        }
        assert!(limiter.take_at(later).is_err());
        assert!(Limiter::new(0.0, 5).is_none());
    }
}
