//! RFC 3339 timestamps as the API writes them (`2038-01-19T03:14:07.000Z`), to and from Unix
//! milliseconds. Pure arithmetic; nothing here reads a clock.

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
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let value = i64::from(h1 - b'0') * 600
                + i64::from(h2 - b'0') * 60
                + i64::from(m1 - b'0') * 10
                + i64::from(m2 - b'0');
            if *sign == b'+' { value } else { -value }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn known_instants() {
        assert_eq!(unix_millis_to_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(unix_millis_to_rfc3339(2_147_483_647_000), "2038-01-19T03:14:07.000Z");
        assert_eq!(unix_millis_to_rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_to_unix_millis("2038-01-19T03:14:07.000Z"), Some(2_147_483_647_000));
        assert_eq!(rfc3339_to_unix_millis("2038-01-19T05:14:07+02:00"), Some(2_147_483_647_000));
        assert_eq!(rfc3339_to_unix_millis("2019-05-15T13:51:43.507Z"), Some(1_557_928_303_507));
        assert_eq!(rfc3339_to_unix_millis("2019-05-15T13:51:43.5Z"), Some(1_557_928_303_500));
        for bad in [
            "",
            "2019-05-15",
            "2019-13-15T00:00:00Z",
            "2019-02-30T00:00:00Z",
            "2019-05-15T13:51:43",
            "2019-05-15T13:51:43.Z",
            "x019-05-15T13:51:43Z",
        ] {
            assert_eq!(rfc3339_to_unix_millis(bad), None, "{bad}");
        }
        for millis in [0, 1, 86_399_999, 951_782_400_123, 4_102_444_800_000, -86_400_000] {
            assert_eq!(rfc3339_to_unix_millis(&unix_millis_to_rfc3339(millis)), Some(millis));
        }
    }
}
