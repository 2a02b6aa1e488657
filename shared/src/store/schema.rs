//! The table's definition, for the local stack and tests (the cloud's is in
//! `template.yaml`; a test keeps the two in step).

use super::sdk;
use crate::Result;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};

/// The attribute DynamoDB's TTL deletes items by (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Global secondary indexes: name, partition key, sort key.
pub const INDEXES: [(&str, &str, &str); 3] =
    [("gsi1", "gsi1pk", "gsi1sk"), ("gsi2", "gsi2pk", "gsi2sk"), ("gsi3", "gsi3pk", "gsi3sk")];

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(sdk("describing the table"))
}

fn attr(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(sdk("describing the table"))
}

/// Creates the table with its indexes, on-demand billing, and its stream: every change
/// with both images, which the order events publisher reads (`crate::events`).
pub async fn create_table(client: &Client, table: &str) -> Result<()> {
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(sdk("describing the table"))?;
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?);
    for (index, pk, sk) in INDEXES {
        request = request.attribute_definitions(attr(pk)?).attribute_definitions(attr(sk)?).global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(sdk("describing the table"))?,
        );
    }
    request.send().await.map_err(sdk("creating the table"))?;
    // Idempotency records, Stripe event records and published-event markers expire by
    // themselves.
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(sdk("describing the table"))?,
        )
        .send()
        .await
        .map_err(sdk("enabling the table's TTL"))?;
    Ok(())
}
