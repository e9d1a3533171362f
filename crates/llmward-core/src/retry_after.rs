//! How long a provider asked the caller to wait: `retry-after-ms`, `Retry-After` (seconds or
//! an HTTP date) and duration strings such as Gemini's `retryDelay: "48s"`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

// Anything longer is not a wait a client should honour literally; the router caps it anyway.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The wait the response headers ask for: `retry-after-ms` wins over `Retry-After` when
/// both are present (Azure sends `Retry-After: 1` with `retry-after-ms: 0`, which is 0).
pub fn from_headers(headers: &HeaderMap) -> Option<Duration> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = value("retry-after-ms").and_then(parse_millis) {
        return Some(ms);
    }
    value("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now()))
}

fn parse_millis(text: &str) -> Option<Duration> {
    let ms: f64 = text.trim().parse().ok()?;
    seconds(ms / 1000.0)
}

fn seconds(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(MAX_WAIT.as_secs_f64())))
}

/// Parses a `Retry-After` value: delay seconds (integer or decimal) or an HTTP date, relative
/// to `now` (a date in the past is a wait of zero).
pub fn parse_retry_after(text: &str, now: SystemTime) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return seconds(text.parse().ok()?);
    }
    let at = parse_http_date(text)?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

/// Parses an HTTP date in the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime
/// (`Sun Nov  6 08:49:37 1994`).
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        [_, d, m, y, t, "GMT"] => (d.parse().ok()?, month(m)?, y.parse().ok()?, *t),
        [_, dmy, t, "GMT"] => {
            let mut it = dmy.split('-');
            let d = it.next()?.parse().ok()?;
            let m = month(it.next()?)?;
            let y: i64 = it.next()?.parse().ok()?;
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
            let y = if y < 100 {
                if y < 70 { 2000 + y } else { 1900 + y }
            } else {
                y
            };
            (d, m, y, *t)
        }
        [_, m, d, t, y] => (d.parse().ok()?, month(m)?, y.parse().ok()?, *t),
        _ => return None,
    };
    let mut hms = time.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let mi: i64 = hms.next()?.parse().ok()?;
    let s: i64 = hms.next()?.parse().ok()?;
    if hms.next().is_some() || h > 23 || mi > 59 || s > 60 || !(1..=31).contains(&day) {
        return None;
    }
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

fn month(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == name).map(|i| i as i64 + 1)
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a duration string such as `"48s"`, `"1.5s"`, `"250ms"`, `"6m0s"` or `"1h2m3s"`
/// (Gemini `retryDelay`, OpenAI `x-ratelimit-reset-*`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    seconds(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn ms_header_wins() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("1"));
        h.insert("retry-after-ms", HeaderValue::from_static("0"));
        assert_eq!(from_headers(&h), Some(Duration::ZERO));
        h.remove("retry-after-ms");
        assert_eq!(from_headers(&h), Some(Duration::from_secs(1)));
        h.insert("retry-after", HeaderValue::from_static("0.25"));
        assert_eq!(from_headers(&h), Some(Duration::from_millis(250)));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(from_headers(&h), None);
    }

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("garbage"), None);
        let now = t - Duration::from_secs(30);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", t + Duration::from_secs(9)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("48s"), Some(Duration::from_secs(48)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(parse_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("1e309s"), None);
    }
}
