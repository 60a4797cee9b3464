//! RFC 3339 timestamps as the API writes them (`2038-01-19T03:14:07.000Z`), to and from Unix
//! milliseconds. Parsing is the `time` crate's strict RFC 3339 parser (a hand-written one once
//! accepted impossible UTC offsets and moved times by days); formatting is arithmetic. Nothing
//! here reads a clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an RFC 3339 date-time (`Z` or a numeric offset, optional fraction) into a
/// [`SystemTime`]. `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let millis = rfc3339_to_unix_millis(text)?;
    let magnitude = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) }
}

/// Formats a [`SystemTime`] as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_rfc3339(time: SystemTime) -> String {
    let millis = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    unix_millis_to_rfc3339(millis)
}

/// `2038-01-19T03:14:07.000Z` for a Unix time in milliseconds.
pub fn unix_millis_to_rfc3339(unix_millis: i64) -> String {
    let secs = unix_millis.div_euclid(1000);
    let millis = unix_millis.rem_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn rfc3339_to_unix_millis(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    // RFC 3339 (section 5.6, note) lets a space stand for the `T`; the parser wants the letter.
    let normalized;
    let text = match text.as_bytes().get(10) {
        Some(b' ') => {
            normalized = format!("{}T{}", &text[..10], &text[11..]);
            normalized.as_str()
        }
        _ => text,
    };
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_times_format_on_both_sides_of_the_epoch() {
        assert_eq!(format_rfc3339(UNIX_EPOCH + Duration::from_millis(1_500)), "1970-01-01T00:00:01.500Z");
        assert_eq!(format_rfc3339(UNIX_EPOCH - Duration::from_millis(1)), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339(UNIX_EPOCH + Duration::from_secs(2_147_483_647)), "2038-01-19T03:14:07.000Z");
    }

    /// Every day from 1600 to 2500 (centuries, the 400-year cycle's last day, every leap day)
    /// formats to a text the `time` crate's strict parser reads back as the same instant.
    #[test]
    fn every_day_for_nine_centuries_round_trips_through_the_strict_parser() {
        let day = 86_400_000_i64;
        for days in -134_774..193_000 {
            let millis = days * day + 12_345;
            let text = unix_millis_to_rfc3339(millis);
            assert_eq!(rfc3339_to_unix_millis(&text), Some(millis), "{text}");
        }
        assert_eq!(unix_millis_to_rfc3339(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(unix_millis_to_rfc3339(-2_203_891_200_000), "1900-03-01T00:00:00.000Z");
        assert_eq!(unix_millis_to_rfc3339(13_574_563_200_000), "2400-02-29T00:00:00.000Z");
    }

    #[test]
    fn known_instants() {
        assert_eq!(unix_millis_to_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(unix_millis_to_rfc3339(2_147_483_647_000), "2038-01-19T03:14:07.000Z");
        assert_eq!(unix_millis_to_rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_to_unix_millis("2038-01-19T03:14:07.000Z"), Some(2_147_483_647_000));
        assert_eq!(rfc3339_to_unix_millis("2038-01-19T05:14:07+02:00"), Some(2_147_483_647_000));
        assert_eq!(rfc3339_to_unix_millis("2019-05-15T13:51:43.507Z"), Some(1_557_928_303_507));
        assert_eq!(rfc3339_to_unix_millis("2019-05-15T13:51:43.5Z"), Some(1_557_928_303_500));
        assert_eq!(rfc3339_to_unix_millis("2019-05-15 13:51:43.5z"), Some(1_557_928_303_500));
        assert_eq!(rfc3339_to_unix_millis("2019-05-15T13:51:43.5-23:59"), Some(1_557_928_303_500 + 86_340_000));
        for bad in [
            "",
            "2019-05-15",
            "2019-13-15T00:00:00Z",
            "2019-02-30T00:00:00Z",
            "2019-05-15T13:51:43",
            "2019-05-15T13:51:43.Z",
            "x019-05-15T13:51:43Z",
            // Offsets no place on Earth has, which once shifted times by days.
            "2019-05-15T13:51:43+99:00",
            "2019-05-15T13:51:43+24:00",
            "2019-05-15T13:51:43-00:60",
            "2019-05-15T13:51:43+9:00",
        ] {
            assert_eq!(rfc3339_to_unix_millis(bad), None, "{bad}");
        }
        for millis in [0, 1, 86_399_999, 951_782_400_123, 4_102_444_800_000, -86_400_000] {
            assert_eq!(rfc3339_to_unix_millis(&unix_millis_to_rfc3339(millis)), Some(millis));
        }
    }
}
