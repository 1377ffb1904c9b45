//! The retry policy, as a pure function of (attempt, error, Retry-After, jitter).
//!
//! - 429 and 503/529 (overloaded): exponential backoff with jitter; a `Retry-After` is honoured
//!   (waited in full plus a little jitter; one longer than `max_ms` ends the retries).
//! - Other 5xx: `quick_retries_5xx` quick retries (between base/2 and base).
//! - Network errors and timeouts: `network_retries` retries with exponential backoff.
//! - Everything else (401, 403, 404, 400, other 4xx, malformed replies, Cancelled): no retry.
//! - Never more than `max_attempts` attempts in total.

use ethos_engine::ChatError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// First backoff step in milliseconds.
    pub base_ms: u64,
    /// Longest single wait in milliseconds.
    pub max_ms: u64,
    /// Retries for 5xx other than 503/529.
    pub quick_retries_5xx: u32,
    /// Retries for network errors and timeouts.
    pub network_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_ms: 1000,
            max_ms: 30_000,
            quick_retries_5xx: 2,
            network_retries: 2,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Exponential step for the given attempt (1-based), capped at `max_ms`.
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(30);
        self.base_ms.saturating_mul(1u64 << shift).min(self.max_ms)
    }

    /// `attempt` is the number of attempts made so far (1 after the first failure); `jitter`
    /// is uniform in [0, 1) (clamped). Returns the delay before the next attempt, or `None` if
    /// the error is final. With backoff step `s`, the delay lies in `[s/2, s]`; with a
    /// Retry-After of `r` ms it lies in `[r, r + base_ms/2]`.
    pub fn decide(
        &self,
        attempt: u32,
        err: &ChatError,
        retry_after_ms: Option<u64>,
        jitter: f64,
    ) -> Option<u64> {
        if attempt >= self.max_attempts {
            return None;
        }
        let j = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let spread = |step: u64| -> u64 {
            let half = step / 2;
            half + ((step - half) as f64 * j).round() as u64
        };
        match err {
            ChatError::RateLimited { .. }
            | ChatError::Server {
                status: 503 | 529, ..
            } => match retry_after_ms {
                Some(ra) if ra > self.max_ms => None,
                Some(ra) => Some(ra + ((self.base_ms / 2) as f64 * j).round() as u64),
                None => Some(spread(self.backoff_ms(attempt))),
            },
            ChatError::Server { .. } => {
                if attempt <= self.quick_retries_5xx {
                    Some(spread(self.base_ms.min(self.max_ms)))
                } else {
                    None
                }
            }
            ChatError::Network(_) | ChatError::Timeout(_) => {
                if attempt <= self.network_retries {
                    Some(spread(self.backoff_ms(attempt)))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// A `Retry-After` value in delta-seconds (`"7"`, `"1.5"`) -> milliseconds. HTTP dates need the
/// current time: see [`parse_retry_after_at`].
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    match v.parse::<f64>() {
        Ok(secs) if (0.0..1e12).contains(&secs) => Some((secs * 1000.0).round() as u64),
        _ => None,
    }
}

/// A `Retry-After` value in seconds or as an HTTP date (IMF-fixdate, e.g.
/// `Wed, 21 Oct 2015 07:28:00 GMT`) -> milliseconds from `now_unix_ms` (0 if in the past).
pub fn parse_retry_after_at(value: &str, now_unix_ms: f64) -> Option<u64> {
    if let Some(ms) = parse_retry_after(value) {
        return Some(ms);
    }
    let at = parse_http_date_ms(value.trim())?;
    let now = if now_unix_ms.is_finite() && now_unix_ms > 0.0 {
        now_unix_ms as i64
    } else {
        return None;
    };
    Some(at.saturating_sub(now).max(0) as u64)
}

/// IMF-fixdate -> Unix milliseconds.
fn parse_http_date_ms(s: &str) -> Option<i64> {
    // "Wed, 21 Oct 2015 07:28:00 GMT"
    let rest = s.split_once(", ").map(|(_, r)| r).unwrap_or(s);
    let mut parts = rest.split_whitespace();
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT"
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || sec > 60
        || !(1970..=9999).contains(&year)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + h) * 60 + m) * 60_000 + sec * 1000)
}

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
