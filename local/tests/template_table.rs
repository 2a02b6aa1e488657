//! The table `template.yaml` deploys is the table the code (and the local stack) uses, and its
//! events reach the notifier as they do locally.

use serde_yaml::Value;
use shared::store::schema::INDEXES;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn key_schema(keys: &Value) -> Vec<(String, String)> {
    keys.as_sequence()
        .into_iter()
        .flatten()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap_or_default().to_owned(),
                k["KeyType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// An index as the template and the store describe it: name, key schema, projection.
type Index = (String, Vec<(String, String)>, String);

fn pair(pk: &str, sk: &str) -> Vec<(String, String)> {
    vec![(pk.to_owned(), "HASH".to_owned()), (sk.to_owned(), "RANGE".to_owned())]
}

#[test]
fn the_deployed_table_has_the_keys_and_indexes_the_store_queries() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("Resources");
    let tables: Vec<&Value> =
        resources.values().filter(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table")).collect();
    assert_eq!(tables.len(), 1, "one table");
    let props = &tables[0]["Properties"];
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(key_schema(&props["KeySchema"]), pair("pk", "sk"));

    let mut indexes: Vec<Index> = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GlobalSecondaryIndexes")
        .iter()
        .map(|gsi| {
            (
                gsi["IndexName"].as_str().unwrap_or_default().to_owned(),
                key_schema(&gsi["KeySchema"]),
                gsi["Projection"]["ProjectionType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    indexes.sort();
    let expected: Vec<Index> =
        INDEXES.iter().map(|(name, pk, sk)| ((*name).to_owned(), pair(pk, sk), "ALL".to_owned())).collect();
    assert_eq!(indexes, expected);

    let mut attributes: Vec<(String, String)> = props["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().to_owned(),
                a["AttributeType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    attributes.sort();
    let mut expected: Vec<(String, String)> = ["pk", "sk"]
        .into_iter()
        .chain(INDEXES.iter().flat_map(|(_, pk, sk)| [*pk, *sk]))
        .map(|a| (a.to_owned(), "S".to_owned()))
        .collect();
    expected.sort();
    assert_eq!(attributes, expected, "every key attribute is a string");
}

/// Idempotency records and Stripe event records carry `expires_at` (Unix seconds, see
/// `shared::store` orders): the deployed table lets DynamoDB's TTL delete them.
#[test]
fn the_deployed_table_expires_items_by_expires_at() {
    let template = template();
    let ttl = &template["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"].as_str(), Some("expires_at"));
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));
}

/// The order-events publisher reads both images of every write (the status before and
/// after), as the local stack's table does (`shared::store::schema`), and its event source
/// mapping passes it only order items that changed.
#[test]
fn the_deployed_table_streams_both_images_to_the_order_events_publisher() {
    let template = template();
    let stream = &template["Resources"]["Table"]["Properties"]["StreamSpecification"];
    assert_eq!(stream["StreamViewType"].as_str(), Some("NEW_AND_OLD_IMAGES"));
    let mapping = &template["Resources"]["OrderEventsFunction"]["Properties"]["Events"]["TableStream"]["Properties"];
    assert_eq!(mapping["FunctionResponseTypes"][0].as_str(), Some("ReportBatchItemFailures"));
    assert_eq!(mapping["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert!(!mapping["DestinationConfig"]["OnFailure"]["Destination"].is_null(), "an on-failure destination");
    let pattern: serde_json::Value =
        serde_json::from_str(mapping["FilterCriteria"]["Filters"][0]["Pattern"].as_str().unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(pattern["dynamodb"]["Keys"]["sk"]["S"][0], "ORDER");
    assert_eq!(pattern["eventName"][0], "MODIFY");
}

/// The notifier's rule takes both kinds of order event, as the local stack's rule does: a
/// declined attempt that the rule left out would never reach the customer.
#[test]
fn the_notifiers_rule_takes_the_same_order_events_as_the_local_stacks() {
    let template = template();
    let rule = &template["Resources"]["NotifierFunction"]["Properties"]["Events"]["OrderStatusChanged"]["Properties"];
    let pattern: serde_json::Value =
        serde_json::to_value(&rule["Pattern"]).unwrap_or_else(|e| panic!("the notifier's rule pattern: {e}"));
    assert_eq!(pattern, local::notifications::event_pattern());
}
