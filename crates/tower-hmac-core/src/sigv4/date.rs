//! SigV4's times: `X-Amz-Date` (`yyyymmddThhmmssZ`) or `Date`, to and from Unix seconds.

use std::time::UNIX_EPOCH;

use http::HeaderMap;
use http::header::DATE;

use super::{X_AMZ_DATE, malformed};
use crate::{Rejection, RejectionKind};

/// Up to `max` ASCII digits, no sign, as a number.
pub(super) fn digits(text: &str, max: usize) -> Option<u64> {
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The request's time from `X-Amz-Date`, else `Date`: the basic ISO 8601 string and Unix seconds.
pub(super) fn header_date(headers: &HeaderMap) -> Result<(Box<str>, u64), Rejection> {
    let mut values = headers.get_all(X_AMZ_DATE).iter();
    if let Some(value) = values.next() {
        if values.next().is_some() {
            return Err(Rejection::new(RejectionKind::DuplicateSignedHeader)
                .with_detail("X-Amz-Date appears twice"));
        }
        let text = value
            .to_str()
            .map_err(|_| malformed("X-Amz-Date must be yyyymmddThhmmssZ"))?;
        return Ok((text.into(), parse_amz_date(text)?));
    }
    let date = headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .ok_or_else(|| malformed("the request needs an X-Amz-Date or a Date header"))?;
    let secs = date
        .duration_since(UNIX_EPOCH)
        .map_err(|_| malformed("the Date header is before 1970"))?
        .as_secs();
    Ok((format_amz_date(secs).into(), secs))
}

/// `yyyymmddThhmmssZ` → Unix seconds.
pub fn parse_amz_date(text: &str) -> Result<u64, Rejection> {
    let bad = || malformed("X-Amz-Date must be yyyymmddThhmmssZ");
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| digits(&text[range], 4).ok_or_else(bad);
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, min, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Unix seconds → `yyyymmddThhmmssZ`.
pub fn format_amz_date(secs: u64) -> String {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date on or after it (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_amz_date("20150830T123600Z").unwrap(), 1_440_938_160);
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(parse_amz_date("20000229T000000Z").unwrap(), 951_782_400);
        for bad in [
            "20150830T123600",
            "20150230T000000Z",
            "20150830t123600Z",
            "2015083OT123600Z",
            "20150830T246000Z",
            "+0150830T123600Z",
        ] {
            assert!(parse_amz_date(bad).is_err(), "{bad}");
        }
    }
}
