//! Durations as flags take them (`--expires-in 30d`, `--older-than 12h`).

use chrono::Duration;

use crate::failure::Failure;

/// `90s`, `30m`, `12h`, `30d`: a positive whole number and its unit, at most
/// ten years; `flag` names the flag in the refusal.
pub fn duration(flag: &str, text: &str) -> Result<Duration, Failure> {
    let bad = || {
        Failure::Usage(format!(
            "{flag} must be a number and a unit (s, m, h or d), like 30d; got {}",
            pplane_domain::text::preview(text)
        ))
    };
    let unit_at = text.len().checked_sub(1).ok_or_else(bad)?;
    if !text.is_char_boundary(unit_at) {
        return Err(bad());
    }
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3_600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    seconds
        .filter(|s| *s <= 10 * 365 * 86_400)
        .map(Duration::seconds)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_number_and_a_unit() {
        assert_eq!(duration("--x", "90s").unwrap(), Duration::seconds(90));
        assert_eq!(duration("--x", "30d").unwrap(), Duration::days(30));
        for bad in ["", "d", "0h", "-1h", "1w", "1.5h", "99999999999d", "1é"] {
            assert!(duration("--x", bad).is_err(), "{bad}");
        }
    }
}
