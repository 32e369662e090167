//! Times as people read them, one format everywhere: relative when recent
//! (`just now`, `5 min ago`, `in 20 min`), the time alone today (`14:05`),
//! `yesterday 14:05`, a weekday within the week (`Mon 14:05`), then the date
//! (`21 Nov 14:05`, `21 Nov 2025 14:05` in another year). Pure functions: the
//! page gives the reader's time zone as minutes east of UTC, per instant (the
//! browser knows its daylight-saving rules).

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Milliseconds since 1970 of an RFC 3339 time as the API writes them
/// (`2026-11-21T08:15:30.123Z`, or with an offset such as `+01:00`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds are the first three digits; finer ones are dropped.
        let ms: String = fraction[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = ms.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let digits = |r: &str| -> Option<i64> {
                r.bytes()
                    .all(|c| c.is_ascii_digit())
                    .then(|| r.parse().ok())?
            };
            let (hh, mm) = (digits(rest.get(1..3)?)?, digits(rest.get(4..6)?)?);
            sign * (hh * 60 + mm)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute - offset_min) * MINUTE + second * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// A moment on the reader's wall clock.
struct Local {
    day: i64,
    year: i64,
    month: i64,
    date: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

fn local(ms: i64, offset_min: i32) -> Local {
    let t = ms + offset_min as i64 * MINUTE;
    let day = t.div_euclid(DAY);
    let in_day = t.rem_euclid(DAY);
    let (year, month, date) = civil_from_days(day);
    Local {
        day,
        year,
        month,
        date,
        hour: in_day / HOUR,
        minute: in_day % HOUR / MINUTE,
        second: in_day % MINUTE / 1000,
    }
}

fn clock(l: &Local) -> String {
    format!("{:02}:{:02}", l.hour, l.minute)
}

fn date(l: &Local, with_year: bool) -> String {
    let month = MONTHS[(l.month - 1) as usize];
    if with_year {
        format!("{} {month} {}", l.date, l.year)
    } else {
        format!("{} {month}", l.date)
    }
}

/// `UTC`, `UTC+01:00`, `UTC-05:30`.
fn zone(offset_min: i32) -> String {
    if offset_min == 0 {
        return "UTC".into();
    }
    let sign = if offset_min < 0 { '-' } else { '+' };
    let m = offset_min.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The time as people read it (see the module): `at` and `now` in ms,
/// each with the reader's offset at that instant.
pub fn when(at_ms: i64, now_ms: i64, offset_at: i32, offset_now: i32) -> String {
    let ago = now_ms - at_ms;
    if ago.abs() < MINUTE {
        return "just now".into();
    }
    if ago > 0 && ago < HOUR {
        return format!("{} min ago", ago / MINUTE);
    }
    if ago < 0 && -ago < HOUR {
        return format!("in {} min", (-ago + MINUTE - 1) / MINUTE);
    }
    let (at, now) = (local(at_ms, offset_at), local(now_ms, offset_now));
    match at.day - now.day {
        0 => clock(&at),
        -1 => format!("yesterday {}", clock(&at)),
        1 => format!("tomorrow {}", clock(&at)),
        // Within the past week a weekday is unambiguous (1970-01-01 was a Thursday).
        -6..=-2 => format!(
            "{} {}",
            WEEKDAYS[(at.day + 3).rem_euclid(7) as usize],
            clock(&at)
        ),
        _ => format!("{} {}", date(&at, at.year != now.year), clock(&at)),
    }
}

/// The time with its date and zone, for a page rendered without the
/// reader's clock (on the server, or without JavaScript): `21 Nov 2026 14:05 UTC`.
pub fn absolute(at_ms: i64, offset_min: i32) -> String {
    let at = local(at_ms, offset_min);
    format!("{} {} {}", date(&at, true), clock(&at), zone(offset_min))
}

/// Every detail, for a tooltip: `2026-11-21 14:05:09 UTC+01:00`.
pub fn exact(at_ms: i64, offset_min: i32) -> String {
    let at = local(at_ms, offset_min);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
        at.year,
        at.month,
        at.date,
        at.hour,
        at.minute,
        at.second,
        zone(offset_min)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-21T14:05:09.250Z, a Saturday.
    const AT: i64 = 1_795_269_909_250;

    #[test]
    fn reads_the_api_format_and_offsets() {
        assert_eq!(parse_rfc3339("2026-11-21T14:05:09.250Z"), Some(AT));
        assert_eq!(parse_rfc3339("2026-11-21T14:05:09.25Z"), Some(AT));
        assert_eq!(parse_rfc3339("2026-11-21T15:05:09.250+01:00"), Some(AT));
        assert_eq!(parse_rfc3339("2026-11-21T08:35:09.250-05:30"), Some(AT));
        assert_eq!(parse_rfc3339("2026-11-21T14:05:09Z"), Some(AT - 250));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        for bad in [
            "",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-11-21T14:05:09",
            "2026-11-21T14:05:09.Z",
            "2026-11-21T14:05:09+0100",
            "2026-11-21T14:05:09.250Zx",
            "２026-11-21T14:05:09Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recent_times_are_relative() {
        assert_eq!(when(AT, AT + 20_000, 0, 0), "just now");
        assert_eq!(when(AT, AT - 20_000, 0, 0), "just now");
        assert_eq!(when(AT, AT + 5 * MINUTE + 1, 0, 0), "5 min ago");
        assert_eq!(when(AT, AT + 59 * MINUTE, 0, 0), "59 min ago");
        assert_eq!(when(AT + 20 * MINUTE, AT, 0, 0), "in 20 min");
    }

    #[test]
    fn older_times_name_the_day_in_the_readers_zone() {
        // 14:05 UTC is 15:05 in Paris, 19:35 in Kolkata.
        assert_eq!(when(AT, AT + 3 * HOUR, 60, 60), "15:05");
        assert_eq!(when(AT, AT + 3 * HOUR, 330, 330), "19:35");
        assert_eq!(when(AT, AT + DAY, 0, 0), "yesterday 14:05");
        assert_eq!(when(AT + DAY, AT, 0, 0), "tomorrow 14:05");
        assert_eq!(when(AT, AT + 3 * DAY, 0, 0), "Sat 14:05");
        assert_eq!(when(AT, AT + 10 * DAY, 0, 0), "21 Nov 14:05");
        assert_eq!(when(AT, AT + 60 * DAY, 0, 0), "21 Nov 2026 14:05");
        // The reader's day counts, not UTC's. In New York (UTC-5), 18:00 and
        // 23:30 on the 20th are on two UTC days; 23:30 and 01:30 on one.
        let evening = parse_rfc3339("2026-11-20T23:00:00Z").unwrap();
        let late = parse_rfc3339("2026-11-21T04:30:00Z").unwrap();
        assert_eq!(when(evening, late, -300, -300), "18:00");
        assert_eq!(when(late, late + 2 * HOUR, -300, -300), "yesterday 23:30");
    }

    #[test]
    fn absolute_and_exact_forms_name_the_zone() {
        assert_eq!(absolute(AT, 0), "21 Nov 2026 14:05 UTC");
        assert_eq!(exact(AT, 0), "2026-11-21 14:05:09 UTC");
        assert_eq!(exact(AT, 60), "2026-11-21 15:05:09 UTC+01:00");
        assert_eq!(exact(AT, -330), "2026-11-21 08:35:09 UTC-05:30");
        assert_eq!(absolute(0, 0), "1 Jan 1970 00:00 UTC");
    }
}
