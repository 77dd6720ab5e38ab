//! Response deadlines: the district's settings and the pure arithmetic that
//! turns a report's receipt time into its due instants.
//!
//! Working days are Monday to Friday in the district's time zone; public
//! holidays and the weekend days that China's holiday calendar swaps in are
//! not known (see the README's known limitations).

use chrono::{Datelike, Duration, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::model::{Deadline, Level};

const HOUR_MS: i64 = 3_600_000;

/// A district's deadlines. Stored in `casework_settings` when a district
/// changes them; [`Settings::default`] otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub emergency_ack_ms: i64,
    pub emergency_visit_ms: i64,
    pub ack_ms: i64,
    pub verify_working_days: i32,
    pub reporter_ms: i64,
}

impl Default for Settings {
    /// Emergency: acknowledge within an hour, visit within 24 hours.
    /// Otherwise: acknowledge within 24 hours, verify within 3 working days.
    /// Tell the reporter within 3 days either way.
    fn default() -> Self {
        Settings {
            emergency_ack_ms: HOUR_MS,
            emergency_visit_ms: 24 * HOUR_MS,
            ack_ms: 24 * HOUR_MS,
            verify_working_days: 3,
            reporter_ms: 72 * HOUR_MS,
        }
    }
}

/// The due instants of one report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dues {
    pub ack_due_ms: i64,
    /// `HomeVisit` for an emergency, `Verify` otherwise.
    pub response_kind: Deadline,
    pub response_due_ms: i64,
    pub reporter_due_ms: i64,
}

impl Settings {
    /// The deadlines of a report received at `received_ms` at `level`.
    pub fn dues(&self, level: Level, received_ms: i64, zone: Tz) -> Dues {
        match level {
            Level::Emergency => Dues {
                ack_due_ms: received_ms + self.emergency_ack_ms,
                response_kind: Deadline::HomeVisit,
                response_due_ms: received_ms + self.emergency_visit_ms,
                reporter_due_ms: received_ms + self.reporter_ms,
            },
            Level::Normal => Dues {
                ack_due_ms: received_ms + self.ack_ms,
                response_kind: Deadline::Verify,
                response_due_ms: add_working_days(received_ms, self.verify_working_days, zone),
                reporter_due_ms: received_ms + self.reporter_ms,
            },
        }
    }

    /// Refuses settings that would make every report overdue at once or
    /// never.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let hours = |ms: i64| (HOUR_MS / 60..=90 * 24 * HOUR_MS).contains(&ms);
        if !hours(self.emergency_ack_ms) {
            return Err(("input.emergencyAckMinutes", "between 1 minute and 90 days"));
        }
        if !hours(self.emergency_visit_ms) {
            return Err((
                "input.emergencyVisitMinutes",
                "between 1 minute and 90 days",
            ));
        }
        if !hours(self.ack_ms) {
            return Err(("input.ackMinutes", "between 1 minute and 90 days"));
        }
        if !(1..=60).contains(&self.verify_working_days) {
            return Err(("input.verifyWorkingDays", "between 1 and 60"));
        }
        if !hours(self.reporter_ms) {
            return Err(("input.reporterMinutes", "between 1 minute and 90 days"));
        }
        Ok(())
    }
}

/// `days` working days (Monday to Friday in `zone`) after `from_ms`, at the
/// same local time of day. Received on a weekend, the count starts from the
/// end of the weekend: Saturday 10:00 plus one working day is Monday 24:00,
/// i.e. Tuesday 00:00.
pub fn add_working_days(from_ms: i64, days: i32, zone: Tz) -> i64 {
    let Some(start) = zone.timestamp_millis_opt(from_ms).single() else {
        return from_ms + i64::from(days) * 24 * HOUR_MS;
    };
    let weekend = |d: chrono::DateTime<Tz>| matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
    let mut at = start;
    if weekend(at) {
        // Roll to Monday 00:00 local.
        let mut day = at.date_naive();
        while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            day = day.succ_opt().unwrap_or(day);
        }
        at = day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| zone.from_local_datetime(&t).earliest())
            .unwrap_or(at);
    }
    let mut left = days;
    while left > 0 {
        at += Duration::days(1);
        if !weekend(at) {
            left -= 1;
        }
    }
    at.timestamp_millis()
}

/// Parses a district's `time_zone`, falling back to Asia/Shanghai.
pub fn zone_of(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Asia::Shanghai)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    fn at(y: i32, m: u32, d: u32, h: u32) -> i64 {
        Shanghai
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn three_working_days_skip_the_weekend() {
        // 2026-12-02 is a Wednesday: Wed + 3 working days = Mon.
        assert_eq!(
            add_working_days(at(2026, 12, 2, 10), 3, Shanghai),
            at(2026, 12, 7, 10)
        );
        // Monday + 3 = Thursday.
        assert_eq!(
            add_working_days(at(2026, 11, 30, 9), 3, Shanghai),
            at(2026, 12, 3, 9)
        );
        // Friday + 1 = Monday.
        assert_eq!(
            add_working_days(at(2026, 12, 4, 16), 1, Shanghai),
            at(2026, 12, 7, 16)
        );
        // Saturday: counted from Monday 00:00, so + 3 = Thursday 00:00.
        assert_eq!(
            add_working_days(at(2026, 12, 5, 10), 3, Shanghai),
            at(2026, 12, 10, 0)
        );
    }

    #[test]
    fn the_day_is_the_districts_not_utc() {
        // Friday 2026-12-04 07:00 in Shanghai is Thursday 23:00 UTC; in the
        // district it is Friday, so one working day later is Monday.
        assert_eq!(
            add_working_days(at(2026, 12, 4, 7), 1, Shanghai),
            at(2026, 12, 7, 7)
        );
    }

    #[test]
    fn default_dues() {
        let s = Settings::default();
        let t = at(2026, 12, 2, 10);
        let e = s.dues(Level::Emergency, t, Shanghai);
        assert_eq!(e.ack_due_ms, t + HOUR_MS);
        assert_eq!(e.response_kind, Deadline::HomeVisit);
        assert_eq!(e.response_due_ms, t + 24 * HOUR_MS);
        assert_eq!(e.reporter_due_ms, t + 72 * HOUR_MS);
        let n = s.dues(Level::Normal, t, Shanghai);
        assert_eq!(n.ack_due_ms, t + 24 * HOUR_MS);
        assert_eq!(n.response_kind, Deadline::Verify);
        assert_eq!(n.response_due_ms, at(2026, 12, 7, 10));
    }

    #[test]
    fn settings_are_bounded() {
        assert!(Settings::default().check().is_ok());
        let bad = Settings {
            verify_working_days: 0,
            ..Settings::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "input.verifyWorkingDays");
        let bad = Settings {
            emergency_ack_ms: 0,
            ..Settings::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "input.emergencyAckMinutes");
    }
}
