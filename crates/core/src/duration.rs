//! Durations as people write them in flags and scenario files (`500ms`, `1.5s`, `2m`, `1h`,
//! `0`, or a bare number of seconds): one pure parser for the CLI and the lab.
//!
//! Callers keep their own bounds (the CLI wants more than 0 and at most 24h, the lab at most
//! 1h); this module only refuses what is not a duration at all.

use std::time::Duration;

/// Longest duration parsed at all (about 31 years): beyond it, floating-point seconds lose
/// the millisecond and nobody means it.
const MAX_MS: f64 = 1e12;

/// Why a text is not a duration. Messages quote the input and show the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("'{0}' is not a duration: expected a number and a unit, as in 10s, 500ms, 2m")]
    NotANumber(String),
    #[error("'{input}' is not a duration: unknown unit '{unit}': use ms, s, m, h or d")]
    UnknownUnit { input: String, unit: String },
    #[error("duration '{0}' is out of range")]
    OutOfRange(String),
}

/// Parses a number (decimals allowed) and a unit: `ms`; `s`, `sec`, `secs` or none (seconds);
/// `m`, `min`, `mins`; `h`; `d` (days: retention, monitor intervals). Space around the number and the unit is ignored.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| DurationError::NotANumber(s.to_string()))?;
    let ms = match unit.trim() {
        "ms" => value,
        "" | "s" | "sec" | "secs" => value * 1000.0,
        "m" | "min" | "mins" => value * 60_000.0,
        "h" => value * 3_600_000.0,
        "d" => value * 86_400_000.0,
        other => {
            return Err(DurationError::UnknownUnit {
                input: s.to_string(),
                unit: other.to_string(),
            });
        }
    };
    if !ms.is_finite() || !(0.0..=MAX_MS).contains(&ms) {
        return Err(DurationError::OutOfRange(s.to_string()));
    }
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_the_cli_and_the_lab_accepted() {
        let ok = [
            ("10s", Duration::from_secs(10)),
            ("500ms", Duration::from_millis(500)),
            ("200ms", Duration::from_millis(200)),
            ("1.5s", Duration::from_millis(1500)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("3", Duration::from_secs(3)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("5 sec", Duration::from_secs(5)),
            ("2secs", Duration::from_secs(2)),
            ("1min", Duration::from_secs(60)),
            ("15mins", Duration::from_secs(900)),
            (" 30s ", Duration::from_secs(30)),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn errors_say_what_was_expected() {
        assert_eq!(
            parse("ten").unwrap_err().to_string(),
            "'ten' is not a duration: expected a number and a unit, as in 10s, 500ms, 2m"
        );
        assert_eq!(
            parse("5y").unwrap_err().to_string(),
            "'5y' is not a duration: unknown unit 'y': use ms, s, m, h or d"
        );
        assert!(matches!(
            parse("1e9h"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse("99999999999h"),
            Err(DurationError::OutOfRange(_))
        ));
        assert!(parse("").is_err());
        assert!(parse("-1s").is_err());
    }
}
