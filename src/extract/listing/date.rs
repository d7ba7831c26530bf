//! Dates of listing items: finding a date in an item's text, and reading a
//! stored date back as a point in time for ordering.
//!
//! Only absolute dates count: "3 hours ago" changes on every check and
//! would make every version new, so it is never taken as a date.

use regex::{Captures, Regex};
use std::sync::LazyLock;

const MONTHS: &str = "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";

/// Every date shape we recognize, one alternative each, leftmost match wins.
static DATE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let pattern = format!(
        r"(?ix)
        \b(?P<iy>\d{{4}})-(?P<im>\d{{2}})-(?P<id>\d{{2}})(?:\b|T)
      | \b(?P<sy>\d{{4}})[./](?P<sm>\d{{1,2}})[./](?P<sd>\d{{1,2}})\b
      | (?P<ky>\d{{4}})\)?\s*년\s*(?P<km>\d{{1,2}})\s*월\s*(?P<kd>\d{{1,2}})\s*일
      | \b(?P<mm>{MONTHS})\.?\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<my>\d{{4}})\b
      | \b(?P<dd>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<dm>{MONTHS})\.?,?\s+(?P<dy>\d{{4}})\b
      | \b(?P<ed>\d{{1,2}})\.(?P<em>\d{{1,2}})\.(?P<ey>\d{{4}})\b
      | \b(?P<ambiguous>\d{{1,2}}/\d{{1,2}}/\d{{4}})\b
    "
    );
    Regex::new(&pattern).ok()
});

/// The first date in `text`: `YYYY-MM-DD` when its reading is certain,
/// otherwise the text as found (`01/02/2026` could be either month).
pub(super) fn find_date(text: &str) -> Option<String> {
    let re = DATE.as_ref()?;
    re.captures_iter(text).find_map(|c| read_match(&c))
}

fn read_match(c: &Captures<'_>) -> Option<String> {
    let num = |name: &str| c.name(name).and_then(|m| m.as_str().parse::<i16>().ok());
    let month = |name: &str| c.name(name).and_then(|m| month_number(m.as_str()));
    let ymd = if c.name("iy").is_some() {
        (num("iy")?, num("im")?, num("id")?)
    } else if c.name("sy").is_some() {
        (num("sy")?, num("sm")?, num("sd")?)
    } else if c.name("ky").is_some() {
        (num("ky")?, num("km")?, num("kd")?)
    } else if c.name("my").is_some() {
        (num("my")?, month("mm")?, num("md")?)
    } else if c.name("dy").is_some() {
        (num("dy")?, month("dm")?, num("dd")?)
    } else if c.name("ey").is_some() {
        (num("ey")?, num("em")?, num("ed")?)
    } else {
        return c.name("ambiguous").map(|m| m.as_str().to_string());
    };
    let (y, m, d) = ymd;
    let m = i8::try_from(m).ok()?;
    let d = i8::try_from(d).ok()?;
    if !(1900..=2200).contains(&y) {
        return None;
    }
    jiff::civil::Date::new(y, m, d)
        .ok()
        .map(|date| date.to_string())
}

fn month_number(name: &str) -> Option<i16> {
    let lower = name.to_ascii_lowercase();
    let n = match lower.get(..3)? {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    Some(n)
}

/// A stored item date as seconds since the epoch, for ordering items by
/// age; `None` when it is not a date this can read.
///
/// Reads RFC 3339 / ISO-8601 timestamps (with an offset, or without one as
/// UTC, seconds optional), plain `YYYY-MM-DD` dates (midnight UTC) and
/// RFC 2822 dates (`Fri, 30 Jan 2026 10:00:00 +0900`).
pub fn date_key(date: &str) -> Option<i64> {
    let s = date.trim();
    if s.len() < 8 || s.len() > 64 {
        return None;
    }
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_second());
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    jiff::fmt::rfc2822::parse(s)
        .ok()
        .map(|z| z.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dates_in_text() {
        let cases = [
            ("January 30, 2026", Some("2026-01-30")),
            ("Posted Jan. 3rd 2026 by staff", Some("2026-01-03")),
            ("30 January 2026", Some("2026-01-30")),
            ("2026-01-30T10:00:00Z", Some("2026-01-30")),
            ("updated 2026/1/5", Some("2026-01-05")),
            ("2026년 1월 30일", Some("2026-01-30")),
            ("주체115(2026)년 1월 30일", Some("2026-01-30")),
            ("30.01.2026", Some("2026-01-30")),
            ("01/02/2026", Some("01/02/2026")),
            ("February 30, 2026 then March 1, 2026", Some("2026-03-01")),
            ("3 hours ago", None),
            ("Room 2026-99-99", None),
            ("call 555-1234", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(find_date(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn keys_order_dates() {
        let day = date_key("2026-01-30").expect("date");
        assert_eq!(date_key("2026-01-30T00:00:00Z"), Some(day));
        assert_eq!(date_key("2026-01-30T09:00:00+09:00"), Some(day));
        assert_eq!(date_key("2026-01-30T00:00:00"), Some(day));
        assert_eq!(date_key("Fri, 30 Jan 2026 00:00:00 +0000"), Some(day));
        assert!(date_key("2026-01-29").is_some_and(|k| k < day));
        assert_eq!(date_key("01/02/2026"), None);
        assert_eq!(date_key("soon"), None);
    }
}
