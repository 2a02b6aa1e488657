//! Where `openapi.yaml` restates a domain rule, it states the same rule.

use serde_yaml::Value;

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_country_enum_is_the_domains_list() {
    let spec = spec();
    let listed: Vec<&str> = spec["components"]["schemas"]["Country"]["enum"]
        .as_sequence()
        .expect("Country has an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let domain: Vec<&str> = shared::domain::countries().collect();
    assert_eq!(listed, domain);
}
