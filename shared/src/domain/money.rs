//! Money as people read it: integer cents shown as euros.

/// `cents` as euros for people: `€12.50`, `€1,234.00`, `€0.05`. Amounts are integer cents
/// everywhere else; this is only for what a person reads (emails).
pub fn euros(cents: u64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("€{grouped}.{:02}", cents % 100)
}

/// An amount a person typed in euros (`12`, `12.5`, `12.50`, `€12,50`, `1,234.00` is not
/// taken: no grouping) as cents; `None` for anything else.
pub fn parse_euros(text: &str) -> Option<u64> {
    let text = text.trim().trim_start_matches('€').trim();
    let (whole, fraction) = match text.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() || whole.len() > 9 || fraction.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let cents = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u64>().ok()? * 10,
        _ => fraction.parse::<u64>().ok()?,
    };
    Some(whole.parse::<u64>().ok()? * 100 + cents)
}

#[cfg(test)]
mod tests {
    use super::{euros, parse_euros};

    #[test]
    fn euros_typed_by_a_person_read_as_cents() {
        assert_eq!(parse_euros("12"), Some(1200));
        assert_eq!(parse_euros(" 12.5 "), Some(1250));
        assert_eq!(parse_euros("€12,05"), Some(1205));
        assert_eq!(parse_euros("0.99"), Some(99));
        for bad in ["", "abc", "12.345", "-1", "1,234.00", "1e3", "9999999999"] {
            assert_eq!(parse_euros(bad), None, "{bad}");
        }
    }

    #[test]
    fn cents_read_as_euros_with_two_decimals_and_grouped_thousands() {
        assert_eq!(euros(0), "€0.00");
        assert_eq!(euros(5), "€0.05");
        assert_eq!(euros(1250), "€12.50");
        assert_eq!(euros(100_000), "€1,000.00");
        assert_eq!(euros(123_456_789), "€1,234,567.89");
        assert_eq!(euros(1_000_000_000), "€10,000,000.00");
    }
}
