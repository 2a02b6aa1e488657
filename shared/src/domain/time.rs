use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// The time, behind a trait so tests can move it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> SystemTime;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// An RFC 3339 UTC timestamp with millisecond precision (`2026-11-26T13:23:57.123Z`),
/// which sorts as text in time order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    pub fn at(time: SystemTime) -> Self {
        let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let millis = Duration::from_millis(since.as_millis() as u64);
        let formatted = DateTime::from(SystemTime::UNIX_EPOCH + millis)
            .fmt(Format::DateTime)
            .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned());
        // Smithy drops trailing zero fractions; pad to a fixed width so text order is time order.
        let (secs, frac) = match formatted.trim_end_matches('Z').split_once('.') {
            Some((secs, frac)) => (secs.to_owned(), format!("{frac:0<3}")),
            None => (formatted.trim_end_matches('Z').to_owned(), "000".to_owned()),
        };
        Self(format!("{secs}.{}Z", &frac[..3]))
    }

    pub fn now(clock: &dyn Clock) -> Self {
        Self::at(clock.now())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The time this timestamp names; `None` for text that is not RFC 3339.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        DateTime::from_str(&self.0, Format::DateTime).ok().and_then(|t| SystemTime::try_from(t).ok())
    }

    /// This time plus `by` (this time itself if it cannot be read, which only a corrupt
    /// stored value could cause).
    pub fn plus(&self, by: Duration) -> Self {
        self.to_system_time().map(|t| Self::at(t + by)).unwrap_or_else(|| self.clone())
    }

    /// Trusts its input: only for values this service wrote.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_a_fixed_width_and_sort_in_time_order() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let a = Timestamp::at(t0);
        let b = Timestamp::at(t0 + Duration::from_millis(120));
        let c = Timestamp::at(t0 + Duration::from_millis(1005));
        assert_eq!(a.as_str(), "2026-09-21T14:13:20.000Z");
        assert_eq!(b.as_str(), "2026-09-21T14:13:20.120Z");
        assert!(a < b && b < c, "{a:?} {b:?} {c:?}");
        assert_eq!(a.plus(Duration::from_millis(1005)), c);
        assert_eq!(c.to_system_time(), Some(t0 + Duration::from_millis(1005)));
    }
}
