//! Business metrics as CloudWatch Embedded Metric Format (EMF): one JSON line on stdout per
//! data point, which Lambda's log capture turns into a metric with no API call and no
//! client at cold start. The dashboard in `template.yaml` charts them under the
//! [`NAMESPACE`] namespace.

use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

/// The CloudWatch namespace of every business metric.
pub const NAMESPACE: &str = "MakersMarket";

/// A count of `value` for `metric`, with one dimension (`name` = `value`).
///
/// `count("OrderStatusChanged", ("Status", "paid"), 1)` becomes the metric
/// `MakersMarket/OrderStatusChanged{Status=paid}`.
pub fn count(metric: &str, dimension: (&str, &str), value: u64) {
    println!("{}", emf_line(metric, dimension, value, now_millis()));
}

fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

fn emf_line(metric: &str, (name, dim_value): (&str, &str), value: u64, timestamp_ms: u128) -> String {
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[name]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
    });
    if let Some(map) = line.as_object_mut() {
        map.insert(name.to_owned(), json!(dim_value));
        map.insert(metric.to_owned(), json!(value));
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_its_metric_and_dimension_and_carries_both_values() {
        let line: serde_json::Value =
            serde_json::from_str(&emf_line("EmailsSent", ("Status", "paid"), 2, 1_700_000_000_000)).unwrap_or_default();
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Dimensions"][0][0], "Status");
        assert_eq!(declared["Metrics"][0]["Name"], "EmailsSent");
        assert_eq!(line["Status"], "paid");
        assert_eq!(line["EmailsSent"], 2);
    }
}
