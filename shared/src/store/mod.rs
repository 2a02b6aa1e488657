//! DynamoDB: one table, designed from the access patterns of API.md.
//!
//! | access pattern                         | key / index                                        | operation |
//! |----------------------------------------|----------------------------------------------------|-----------|
//! | product by id, with its stock          | `pk=PRODUCT#<id>`, `sk=PRODUCT` and `sk=STOCK`     | BatchGetItem (consistent for an edit, eventual for a page) |
//! | the products of a cart                 | the same keys                                      | BatchGetItem (eventual) |
//! | a product's stock (what orders take and give back) | `pk=PRODUCT#<id>`, `sk=STOCK`: `stock`, with `status` and `price_cents` copied from the product | in the placing and moving transactions: no product item, no index written |
//! | active products, newest first          | `gsi1`: `gsi1pk=CATALOG`, `gsi1sk=<id>` (sparse: active only) | Query, descending; then one BatchGetItem of the page's stock items (eventual) |
//! | active products of a category          | `gsi3`: `gsi3pk=CATEGORY#<slug>`, `gsi3sk=<id>` (sparse: active only) | Query, descending |
//! | a maker's products (by status)         | `gsi2`: `gsi2pk=MAKER#<user>`, `gsi2sk=A#<id>` (active) / `X#<id>` (archived) | Query `begins_with`, descending |
//! | a maker's active product count         | `gsi2` as above, `begins_with(gsi2sk, "A#")`      | Query, `Select=COUNT` |
//! | profile (and maker shop) by user       | `pk=USER#<sub>`, `sk=PROFILE`                      | GetItem / UpdateItem upsert |
//! | create a product                       | Put product + Put stock item (`attribute_not_exists`) + Update the maker's profile | TransactWriteItems |
//! | update / archive a product             | Put with `version = :read_version` [+ Update stock item when stock, status or price change, `stock = :read_stock` for a new stock] | BatchGetItem + conditional PutItem (or TransactWriteItems) |
//! | a product's photos (pending uploads and attached photos, in display order; grant, confirm, renditions ready, reorder, delete) | attribute `photos` (a list of maps) on the product item | read with the product; GetItem + conditional PutItem (`version`) |
//! | order by id                            | `pk=ORDER#<id>`, `sk=ORDER`                        | GetItem (consistent) |
//! | a customer's orders, newest first      | `gsi1`: `gsi1pk=CUSTOMER#<sub>`, `gsi1sk=<order id>` | Query, descending |
//! | a maker's orders (by status)           | maker index item `pk=ORDER#<id>`, `sk=MAKER#<sub>`; `gsi2`: `gsi2pk=MAKERORDERS#<sub>`, `gsi2sk=<order id>` | Query, descending, filter `status` |
//! | orders due: payment expiry, refund retry (or re-read of a pending refund, with backoff) | `gsi3` (sparse): `gsi3pk=DUE#PAYMENT#<shard>` / `DUE#REFUND#<shard>`, `gsi3sk=<due at>#<order id>` | Query `gsi3sk <= now`, every shard at once; a refund's progress is UpdateItem on `payment.refund_status = pending` and its read attempts (compare-and-set) |
//! | orders due a delivery step             | `gsi3` (sparse): `gsi3pk=DUE#DELIVERY#<shard>`, `gsi3sk=<entered its status at>#<order id>` (`paid` … `out_for_delivery` only) | Query `gsi3sk <= now - dwell`, paged, the shards side by side |
//! | checkout read                          | the products and their stock items, `USER#<sub>`/`PROFILE`, `IDEM#<sub>`/`KEY#<key>` | one BatchGetItem (consistent) |
//! | place an order                         | Put order (no intent yet) + Put maker items + Update stock items (`active`, `price`, `stock >= q`) + Put idempotency record | TransactWriteItems; then Stripe; then Update order (`SET payment` on its intent) |
//! | move an order (state machine)          | Update order (`status = :from`, due index key set or removed) + Update maker items [+ release stock] [+ Put Stripe event] | TransactWriteItems |
//! | record a declined payment attempt      | Update order (`status = pending_payment`, `payment.failed_attempts = :before`; count, error, note) + Put Stripe event [+ the move to `payment_failed` at the 5th] | TransactWriteItems |
//! | Stripe event seen                      | `pk=STRIPE_EVENT#<id>`, `sk=EVENT`, TTL `expires_at` | Put `attribute_not_exists` with its effect |
//! | a user's email address (notifier) | `USER#<sub>`/`PROFILE`, attribute `email` (Cognito's, stored by the post-confirmation trigger or filled in on first need) | GetItem / UpdateItem upsert |
//! | one email at most once         | `pk=ORDER#<id>`, `sk=MAIL#<status>#<sub>` / `sk=MAIL#ATTEMPT#<n>#<sub>` (a declined attempt) / `sk=MAIL#REFUND_FAILED#<sub>` / `pk=USER#<sub>`, `sk=MAIL#WELCOME` / `pk=MAKERAPP#<id>`, `sk=MAIL#<decision>` / `pk=PRODUCT#<id>`, `sk=MAIL#MODERATION#<version>`, TTL `expires_at` | UpdateItem `attribute_not_exists(pk) OR state = failed` |
//! | idempotency key                        | `pk=IDEM#<sub>`, `sk=KEY#<key>`, TTL `expires_at` (24 h) | in the checkout read and the placing transaction |
//! | the web shop: sessions, carts         | under `USER#<sub>`: `SESSION#<hash>`, `CART` (see `store::web`) | BatchGetItem with the profile; Put / Update / Delete |
//! | maker applications: by id, a user's latest and open one, by status (oldest first), apply, decide | `MAKERAPP#<id>`/`MAKERAPP`; `USER#<sub>`/`MAKERAPP`; `gsi1`: `gsi1pk=MAKERAPPS#<status>`, `gsi1sk=<id>` (see `store::applications`) | GetItem; TransactWriteItems with conditions; Query ascending |
//! | order event published (publisher dedup) | `pk=ORDER#<id>`, `sk=EVENT#<status>` / `sk=EVENT#ATTEMPT#<n>` (a declined attempt) / `sk=EVENT#REFUND_FAILED`, TTL `expires_at` (3 days) | BatchGetItem (consistent) before PutEvents, BatchWriteItem after |
//!
//! Product ids are ULIDs, so sorting by id is sorting by creation time. `q` (words of the
//! title) and price bounds are filter expressions on the chosen index; price and word
//! filters make a query read more than it returns, bounded per request.

mod applications;
mod events;
mod item;
mod mail;
mod orders;
mod products;
mod profiles;
mod query;
pub mod schema;
mod web;

pub use events::{EventKey, MARKER_SORT_KEY_PREFIX, MARKER_TTL as EVENT_MARKER_TTL};
pub use mail::{Claim, MARKER_TTL as MAIL_MARKER_TTL, MailKey};
pub use orders::{
    CheckoutRead, DEFAULT_DUE_SHARDS, DUE_READS_IN_FLIGHT, DueCursor, DueKind, IDEMPOTENCY_TTL, Idempotency,
    IdempotencyRecord, MAX_DUE_SHARDS, MoveOutcome, Placement, REFUND_RETRY_AFTER, ShardGroup, due_shard,
};
pub use products::{Page, ProductFilter, StatusFilter};
pub use profiles::Contact;
pub use web::{SESSION_TTL_SECS, VisitRead, WebSession};

use crate::Error;
use aws_sdk_dynamodb::Client;

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A strongly consistent read: what a write that follows depends on (edits, checkout).
    Latest,
    /// An eventually consistent read (half the read units, any replica): what is only shown
    /// (a product page, a list, a cart), since checkout reads again before it reserves.
    Recent,
}

/// The DynamoDB table behind every function.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    due_shards: u16,
}

impl Store {
    /// The store of `table`, its due work spread over [`orders::DEFAULT_DUE_SHARDS`] shards.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), due_shards: orders::DEFAULT_DUE_SHARDS }
    }

    /// The same store with the due index spread over `shards` partitions per kind (1 to
    /// [`orders::MAX_DUE_SHARDS`]). Every function of a deployment must use the same count:
    /// it decides where an order's due entry is written and where the sweepers look.
    pub fn with_due_shards(mut self, shards: u16) -> Self {
        self.due_shards = shards.clamp(1, orders::MAX_DUE_SHARDS);
        self
    }

    /// How many partitions each kind of due work is spread over.
    pub fn due_shards(&self) -> u16 {
        self.due_shards
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// An SDK failure: a 503 when DynamoDB did not answer in time, could not be reached, or
/// was still throttling or failing on its side after the SDK's retries; else a 500. Either
/// way the log says what we were doing.
pub(crate) fn sdk<E>(context: &'static str) -> impl FnOnce(E) -> Error
where
    E: SdkFailure,
{
    move |err| {
        let unavailable = err.unavailable();
        let detail = aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string();
        if unavailable {
            Error::Unavailable { context, source: detail.into() }
        } else {
            Error::internal(context, detail)
        }
    }
}

/// What [`sdk`] needs to know of a failure.
pub(crate) trait SdkFailure: std::error::Error + Send + Sync + 'static {
    /// Whether the service was not reached or did not answer in time (not an answer).
    fn unavailable(&self) -> bool {
        false
    }
}

/// DynamoDB's answers that say "not now" rather than "not this": throttling, capacity, and
/// its own faults. The SDK retries them; once its attempts are spent they are a 503.
const UNAVAILABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
];

impl<E, R> SdkFailure for aws_sdk_dynamodb::error::SdkError<E, R>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn unavailable(&self) -> bool {
        use aws_sdk_dynamodb::error::SdkError;
        match self {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ServiceError(e) => e.err().code().is_some_and(|code| UNAVAILABLE_CODES.contains(&code)),
            _ => false,
        }
    }
}

impl SdkFailure for aws_sdk_dynamodb::error::BuildError {}

/// True when `err` is DynamoDB's ConditionalCheckFailedException.
pub(crate) fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// Retries of a transaction DynamoDB cancelled because another one touched the same item.
pub(crate) const TRANSACTION_RETRIES: u64 = 3;

/// A transaction DynamoDB kept cancelling for conflicts with other transactions on the same
/// items, after all our retries: nothing was written, so a 503 with `Retry-After` the client
/// may simply retry (not a 500: nothing is wrong but the rush; not a 409: the request itself
/// is fine).
pub(crate) fn still_conflicting(context: &'static str, attempts: u32) -> Error {
    tracing::warn!(context, attempts, "a transaction kept losing conflicts with others; nothing was written");
    Error::Busy { context }
}

/// A transaction's failure as the SDK reports it.
pub(crate) type TransactError = aws_sdk_dynamodb::error::SdkError<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    aws_sdk_dynamodb::config::http::HttpResponse,
>;

impl Store {
    /// Sends `items` as one transaction, again after 25, 50 and 75 ms when DynamoDB cancels
    /// it for a conflict with another transaction (a retry, not a failure). `Ok(true)` once
    /// written; `Ok(false)` when a cancellation `refused` recognises (a condition of the
    /// caller's) ended it, with nothing written; a conflict that outlasts the retries is
    /// [`still_conflicting`]; anything else is an error in `context`.
    pub(crate) async fn transact_retrying(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
        context: &'static str,
        refused: impl Fn(&TransactError) -> bool,
    ) -> crate::Result<bool> {
        let mut attempt = 0;
        loop {
            match self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
                Ok(_) => return Ok(true),
                Err(err) if refused(&err) => return Ok(false),
                Err(err) if attempt < TRANSACTION_RETRIES && is_transaction_conflict(&err) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(25 * attempt)).await;
                }
                Err(err) if is_transaction_conflict(&err) => {
                    return Err(still_conflicting(context, u32::try_from(attempt + 1).unwrap_or(u32::MAX)));
                }
                Err(err) => return Err(sdk(context)(err)),
            }
        }
    }
}

/// True when DynamoDB cancelled a transaction because another one touched one of its
/// items at the same time: a retry, not a failure.
pub(crate) fn is_transaction_conflict<R>(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> bool {
    cancellation_codes(err).iter().any(|code| code.as_deref() == Some("TransactionConflict"))
}

/// The per-item cancellation codes of a cancelled transaction (`None` for items that were
/// fine), in the order the items were sent; empty for any other failure.
pub(crate) fn cancellation_codes<R>(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> Vec<Option<String>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match err.as_service_error() {
        Some(E::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().filter(|c| *c != "None").map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::error::{ErrorMetadata, SdkError};
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_smithy_types::body::SdkBody;

    fn answered(code: &str, status: u16) -> SdkError<TransactWriteItemsError, HttpResponse> {
        let error = TransactWriteItemsError::generic(ErrorMetadata::builder().code(code).build());
        let status = status.try_into().unwrap_or_else(|e| panic!("{e}"));
        SdkError::service_error(error, HttpResponse::new(status, SdkBody::empty()))
    }

    #[test]
    fn dynamodb_overloaded_after_the_sdk_retries_is_a_503_not_a_500() {
        for (code, status) in [
            ("ThrottlingException", 400),
            ("ProvisionedThroughputExceededException", 400),
            ("RequestLimitExceeded", 400),
            ("InternalServerError", 500),
        ] {
            let err = sdk("placing an order")(answered(code, status));
            assert_eq!(err.status(), 503, "{code}");
        }
        let err = sdk("placing an order")(answered("ValidationException", 400));
        assert_eq!(err.status(), 500, "a request DynamoDB refuses is our fault");
    }
}
