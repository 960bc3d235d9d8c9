//! Durations on the command line: `90`, `90s`, `5m`, `1h`, `2d` and combinations (`1h30m`).

/// What the error message says is accepted.
const ACCEPTED: &str = "expected seconds (90) or whole numbers with units s, m, h, d, \
                        largest unit first (90s, 5m, 1h, 2d, 1h30m), at most 4294967295 s";

/// Parses a duration into seconds, for clap's `value_parser`.
///
/// A bare integer is seconds. Otherwise the text is one or more `<digits><unit>` parts with
/// units `d`, `h`, `m`, `s`, each at most once and largest first, so `1h30m` is 5400 and
/// `30m1h`, `1h30` or `5ms` are refused as likely typos. Signs, spaces, fractions, upper
/// case units and totals beyond `u32::MAX` seconds are refused.
pub fn parse_duration(text: &str) -> Result<u32, String> {
    seconds(text).ok_or_else(|| ACCEPTED.to_owned())
}

fn seconds(text: &str) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let mut total: u32 = 0;
    // Rank of the previous unit; each unit must rank strictly lower than the one before.
    let mut previous = u8::MAX;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let (number, tail) = rest.split_at(digits);
        let mut chars = tail.chars();
        let (rank, factor) = match chars.next()? {
            'd' => (3, 86_400),
            'h' => (2, 3_600),
            'm' => (1, 60),
            's' => (0, 1),
            _ => return None,
        };
        if rank >= previous {
            return None;
        }
        previous = rank;
        let number: u32 = number.parse().ok()?;
        total = total.checked_add(number.checked_mul(factor)?)?;
        rest = chars.as_str();
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn accepts_the_documented_forms() {
        let cases = [
            ("0", 0),
            ("90", 90),
            ("90s", 90),
            ("5m", 300),
            ("1h", 3_600),
            ("2d", 172_800),
            ("1h30m", 5_400),
            ("1d2h3m4s", 93_784),
            ("1m30s", 90),
            ("007m", 420),
            ("4294967295", u32::MAX),
            ("4294967295s", u32::MAX),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_duration(text), Ok(seconds), "{text}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let cases = [
            "",
            " ",
            "-5",
            "+5",
            "-5m",
            "5x",
            "m",
            "5ms",
            "1h30",
            "30m1h",
            "1m1m",
            "5M",
            " 5m",
            "5m ",
            "5 m",
            "1.5h",
            "1e3",
            "٣s",
            "4294967296",
            "4294967296s",
            "49711d",
            "99999999999999999999s",
            "49710d6h28m16s",
        ];
        for text in cases {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains("1h30m"), "message names the accepted forms");
        }
        assert_eq!(parse_duration("49710d6h28m15s"), Ok(u32::MAX));
    }
}
