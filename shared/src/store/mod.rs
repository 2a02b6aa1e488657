//! DynamoDB: one table, designed from the access patterns of API.md.
//!
//! | access pattern                         | key / index                                        | operation |
//! |----------------------------------------|----------------------------------------------------|-----------|
//! | product by id                          | `pk=PRODUCT#<id>`, `sk=PRODUCT`                    | GetItem (consistent) |
//! | active products, newest first          | `gsi1`: `gsi1pk=CATALOG`, `gsi1sk=<id>` (sparse: active only) | Query, descending |
//! | active products of a category          | `gsi3`: `gsi3pk=CATEGORY#<slug>`, `gsi3sk=<id>` (sparse: active only) | Query, descending |
//! | a maker's products (by status)         | `gsi2`: `gsi2pk=MAKER#<user>`, `gsi2sk=A#<id>` (active) / `X#<id>` (archived) | Query `begins_with`, descending |
//! | a maker's active product count         | `gsi2` as above, `begins_with(gsi2sk, "A#")`      | Query, `Select=COUNT` |
//! | profile (and maker shop) by user       | `pk=USER#<sub>`, `sk=PROFILE`                      | GetItem / UpdateItem upsert |
//! | create a product                       | Put product (`attribute_not_exists`) + Update the maker's profile | TransactWriteItems |
//! | update / archive a product             | Put with `version = :read_version`                 | GetItem + conditional PutItem |
//!
//! Product ids are ULIDs, so sorting by id is sorting by creation time. `q` (words of the
//! title) and price bounds are filter expressions on the chosen index; price and word
//! filters make a query read more than it returns, bounded per request.

mod item;
mod products;
mod profiles;
pub mod schema;

pub use products::{Page, ProductFilter, StatusFilter};

use crate::Error;
use aws_sdk_dynamodb::Client;

/// The DynamoDB table behind every function.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Turns an SDK failure into a 500 that logs what we were doing.
pub(crate) fn sdk<E>(context: &'static str) -> impl FnOnce(E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |err| Error::internal(context, aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
}

/// True when `err` is DynamoDB's ConditionalCheckFailedException.
pub(crate) fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}
