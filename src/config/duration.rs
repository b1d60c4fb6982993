//! Go-syntax durations (`250ms`, `1.5s`, `1h30m`, `14d`): the one duration format of the file.
//!
//! The Go original read every duration with `time.ParseDuration`, so its files contain exactly
//! that syntax; we accept the same strings (plus `d` for days, used by `cert_expiry_warning`)
//! and give the same answer, to the nanosecond. Negative durations are refused here because no
//! field of the file can use one; whether zero is allowed is the caller's rule.

use std::time::Duration;

const HINT: &str = "use Go syntax such as 250ms, 30s, 1m30s, 2h or 14d";

/// Parses a Go duration: a sequence of decimal numbers, each with an optional fraction and a
/// unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`, and `d` = 24h), such as `1h30m` or `1.5s`.
/// `0` alone is zero. A leading `+` is allowed; a negative duration is an error.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("invalid duration {s:?}: {why}; {HINT}");
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(format!("invalid duration {s:?}: must not be negative"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        // Integer part.
        let int_len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let mut int_part: u128 = 0;
        for &b in &bytes[..int_len] {
            int_part = int_part * 10 + u128::from(b - b'0');
            if int_part > u128::from(u64::MAX) {
                return Err(bad("too large"));
            }
        }
        // Fraction part.
        let mut pos = int_len;
        let mut frac: u128 = 0;
        let mut frac_scale: u128 = 1;
        let mut frac_len = 0;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            while let Some(&b) = bytes.get(pos) {
                if !b.is_ascii_digit() {
                    break;
                }
                // Digits beyond nanosecond precision of a day-sized unit cannot matter, and 20
                // keep `frac * unit_ns` (at most 10^20 * 8.64 * 10^13) inside a u128.
                if frac_len < 20 {
                    frac = frac * 10 + u128::from(b - b'0');
                    frac_scale *= 10;
                }
                frac_len += 1;
                pos += 1;
            }
            if int_len == 0 && frac_len == 0 {
                return Err(bad("a number is missing"));
            }
        } else if int_len == 0 {
            return Err(bad("a number is missing"));
        }
        // Unit: everything up to the next digit or '.'.
        let unit_len = rest[pos..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len() - pos);
        let unit = &rest[pos..pos + unit_len];
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            "" => return Err(bad("a unit is missing")),
            other => return Err(bad(&format!("unknown unit {other:?}"))),
        };
        total_ns += int_part * unit_ns + frac * unit_ns / frac_scale;
        if total_ns > u128::from(u64::MAX) {
            return Err(bad("too large"));
        }
        rest = &rest[pos + unit_len..];
    }
    // Checked above: total_ns <= u64::MAX.
    Ok(Duration::from_nanos(total_ns as u64))
}

/// Formats a duration the way Go prints it (`1h30m0s`, `1.5s`, `250ms`), for messages.
pub(crate) fn format_go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns, 1_000_000));
    }
    let secs_total = ns / 1_000_000_000;
    let h = secs_total / 3600;
    let m = (secs_total % 3600) / 60;
    let s_ns = ns - (h * 3600 + m * 60) * 1_000_000_000;
    let s = trim_frac(s_ns, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn trim_frac(v: u128, unit: u128) -> String {
    let whole = v / unit;
    let frac = v % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn long_fractions_of_big_units_never_overflow() {
        let d = parse_go_duration("0.999999999999999999999999999999d").unwrap();
        assert!(d < Duration::from_secs(86_400) && d > Duration::from_secs(86_399));
        assert!(parse_go_duration("18446744073.123456789012345678901s").is_ok());
        assert!(
            parse_go_duration("18446744073.8s").is_err(),
            "just past u64 nanoseconds"
        );
        assert!(parse_go_duration("99999999999999999999.9999999999999999999h").is_err());
    }

    #[test]
    fn go_examples() {
        assert_eq!(parse_go_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_go_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_go_duration("1m"), Ok(ms(60_000)));
        assert_eq!(parse_go_duration("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_go_duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(parse_go_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_go_duration("1.s"), Ok(ms(1_000)));
        assert_eq!(parse_go_duration("2h45m30.5s"), Ok(ms(9_930_500)));
        assert_eq!(parse_go_duration("+5s"), Ok(ms(5_000)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("14d"), Ok(ms(14 * 86_400_000)));
        assert_eq!(parse_go_duration("1d12h"), Ok(ms(36 * 3_600_000)));
    }

    #[test]
    fn sub_millisecond_units() {
        assert_eq!(parse_go_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_go_duration("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_go_duration("3µs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_go_duration("3μs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_go_duration("1.000000001s"), Ok(Duration::new(1, 1)));
        assert_eq!(parse_go_duration("0.1ns"), Ok(Duration::ZERO));
    }

    #[test]
    fn refusals() {
        for bad in [
            "", "30", "s", ".s", "-1s", "1x", "1 s", "1s ", "1.5", "1h-2m", "abc",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} should be refused");
        }
        let e = parse_go_duration("30").unwrap_err();
        assert!(e.contains("unit is missing"), "{e}");
        let e = parse_go_duration("5sec").unwrap_err();
        assert!(e.contains("unknown unit \"sec\""), "{e}");
        assert!(parse_go_duration("-1s").unwrap_err().contains("negative"));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert!(parse_go_duration("99999999999999999999s").is_err());
        assert!(parse_go_duration("600000000h").is_err());
        assert!(parse_go_duration("5000000h").is_ok());
    }

    #[test]
    fn formatting_like_go() {
        assert_eq!(format_go_duration(ms(5_400_000)), "1h30m0s");
        assert_eq!(format_go_duration(ms(1_500)), "1.5s");
        assert_eq!(format_go_duration(ms(250)), "250ms");
        assert_eq!(format_go_duration(ms(60_000)), "1m0s");
        assert_eq!(format_go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
    }
}
