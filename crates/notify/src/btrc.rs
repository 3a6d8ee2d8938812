//! BTRC's rules for SMS in Bangladesh, in Asia/Dhaka time (UTC+06:00 all year: Bangladesh has had
//! no daylight saving time since 2009, so a fixed offset is exact).
//! - Promotional SMS must be in Bangla ([`crate::sms::is_bangla`]).
//! - None between 21:00 and 09:00: a promotional message triggered then is held until 09:00
//!   (the 2016 directive says 00:00–08:00; operators apply 21:00–09:00, the stricter window).
//! - At most [`PROMOTIONAL_PER_DAY`] promotional SMS per number per (Dhaka) day.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

pub const PROMOTIONAL_PER_DAY: i32 = 3;
const QUIET_FROM: u32 = 21;
const QUIET_UNTIL: u32 = 9;

pub fn dhaka() -> FixedOffset {
    FixedOffset::east_opt(6 * 3600).expect("+06:00 is a valid offset")
}

/// The Dhaka calendar day of `at`.
pub fn dhaka_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&dhaka()).date_naive()
}

/// When a promotional SMS asked for at `at` may go: `at` itself in the day window, otherwise the
/// next 09:00 in Dhaka.
pub fn promotional_send_time(at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&dhaka());
    let hour = chrono::Timelike::hour(&local);
    let day = match hour {
        h if h >= QUIET_FROM => local.date_naive() + Duration::days(1),
        h if h < QUIET_UNTIL => local.date_naive(),
        _ => return at,
    };
    nine_am(day)
}

fn nine_am(day: NaiveDate) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(QUIET_UNTIL, 0, 0).expect("09:00 exists");
    dhaka().from_local_datetime(&day.and_time(time)).single().expect("a fixed offset has no gaps").with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dhaka_at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("{text}+06:00")).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn night_messages_wait_for_nine() {
        assert_eq!(promotional_send_time(dhaka_at("2026-12-01T22:00:00")), dhaka_at("2026-12-02T09:00:00"));
        assert_eq!(promotional_send_time(dhaka_at("2026-12-01T21:00:00")), dhaka_at("2026-12-02T09:00:00"));
        assert_eq!(promotional_send_time(dhaka_at("2026-12-02T03:30:00")), dhaka_at("2026-12-02T09:00:00"));
        assert_eq!(promotional_send_time(dhaka_at("2026-12-02T08:59:59")), dhaka_at("2026-12-02T09:00:00"));
        let day = dhaka_at("2026-12-02T09:00:00");
        assert_eq!(promotional_send_time(day), day);
        let evening = dhaka_at("2026-12-02T20:59:59");
        assert_eq!(promotional_send_time(evening), evening);
    }

    #[test]
    fn the_day_is_dhakas() {
        // 19:30 UTC on the 1st is 01:30 on the 2nd in Dhaka.
        let at = DateTime::parse_from_rfc3339("2026-12-01T19:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(dhaka_day(at), NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
    }
}
