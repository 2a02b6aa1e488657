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

#[cfg(test)]
mod tests {
    use super::euros;

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
