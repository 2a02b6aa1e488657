//! Orders: placing one (stock reserved together with the order, in one transaction), the
//! state machine's moves as compare-and-set transactions, idempotency records, Stripe
//! event records, refunds, and the lists. Order items are (de)serialized with
//! serde_dynamo; the keys and index attributes are added here.

use super::item::{Item, n, s};
use super::query::IndexQuery;
use super::{Page, Store, TRANSACTION_RETRIES, cancellation_codes, is_condition_failure, sdk, still_conflicting};
use crate::domain::order::{Decline, next_delivery_step, not_enough_stock, short_of_stock};
use crate::domain::{
    Address, HistoryEntry, MAX_UNPAID_ORDERS, MakerOrder, Move, Order, OrderId, OrderStatus, PaymentError, Product,
    ProductId, RefundProgress, RefundStatus, Timestamp, UserId,
};
use crate::http::cursor::Key;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a Stripe event id is remembered (Stripe retries for up to three days).
const EVENT_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// A refund that is still pending this long after it was decided is retried (later tries
/// back off: [`crate::domain::order::refund_retry_after`]).
pub const REFUND_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Attempts at a placing transaction that DynamoDB cancelled for a conflict with another
/// transaction on the same product (a rush on one product).
const PLACING_ATTEMPTS: u32 = 10;

/// Work the scheduled functions find on the sparse due-time index (`gsi3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueKind {
    /// `pending_payment` orders whose payment window ends.
    Payment,
    /// Orders whose refund was decided but not yet confirmed by Stripe.
    Refund,
    /// Orders in a status the delivery simulator moves on from (`paid` up to
    /// `out_for_delivery`). Unlike the others, its sort key is when the order *entered* that
    /// status, not when it is due: the dwell is the simulator's configuration, so the moves
    /// that write the key (the Stripe webhook's among them) need not know it.
    Delivery,
}

impl DueKind {
    fn name(self) -> &'static str {
        match self {
            Self::Payment => "PAYMENT",
            Self::Refund => "REFUND",
            Self::Delivery => "DELIVERY",
        }
    }

    /// The index partition of `shard`: `DUE#<KIND>#<shard>`.
    fn partition(self, shard: u16) -> String {
        format!("DUE#{}#{shard}", self.name())
    }
}

/// How many partitions each kind of due work is spread over when nothing says otherwise
/// (`DUE_SHARDS`): at 10,000 orders a minute each takes a sixteenth of the writes.
pub const DEFAULT_DUE_SHARDS: u16 = 16;

/// Queries of the due index in flight at once in one sweep.
pub const DUE_READS_IN_FLIGHT: usize = 4;

/// The most shards a deployment may set: a sweep reads each at least once per run.
pub const MAX_DUE_SHARDS: u16 = 256;

/// The shard of `id` among `shards`: FNV-1a of the id, so stable across processes and
/// releases (the sweepers must find an order where the writers put it).
pub fn due_shard(id: &OrderId, shards: u16) -> u16 {
    let hash =
        id.as_str().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % u64::from(shards.max(1))) as u16
}

/// Which due-index shards one scheduled invocation sweeps. A schedule may pass
/// `{"shard_group": g, "shard_groups": n}` as its input: the shards are cut into `n` groups
/// of near-equal size and this invocation takes group `g`, so `n` schedules scale a sweep
/// out to `n` invocations at once (`template.yaml` runs 4 of each sweeper). Without them
/// (the plain scheduled event, as the local stack sends) one invocation sweeps every shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ShardGroup {
    #[serde(default)]
    shard_group: Option<u16>,
    #[serde(default)]
    shard_groups: Option<u16>,
}

impl ShardGroup {
    /// The group an invocation's event names. A group the input names wrongly (outside
    /// `0..n`, or only half of the pair) is an error, so that a bad schedule fails loudly
    /// rather than sweep nothing or everything.
    pub fn of_event(event: &serde_json::Value) -> Result<Self> {
        let group: Self = serde_json::from_value(event.clone())
            .map_err(|e| Error::internal("reading a sweep's shard group", format!("{e} in {event}")))?;
        match (group.shard_group, group.shard_groups) {
            (None, None) => Ok(group),
            (Some(g), Some(n)) if g < n => Ok(group),
            _ => Err(Error::internal("reading a sweep's shard group", format!("bad shard group in {event}"))),
        }
    }

    /// The shards of this group among `shards`: consecutive, and together the groups
    /// cover `0..shards` once (a group may be empty when there are fewer shards than groups).
    pub fn shards(self, shards: u16) -> std::ops::Range<u16> {
        match (self.shard_group, self.shard_groups) {
            (Some(g), Some(n)) if g < n => {
                let cut = |i: u16| u16::try_from(u32::from(i) * u32::from(shards) / u32::from(n)).unwrap_or(shards);
                cut(g)..cut(g + 1)
            }
            _ => 0..shards,
        }
    }
}

fn due_sort_key(at: &Timestamp, id: &OrderId) -> String {
    format!("{}#{}", at.as_str(), id.as_str())
}

fn order_key(id: &OrderId) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("ORDER#{}", id.as_str()))), ("sk".to_owned(), s("ORDER"))])
}

fn maker_key(id: &OrderId, maker: &UserId) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("ORDER#{}", id.as_str()))),
        ("sk".to_owned(), s(format!("MAKER#{}", maker.as_str()))),
    ])
}

/// How a refund ended, as [`Store::settle_refund`] records it.
struct Settled<'a> {
    status: RefundStatus,
    note: String,
    refund_id: Option<&'a str>,
    progress: &'a RefundProgress,
}

/// A customer's unpaid orders: `orders`, the string set of their orders in
/// `pending_payment`. Access pattern: read with the checkout's BatchGetItem, added to by the
/// placing transaction on condition that it holds fewer than [`MAX_UNPAID_ORDERS`], removed
/// from by every move out of `pending_payment` in that move's transaction. So the limit
/// holds under concurrency: two placements that both read 2 cannot both commit a 4th.
fn unpaid_key(customer: &UserId) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("USER#{}", customer.as_str()))), ("sk".to_owned(), s("UNPAID"))])
}

/// The transaction item that takes `order` off its customer's unpaid orders.
fn unpaid_removal(table: &str, order: &Order) -> Result<TransactWriteItem> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(unpaid_key(&order.customer_id)))
        .update_expression("DELETE orders :id")
        .expression_attribute_values(":id", AttributeValue::Ss(vec![order.id.as_str().to_owned()]))
        .build()
        .map_err(sdk("building an unpaid-orders update"))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

fn idempotency_item_key(customer: &UserId, key: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("IDEM#{}", customer.as_str()))),
        ("sk".to_owned(), s(format!("KEY#{key}"))),
    ])
}

/// The order item: the order itself plus its keys and index attributes.
#[derive(Debug, Serialize, Deserialize)]
struct OrderRecord {
    pk: String,
    sk: String,
    entity: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3sk: Option<String>,
    #[serde(flatten)]
    order: Order,
}

/// A maker's index item of an order: what that maker sees, listed on `gsi2`.
#[derive(Debug, Serialize, Deserialize)]
struct MakerRecord {
    pk: String,
    sk: String,
    entity: String,
    gsi2pk: String,
    gsi2sk: String,
    #[serde(flatten)]
    view: MakerOrder,
}

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub order_id: OrderId,
    /// Unix seconds; DynamoDB's TTL deletes the item some time after.
    pub expires_at: u64,
}

/// A customer's `Idempotency-Key` and the hash of the body it came with.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// Everything placing an order reads, in one BatchGetItem.
#[derive(Debug, Default)]
pub struct CheckoutRead {
    pub products: HashMap<ProductId, Product>,
    pub profile_address: Option<Address>,
    /// The live record of the idempotency key, if one was given and used before.
    pub idempotency: Option<IdempotencyRecord>,
    /// The customer's orders in `pending_payment`, as their unpaid-orders item lists them.
    pub unpaid: Vec<OrderId>,
}

/// How a placing transaction ended, short of an error.
#[derive(Debug)]
pub enum Placement {
    Placed,
    /// A concurrent request with the same idempotency key won; this is its record.
    KeyTaken(IdempotencyRecord),
}

/// How a move ended.
#[derive(Debug)]
pub enum MoveOutcome {
    /// Made: the order as it is now (boxed: it is much larger than the other outcomes).
    Moved(Box<Order>),
    /// The order was no longer in the move's `from` status (or, for a declined attempt, no
    /// longer had the attempts read): someone else changed it first.
    Stale,
    /// The Stripe event was already recorded: its effect happened before.
    EventSeen,
}

fn epoch_secs(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn to_item<T: Serialize>(value: &T) -> Result<Item> {
    serde_dynamo::to_item(value).map_err(|e| Error::internal("writing an order item", e))
}

fn to_value<T: Serialize>(value: &T) -> Result<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(|e| Error::internal("writing an order attribute", e))
}

fn order_from(item: Item) -> Result<Order> {
    serde_dynamo::from_item::<_, OrderRecord>(item)
        .map(|r| r.order)
        .map_err(|e| Error::internal("reading a stored order", e))
}

fn order_record(order: &Order, payment_due: Option<(&Timestamp, u16)>) -> OrderRecord {
    OrderRecord {
        pk: format!("ORDER#{}", order.id.as_str()),
        sk: "ORDER".to_owned(),
        entity: "order".to_owned(),
        gsi1pk: format!("CUSTOMER#{}", order.customer_id.as_str()),
        gsi1sk: order.id.as_str().to_owned(),
        gsi3pk: payment_due.map(|(_, shards)| DueKind::Payment.partition(due_shard(&order.id, shards))),
        gsi3sk: payment_due.map(|(at, _)| due_sort_key(at, &order.id)),
        order: order.clone(),
    }
}

fn maker_record(order: &Order, maker: &UserId) -> MakerRecord {
    MakerRecord {
        pk: format!("ORDER#{}", order.id.as_str()),
        sk: format!("MAKER#{}", maker.as_str()),
        entity: "maker_order".to_owned(),
        gsi2pk: format!("MAKERORDERS#{}", maker.as_str()),
        gsi2sk: order.id.as_str().to_owned(),
        view: order.for_maker(maker),
    }
}

/// The item that records Stripe event `event_id` (about `order`), kept for [`EVENT_TTL`].
fn event_item(event_id: &str, order: &OrderId, now: &Timestamp) -> Item {
    let expires = now.plus(EVENT_TTL).to_system_time().unwrap_or_else(std::time::SystemTime::now);
    HashMap::from([
        ("pk".to_owned(), s(format!("STRIPE_EVENT#{event_id}"))),
        ("sk".to_owned(), s("EVENT")),
        ("entity".to_owned(), s("stripe_event")),
        ("order_id".to_owned(), s(order.as_str())),
        ("received_at".to_owned(), s(now.as_str())),
        ("expires_at".to_owned(), n(epoch_secs(expires))),
    ])
}

/// A Put of `item` for a transaction, on `condition` with its `values` if any.
fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: &[(&str, AttributeValue)],
) -> Result<TransactWriteItem> {
    let values: HashMap<String, AttributeValue> = values.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_values((!values.is_empty()).then_some(values))
        .build()
        .map_err(sdk("building an order write"))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Gives `quantity` units back to a product's stock item (the product item, and so its
/// index entries, are not written).
fn release(table: &str, product: &ProductId, quantity: u64) -> Result<TransactWriteItem> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(super::products::stock_key(product)))
        .update_expression("SET stock = stock + :q")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":q", n(quantity))
        .build()
        .map_err(sdk("building a stock release"))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Backoff before attempt `attempt` (1-based) of a transaction that lost a conflict, with
/// jitter so that a rush does not retry in lockstep.
async fn backoff(attempt: u32) {
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
            % 20,
    );
    let base = 10u64 * u64::from(attempt.min(6));
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

impl Store {
    /// The products, the customer's profile address and the idempotency record a checkout
    /// needs: one consistent BatchGetItem (retrying only keys DynamoDB left unprocessed).
    pub async fn read_for_checkout(
        &self,
        customer: &UserId,
        products: &[ProductId],
        idempotency_key: Option<&str>,
        now: std::time::SystemTime,
    ) -> Result<CheckoutRead> {
        let mut keys: Vec<Item> =
            products.iter().flat_map(|id| [super::products::product_key(id), super::products::stock_key(id)]).collect();
        keys.push(super::profiles::profile_key(customer));
        keys.push(unpaid_key(customer));
        if let Some(key) = idempotency_key {
            keys.push(idempotency_item_key(customer, key));
        }
        let items = self.batch_get(keys, "reading the catalogue for an order").await?;
        let mut read = CheckoutRead::default();
        let (products, others): (Vec<Item>, Vec<Item>) = items
            .into_iter()
            .partition(|item| item.get("pk").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with("PRODUCT#")));
        read.products = super::products::joined_products(products)?.into_iter().map(|p| (p.id.clone(), p)).collect();
        for item in others {
            let pk = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if pk.starts_with("USER#") && item.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|sk| sk == "UNPAID") {
                let ids = item.get("orders").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default();
                read.unpaid = ids.iter().filter_map(|id| OrderId::parse(id)).collect();
            } else if pk.starts_with("USER#") {
                read.profile_address = super::profiles::address_from(&item)?;
            } else if pk.starts_with("IDEM#") {
                let record: IdempotencyRecord =
                    serde_dynamo::from_item(item).map_err(|e| Error::internal("reading an idempotency record", e))?;
                // TTL deletion lags: an expired record is no record.
                if record.expires_at > epoch_secs(now) {
                    read.idempotency = Some(record);
                }
            }
        }
        Ok(read)
    }

    pub(super) async fn batch_get(&self, keys: Vec<Item>, context: &'static str) -> Result<Vec<Item>> {
        self.batch_get_read(keys, super::Read::Latest, context).await
    }

    /// The items of `keys` that exist, in BatchGetItems of at most 100 keys sent side by
    /// side, retrying only keys DynamoDB left unprocessed.
    pub(super) async fn batch_get_read(
        &self,
        keys: Vec<Item>,
        read: super::Read,
        context: &'static str,
    ) -> Result<Vec<Item>> {
        const MOST_KEYS: usize = 100;
        let chunks: Vec<Vec<Item>> = keys.chunks(MOST_KEYS).map(<[Item]>::to_vec).collect();
        let pages =
            futures::future::try_join_all(chunks.into_iter().map(|chunk| self.batch_get_chunk(chunk, read, context)))
                .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, keys: Vec<Item>, read: super::Read, context: &'static str) -> Result<Vec<Item>> {
        let consistent = matches!(read, super::Read::Latest);
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(sdk(context))?,
        );
        let mut items = Vec::new();
        for attempt in 1..=5u32 {
            let Some(request) = pending.take() else { break };
            let out =
                self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(sdk(context))?;
            items.extend(out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys.is_empty());
            if pending.is_some() {
                backoff(attempt).await;
            }
        }
        if pending.is_some() {
            return Err(Error::internal(context, "DynamoDB left keys unprocessed after 5 attempts"));
        }
        Ok(items)
    }

    /// The idempotency record of `key`, read after a concurrent request took it.
    pub async fn idempotency_record(&self, customer: &UserId, key: &str) -> Result<Option<IdempotencyRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_item_key(customer, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk("reading an idempotency record"))?;
        out.item
            .map(|item| serde_dynamo::from_item(item).map_err(|e| Error::internal("reading an idempotency record", e)))
            .transpose()
    }

    /// Places `order` (status `pending_payment`, priced, with its PaymentIntent) in one
    /// transaction: the order, one index item per maker, every line's stock reserved on
    /// condition that the product is still active, at the price read and with enough
    /// stock, and the idempotency record. All or nothing. Lines short of stock are a 409
    /// naming each of them.
    pub async fn place_order(
        &self,
        order: &Order,
        payment_due: &Timestamp,
        idempotency: Option<Idempotency<'_>>,
        catalogue: &HashMap<ProductId, Product>,
        now: std::time::SystemTime,
    ) -> Result<Placement> {
        let mut items = vec![put(
            &self.table,
            to_item(&order_record(order, Some((payment_due, self.due_shards()))))?,
            Some("attribute_not_exists(pk)"),
            &[],
        )?];
        let makers = order.maker_ids();
        for maker in &makers {
            items.push(put(&self.table, to_item(&maker_record(order, maker))?, None, &[])?);
        }
        let first_line = items.len();
        for line in &order.items {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(super::products::stock_key(&line.product_id)))
                .update_expression("SET stock = stock - :q")
                .condition_expression(
                    "attribute_exists(pk) AND #status = :active AND stock >= :q AND price_cents = :price",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":q", n(line.quantity))
                .expression_attribute_values(":active", s("active"))
                .expression_attribute_values(":price", n(line.unit_price_cents))
                .build()
                .map_err(sdk("building a stock reservation"))?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        let unpaid_index = items.len();
        let unpaid = Update::builder()
            .table_name(&self.table)
            .set_key(Some(unpaid_key(&order.customer_id)))
            .update_expression("ADD orders :id")
            .condition_expression("attribute_not_exists(orders) OR size(orders) < :max")
            .expression_attribute_values(":id", AttributeValue::Ss(vec![order.id.as_str().to_owned()]))
            .expression_attribute_values(":max", n(MAX_UNPAID_ORDERS as u64))
            .build()
            .map_err(sdk("building an unpaid-orders update"))?;
        items.push(TransactWriteItem::builder().update(unpaid).build());
        let idempotency_index = idempotency.map(|_| items.len());
        if let Some(idem) = idempotency {
            let record = IdempotencyRecord {
                request_hash: idem.request_hash.to_owned(),
                order_id: order.id.clone(),
                expires_at: epoch_secs(now + IDEMPOTENCY_TTL),
            };
            let mut item = to_item(&record)?;
            item.extend(idempotency_item_key(&order.customer_id, idem.key));
            // An expired record that TTL has not deleted yet may be replaced.
            items.push(put(
                &self.table,
                item,
                Some("attribute_not_exists(pk) OR expires_at <= :now"),
                &[(":now", n(epoch_secs(now)))],
            )?);
        }

        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(Placement::Placed),
                Err(err) => err,
            };
            let codes = cancellation_codes(&err);
            if codes.is_empty() {
                return Err(sdk("placing an order")(err));
            }
            let failed = |i: usize| codes.get(i).and_then(Option::as_deref) == Some("ConditionalCheckFailed");
            if let Some(i) = idempotency_index
                && failed(i)
                && let Some(idem) = idempotency
            {
                return match self.idempotency_record(&order.customer_id, idem.key).await? {
                    Some(record) => Ok(Placement::KeyTaken(record)),
                    None => Err(Error::conflict("A request with this Idempotency-Key is in progress; retry shortly.")),
                };
            }
            if (first_line..first_line + order.items.len()).any(failed) {
                return Err(self.why_not_reserved(order, catalogue).await?);
            }
            if failed(unpaid_index) {
                return Err(Error::UnpaidOrdersLimit { open: MAX_UNPAID_ORDERS });
            }
            let conflicted = codes.iter().any(|c| c.as_deref() == Some("TransactionConflict"));
            if conflicted && attempt < PLACING_ATTEMPTS {
                backoff(attempt).await;
                continue;
            }
            if conflicted {
                return Err(still_conflicting("placing an order", attempt));
            }
            return Err(sdk("placing an order")(err));
        }
    }

    /// Records the PaymentIntent Stripe made for `order` (placed without one): its id and
    /// client secret, on condition that the order is still `pending_payment` with no intent.
    /// `Ok(None)` when that no longer holds (another request for the same order recorded
    /// it first, or the order left `pending_payment`): read it again.
    pub async fn record_intent(&self, order: &Order, intent_id: &str, client_secret: &str) -> Result<Option<Order>> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(&order.id)))
            .update_expression("SET payment.payment_intent_id = :pi, payment.client_secret = :secret")
            .condition_expression("#status = :pending AND payment.payment_intent_id = :none")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pi", s(intent_id))
            .expression_attribute_values(":secret", s(client_secret))
            .expression_attribute_values(":pending", s(OrderStatus::PendingPayment.as_str()))
            .expression_attribute_values(":none", s(""))
            .send()
            .await;
        match result {
            Ok(_) => {
                let mut recorded = order.clone();
                recorded.payment.payment_intent_id = intent_id.to_owned();
                recorded.payment.client_secret = Some(client_secret.to_owned());
                Ok(Some(recorded))
            }
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(sdk("recording an order's payment intent")(err)),
        }
    }

    /// Takes back an order whose payment could not be started (Stripe refused or could not
    /// be reached), as if it had never been placed: in one transaction, on condition that it
    /// is still `pending_payment` with no intent, its items are deleted, its units go back to
    /// their stock items, it leaves its customer's unpaid orders, and its idempotency record
    /// (if it still names this order) is deleted so that the same request may be sent again.
    /// No event: the stream's publisher ignores an order's INSERT and REMOVE. `Ok(false)`
    /// when the condition no longer holds (a retry of the request started the payment).
    pub async fn withdraw_unstarted(&self, order: &Order, idempotency_key: Option<&str>) -> Result<bool> {
        use aws_sdk_dynamodb::types::Delete;
        let delete = |key: Item, condition: Option<&str>, values: Vec<(&str, AttributeValue)>| {
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .set_condition_expression(condition.map(str::to_owned))
                .set_expression_attribute_names(
                    condition
                        .filter(|c| c.contains("#status"))
                        .map(|_| HashMap::from([("#status".to_owned(), "status".to_owned())])),
                )
                .set_expression_attribute_values(
                    (!values.is_empty()).then(|| values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
                )
                .build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(sdk("building an order's withdrawal"))
        };
        let mut items = vec![delete(
            order_key(&order.id),
            Some("#status = :pending AND payment.payment_intent_id = :none"),
            vec![(":pending", s(OrderStatus::PendingPayment.as_str())), (":none", s(""))],
        )?];
        for maker in order.maker_ids() {
            items.push(delete(maker_key(&order.id, &maker), None, Vec::new())?);
        }
        for line in &order.items {
            items.push(release(&self.table, &line.product_id, line.quantity)?);
        }
        items.push(unpaid_removal(&self.table, order)?);
        if let Some(key) = idempotency_key {
            items.push(delete(
                idempotency_item_key(&order.customer_id, key),
                Some("attribute_not_exists(pk) OR order_id = :id"),
                vec![(":id", s(order.id.as_str()))],
            )?);
        }
        let refused = |err: &super::TransactError| {
            cancellation_codes(err).first().and_then(Option::as_deref) == Some("ConditionalCheckFailed")
        };
        self.transact_retrying(items, "withdrawing an order whose payment did not start", refused).await
    }

    /// The 409 for a reservation that failed its conditions: every line short of stock,
    /// or a catalogue that changed under the order.
    async fn why_not_reserved(&self, order: &Order, read_before: &HashMap<ProductId, Product>) -> Result<Error> {
        let ids: Vec<ProductId> = order.items.iter().map(|l| l.product_id.clone()).collect();
        let now: HashMap<ProductId, Product> =
            self.get_products(&ids, super::Read::Latest).await?.into_iter().map(|p| (p.id.clone(), p)).collect();
        let short: Vec<_> = order
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, line)| {
                let p = now.get(&line.product_id).or_else(|| read_before.get(&line.product_id))?;
                (p.stock < line.quantity).then(|| short_of_stock(i, p, line.quantity))
            })
            .collect();
        Ok(if short.is_empty() {
            Error::conflict(
                "A product's price or availability changed while the order was placed; nothing was reserved. Review the products and try again.",
            )
        } else {
            not_enough_stock(short)
        })
    }

    /// Of `ids` (a customer's unpaid-orders item), those still in `pending_payment`; the
    /// others are taken off the item. Only a customer at the limit pays for this read: it
    /// heals an item that lists an order which left `pending_payment` without it (none
    /// should), rather than lock the customer out for good.
    pub async fn live_unpaid_orders(&self, customer: &UserId, ids: &[OrderId]) -> Result<Vec<OrderId>> {
        let keys = ids.iter().map(order_key).collect();
        let items = self.batch_get(keys, "reading a customer's unpaid orders").await?;
        let pending: Vec<OrderId> = items
            .into_iter()
            .map(order_from)
            .filter_map(|o| o.ok())
            .filter(|o| o.status == OrderStatus::PendingPayment && &o.customer_id == customer)
            .map(|o| o.id)
            .collect();
        let gone: Vec<String> =
            ids.iter().filter(|id| !pending.contains(id)).map(|id| id.as_str().to_owned()).collect();
        if !gone.is_empty() {
            tracing::warn!(
                customer = customer.as_str(),
                stale = gone.len(),
                "unpaid-orders item listed orders that are not unpaid"
            );
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(unpaid_key(customer)))
                .update_expression("DELETE orders :ids")
                .expression_attribute_values(":ids", AttributeValue::Ss(gone))
                .send()
                .await
                .map_err(sdk("healing a customer's unpaid orders"))?;
        }
        Ok(pending)
    }

    /// The order `id`, read consistently.
    pub async fn order(&self, id: &OrderId) -> Result<Option<Order>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk("reading an order"))?;
        out.item.map(order_from).transpose()
    }

    /// Makes `mv` on `order` as a compare-and-set on its status, in one transaction with
    /// everything the move implies: the makers' index items follow, reserved stock goes
    /// back when the move releases it, a refund is marked pending (and put on the due
    /// index for the sweeper), the payment deadline leaves the due index, an order entering
    /// a status the delivery simulator moves on from goes on the delivery due index (keyed by
    /// `now`), and the Stripe event that caused the move (if any) is recorded, so that a
    /// replay does nothing.
    pub async fn apply_move(
        &self,
        order: &Order,
        mv: Move,
        now: &Timestamp,
        event_id: Option<&str>,
    ) -> Result<MoveOutcome> {
        self.write(order, order.moved(mv, now), Some(mv), None, now, event_id).await
    }

    /// Records the declined payment attempt `decline` on `order` (a `pending_payment` one),
    /// with the Stripe event `event_id` that reported it, in one transaction: the attempt
    /// count, the error and a history note, as a compare-and-set on the status *and* the
    /// count, so two declines reported at once are counted one after the other. At the last
    /// attempt allowed, the move that ends the order is part of the same transaction, with
    /// all that [`Store::apply_move`] makes of it. `Stale` when the order changed since it
    /// was read.
    pub async fn record_decline(
        &self,
        order: &Order,
        decline: Decline,
        error: &PaymentError,
        now: &Timestamp,
        event_id: &str,
    ) -> Result<MoveOutcome> {
        let next = order.declined(decline, error, now);
        self.write(order, next, decline.ends_with, Some((decline, error)), now, Some(event_id)).await
    }

    /// The transaction behind [`Store::apply_move`] and [`Store::record_decline`]: `order`
    /// becomes `next`, by `mv` if it moves, with the declined attempt if there is one.
    async fn write(
        &self,
        order: &Order,
        next: Order,
        mv: Option<Move>,
        decline: Option<(Decline, &PaymentError)>,
        now: &Timestamp,
        event_id: Option<&str>,
    ) -> Result<MoveOutcome> {
        let added = next.history.get(order.history.len()..).unwrap_or_default();
        let mut set = vec!["updated_at = :now", "history = list_append(history, :entry)"];
        let mut condition = "#status = :from".to_owned();
        let mut names = HashMap::from([("#status".to_owned(), "status".to_owned())]);
        let mut values = HashMap::from([
            (":from".to_owned(), s(mv.map_or(order.status, |mv| mv.from).as_str())),
            (":now".to_owned(), s(now.as_str())),
            (":entry".to_owned(), to_value(&added)?),
        ]);
        if let Some((decline, error)) = decline {
            set.extend(["#payment.failed_attempts = :attempts", "#payment.last_error = :error"]);
            names.insert("#payment".to_owned(), "payment".to_owned());
            values.insert(":attempts".to_owned(), n(u64::from(decline.attempt)));
            values.insert(":error".to_owned(), to_value(error)?);
            // Orders stored before attempts were counted have no count: that is zero.
            let before = order.payment.failed_attempts;
            values.insert(":before".to_owned(), n(u64::from(before)));
            condition.push_str(if before == 0 {
                " AND (attribute_not_exists(#payment.failed_attempts) OR #payment.failed_attempts = :before)"
            } else {
                " AND #payment.failed_attempts = :before"
            });
        }
        // What the move changes of the status and the due index; no move leaves both alone.
        let mut due = "";
        if let Some(mv) = mv {
            set.push("#status = :to");
            values.insert(":to".to_owned(), s(mv.to.as_str()));
            if mv.effects.refund {
                set.extend(["#payment.refund_status = :pending", "gsi3pk = :due_pk", "gsi3sk = :due_sk"]);
                names.insert("#payment".to_owned(), "payment".to_owned());
                let at = now.plus(REFUND_RETRY_AFTER);
                values.insert(":pending".to_owned(), to_value(&RefundStatus::Pending)?);
                values.insert(":due_pk".to_owned(), s(self.due_pk(DueKind::Refund, &order.id)));
                values.insert(":due_sk".to_owned(), s(due_sort_key(&at, &order.id)));
            } else if next_delivery_step(mv.to).is_some() {
                set.extend(["gsi3pk = :due_pk", "gsi3sk = :due_sk"]);
                values.insert(":due_pk".to_owned(), s(self.due_pk(DueKind::Delivery, &order.id)));
                values.insert(":due_sk".to_owned(), s(due_sort_key(now, &order.id)));
            } else {
                due = " REMOVE gsi3pk, gsi3sk";
            }
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(order_key(&order.id)))
            .update_expression(format!("SET {}{due}", set.join(", ")))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(sdk("building an order move"))?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(mv) = mv {
            // The makers see the move, not the payment's notes.
            let entry = to_value(&vec![HistoryEntry { status: mv.to, at: now.clone(), note: None }])?;
            for maker in order.maker_ids() {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(maker_key(&order.id, &maker)))
                    .update_expression("SET #status = :to, updated_at = :now, history = list_append(history, :entry)")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":to", s(mv.to.as_str()))
                    .expression_attribute_values(":now", s(now.as_str()))
                    .expression_attribute_values(":entry", entry.clone())
                    .build()
                    .map_err(sdk("building an order move"))?;
                items.push(TransactWriteItem::builder().update(update).build());
            }
            if mv.effects.release_stock {
                for line in &order.items {
                    items.push(release(&self.table, &line.product_id, line.quantity)?);
                }
            }
            if mv.from == OrderStatus::PendingPayment {
                items.push(unpaid_removal(&self.table, order)?);
            }
        }
        let event_index = event_id.map(|_| items.len());
        if let Some(event) = event_id {
            items.push(self.event_record(event, &order.id, now)?);
        }
        self.transact_move(items, event_index, "moving an order").await.map(|outcome| match outcome {
            Some(other) => other,
            None => MoveOutcome::Moved(Box::new(next)),
        })
    }

    /// The record of a Stripe event, as a transaction item: written only if it is new.
    fn event_record(&self, event_id: &str, order: &OrderId, now: &Timestamp) -> Result<TransactWriteItem> {
        put(&self.table, event_item(event_id, order, now), Some("attribute_not_exists(pk)"), &[])
    }

    /// Runs a move's transaction, retrying conflicts. `None` when it was made; otherwise
    /// why not: the first item's condition (the status) or the event record's failed.
    async fn transact_move(
        &self,
        items: Vec<TransactWriteItem>,
        event_index: Option<usize>,
        context: &'static str,
    ) -> Result<Option<MoveOutcome>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(None),
                Err(err) => err,
            };
            let codes = cancellation_codes(&err);
            let failed = |i: usize| codes.get(i).and_then(Option::as_deref) == Some("ConditionalCheckFailed");
            if event_index.is_some_and(failed) {
                return Ok(Some(MoveOutcome::EventSeen));
            }
            if failed(0) {
                return Ok(Some(MoveOutcome::Stale));
            }
            let conflicted = codes.iter().any(|c| c.as_deref() == Some("TransactionConflict"));
            if conflicted && u64::from(attempt) <= TRANSACTION_RETRIES * 2 {
                backoff(attempt).await;
                continue;
            }
            if conflicted {
                return Err(still_conflicting(context, attempt));
            }
            return Err(sdk(context)(err));
        }
    }

    /// Marks a refund pending on an order that is not moving (a payment that succeeded
    /// after the order expired, was cancelled or failed): once only — `false` when a refund
    /// was already decided for it, or the order is no longer in `order.status`.
    pub async fn mark_refund_pending(
        &self,
        order: &Order,
        now: &Timestamp,
        event_id: Option<&str>,
    ) -> Result<MoveOutcome> {
        let at = now.plus(REFUND_RETRY_AFTER);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(order_key(&order.id)))
            .update_expression(
                "SET #payment.refund_status = :pending, updated_at = :now, gsi3pk = :due_pk, gsi3sk = :due_sk",
            )
            .condition_expression("#status = :status AND attribute_not_exists(#payment.refund_status)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#payment", "payment")
            .expression_attribute_values(":status", s(order.status.as_str()))
            .expression_attribute_values(":pending", to_value(&RefundStatus::Pending)?)
            .expression_attribute_values(":now", s(now.as_str()))
            .expression_attribute_values(":due_pk", s(self.due_pk(DueKind::Refund, &order.id)))
            .expression_attribute_values(":due_sk", s(due_sort_key(&at, &order.id)))
            .build()
            .map_err(sdk("building a refund mark"))?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        let event_index = event_id.map(|_| items.len());
        if let Some(event) = event_id {
            items.push(self.event_record(event, &order.id, now)?);
        }
        let mut next = order.clone();
        next.payment.refund_status = Some(RefundStatus::Pending);
        next.updated_at = now.clone();
        self.transact_move(items, event_index, "marking a refund")
            .await
            .map(|o| o.unwrap_or(MoveOutcome::Moved(Box::new(next))))
    }

    /// Records the refund Stripe made for `order` (succeeded), with a history note and how
    /// it went (`progress`: which attempt made it), and takes the order off the refund due
    /// index. `Ok(None)` when it was recorded already, or is no longer pending.
    /// `refund_id` is `None` when Stripe said the payment was refunded before without
    /// naming the refund.
    pub async fn record_refund(
        &self,
        order: &Order,
        refund_id: Option<&str>,
        progress: &RefundProgress,
        now: &Timestamp,
    ) -> Result<Option<Order>> {
        let text = match refund_id {
            Some(id) => format!("payment refunded ({id})"),
            None => "payment refunded".to_owned(),
        };
        let settled = Settled { status: RefundStatus::Succeeded, note: text, refund_id, progress };
        self.settle_refund(order, settled, false, now, "recording a refund").await
    }

    /// Records a refund that will not come through (Stripe failed or cancelled it, or it
    /// could not be made in the attempts allowed): `failed`, final, with a history note and
    /// `progress` saying why, off the due index. A refund recorded `succeeded` can still fail
    /// (Stripe fails some card refunds after first reporting them succeeded), but only that
    /// very refund (`refund_id`). `Ok(None)` when the order's refund is no longer in a state
    /// this applies to (failed already, or another refund succeeded).
    pub async fn fail_refund(
        &self,
        order: &Order,
        refund_id: Option<&str>,
        progress: &RefundProgress,
        now: &Timestamp,
    ) -> Result<Option<Order>> {
        let settled = Settled { status: RefundStatus::Failed, note: "refund failed".to_owned(), refund_id, progress };
        self.settle_refund(order, settled, true, now, "recording a failed refund").await
    }

    /// The write behind [`Store::record_refund`] and [`Store::fail_refund`]: the refund's
    /// final status, its id if known, its progress and a history note, off the due index; on
    /// condition that the refund is pending or, when `or_succeeded` (a refund failing after
    /// it was reported succeeded), that this very refund was recorded succeeded.
    async fn settle_refund(
        &self,
        order: &Order,
        settled: Settled<'_>,
        or_succeeded: bool,
        now: &Timestamp,
        context: &'static str,
    ) -> Result<Option<Order>> {
        let Settled { status, note, refund_id, progress } = settled;
        let note = HistoryEntry { status: order.status, at: now.clone(), note: Some(note) };
        let mut values = HashMap::from([
            (":to".to_owned(), to_value(&status)?),
            (":pending".to_owned(), to_value(&RefundStatus::Pending)?),
            (":now".to_owned(), s(now.as_str())),
            (":entry".to_owned(), to_value(&vec![note.clone()])?),
            (":progress".to_owned(), to_value(progress)?),
        ]);
        let mut condition = "#payment.refund_status = :pending".to_owned();
        if let Some(id) = refund_id {
            values.insert(":rid".to_owned(), s(id));
            if or_succeeded {
                values.insert(":succeeded".to_owned(), to_value(&RefundStatus::Succeeded)?);
                condition.push_str(" OR (#payment.refund_status = :succeeded AND #payment.refund_id = :rid)");
            }
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(&order.id)))
            .update_expression(format!(
                "SET #payment.refund_status = :to, #payment.#refund = :progress, {}updated_at = :now, \
                 history = list_append(history, :entry) REMOVE gsi3pk, gsi3sk",
                if refund_id.is_some() { "#payment.refund_id = :rid, " } else { "" }
            ))
            .condition_expression(condition)
            .expression_attribute_names("#payment", "payment")
            .expression_attribute_names("#refund", "refund")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => {
                let mut next = order.clone();
                next.payment.refund_status = Some(status);
                if refund_id.is_some() {
                    next.payment.refund_id = refund_id.map(str::to_owned);
                }
                next.payment.refund = Some(progress.clone());
                next.updated_at = now.clone();
                next.history.push(note);
                Ok(Some(next))
            }
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(sdk(context)(err)),
        }
    }

    /// Saves how a pending refund went (`progress`; the refund's id once Stripe made it) and
    /// when the payment expirer looks at it next (`progress.next_try_at`, on the due index).
    /// A compare-and-set on the progress `order` was read with, so two runs that tried the
    /// same refund at once count once. `false` when the refund is no longer pending or
    /// someone else saved progress first.
    pub async fn save_refund_progress(
        &self,
        order: &Order,
        refund_id: Option<&str>,
        progress: &RefundProgress,
    ) -> Result<bool> {
        let at = progress.next_try_at.clone().unwrap_or_else(|| order.updated_at.plus(REFUND_RETRY_AFTER));
        let mut values = HashMap::from([
            (":pending".to_owned(), to_value(&RefundStatus::Pending)?),
            (":progress".to_owned(), to_value(progress)?),
            (":due_pk".to_owned(), s(self.due_pk(DueKind::Refund, &order.id))),
            (":due_sk".to_owned(), s(due_sort_key(&at, &order.id))),
        ]);
        let mut condition = "#payment.refund_status = :pending AND ".to_owned();
        match &order.payment.refund {
            None => condition.push_str("attribute_not_exists(#payment.#refund)"),
            Some(before) => {
                condition.push_str("#payment.#refund.attempts = :attempts AND #payment.#refund.checks = :checks");
                values.insert(":attempts".to_owned(), n(u64::from(before.attempts)));
                values.insert(":checks".to_owned(), n(u64::from(before.checks)));
            }
        }
        if let Some(id) = refund_id {
            values.insert(":rid".to_owned(), s(id));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(&order.id)))
            .update_expression(format!(
                "SET #payment.#refund = :progress, {}gsi3pk = :due_pk, gsi3sk = :due_sk",
                if refund_id.is_some() { "#payment.refund_id = :rid, " } else { "" }
            ))
            .condition_expression(condition)
            .expression_attribute_names("#payment", "payment")
            .expression_attribute_names("#refund", "refund")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk("saving a refund's progress")(err)),
        }
    }

    /// Puts a pending refund back on the due index, `at` (the sweeper's next try), without
    /// touching its progress: for a refund whose outcome could not be recorded.
    pub async fn postpone_refund(&self, order: &Order, at: &Timestamp) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(&order.id)))
            .update_expression("SET gsi3pk = :due_pk, gsi3sk = :due_sk")
            .condition_expression("#payment.refund_status = :pending")
            .expression_attribute_names("#payment", "payment")
            .expression_attribute_values(":pending", to_value(&RefundStatus::Pending)?)
            .expression_attribute_values(":due_pk", s(self.due_pk(DueKind::Refund, &order.id)))
            .expression_attribute_values(":due_sk", s(due_sort_key(at, &order.id)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Recorded meanwhile: nothing to retry.
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(sdk("postponing a refund")(err)),
        }
    }

    /// Records a Stripe event that had no effect to make, so that it is not looked at again.
    /// `false` when it was recorded before.
    pub async fn record_event(&self, event_id: &str, order: &OrderId, now: &Timestamp) -> Result<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item(event_id, order, now)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk("recording a Stripe event")(err)),
        }
    }

    /// `customer`'s orders, newest first.
    pub async fn list_customer_orders(
        &self,
        customer: &UserId,
        limit: usize,
        start: Option<Key>,
    ) -> Result<Page<Order>> {
        let query = IndexQuery::new("gsi1", ["gsi1pk", "gsi1sk"], "gsi1pk = :pk")
            .value(":pk", s(format!("CUSTOMER#{}", customer.as_str())));
        let (items, next) = self.query_page(query, limit, start, "listing a customer's orders").await?;
        let items = items.into_iter().map(order_from).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    /// The orders with a line of `maker`'s, as that maker sees them, newest first,
    /// optionally only those in `status`.
    pub async fn list_maker_orders(
        &self,
        maker: &UserId,
        status: Option<OrderStatus>,
        limit: usize,
        start: Option<Key>,
    ) -> Result<Page<MakerOrder>> {
        let mut query = IndexQuery::new("gsi2", ["gsi2pk", "gsi2sk"], "gsi2pk = :pk")
            .value(":pk", s(format!("MAKERORDERS#{}", maker.as_str())));
        if let Some(status) = status {
            query.filter("#status = :status");
            query.values.insert(":status".into(), s(status.as_str()));
            query.names.insert("#status".into(), "status".into());
        }
        let (items, next) = self.query_page(query, limit, start, "listing a maker's orders").await?;
        let items = items
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item::<_, MakerRecord>(item)
                    .map(|r| r.view)
                    .map_err(|e| Error::internal("reading a maker's order", e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    /// The due index partition of order `id` for `kind`.
    fn due_pk(&self, kind: DueKind, id: &OrderId) -> String {
        kind.partition(due_shard(id, self.due_shards()))
    }

    /// Orders due for `kind` at `now`, oldest due first, at most `limit`: a Query of each
    /// shard of the sparse due-time index ([`DUE_READS_IN_FLIGHT`] at once), never a Scan, merged by due time. The
    /// index is eventually consistent, so callers move what they get with compare-and-set
    /// moves.
    pub async fn due_orders(&self, kind: DueKind, now: &Timestamp, limit: usize) -> Result<Vec<Order>> {
        self.due_orders_in(kind, now, limit, 0..self.due_shards()).await
    }

    /// [`Store::due_orders`] of the due index's `shards` only (one invocation's share).
    pub async fn due_orders_in(
        &self,
        kind: DueKind,
        now: &Timestamp,
        limit: usize,
        shards: std::ops::Range<u16>,
    ) -> Result<Vec<Order>> {
        let shards = shards.map(|shard| self.due_page(kind, shard, now, limit, None));
        let pages: Vec<_> = futures::stream::iter(shards).buffer_unordered(DUE_READS_IN_FLIGHT).collect().await;
        let mut due = Vec::new();
        for page in pages {
            due.extend(page?.0);
        }
        due.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(due.into_iter().take(limit).map(|(_, order)| order).collect())
    }

    /// One page of the due orders of `kind` in `shard` whose sort key time is at most
    /// `up_to`, each with its index sort key (`<due at>#<order id>`: text order is due
    /// order), from where `start` left off, with where the next page starts (`None`: nothing
    /// more now).
    pub async fn due_page(
        &self,
        kind: DueKind,
        shard: u16,
        up_to: &Timestamp,
        limit: usize,
        start: Option<DueCursor>,
    ) -> Result<(Vec<(String, Order)>, Option<DueCursor>)> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi3")
            .key_condition_expression("gsi3pk = :pk AND gsi3sk <= :now")
            .expression_attribute_values(":pk", s(kind.partition(shard)))
            // `~` sorts after every id character: everything due up to and at `up_to`.
            .expression_attribute_values(":now", s(format!("{}#~", up_to.as_str())))
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start.map(|c| c.0))
            .send()
            .await
            .map_err(sdk("finding due orders"))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let sort_key = item.get("gsi3sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                order_from(item).map(|order| (sort_key, order))
            })
            .collect::<Result<_>>()?;
        Ok((items, out.last_evaluated_key.map(DueCursor)))
    }
}

/// Where the next page of due orders starts: the index key DynamoDB last read (opaque; it
/// never leaves the process).
#[derive(Debug, Clone)]
pub struct DueCursor(Item);

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        crate::domain::order::sample_order(OrderStatus::PendingPayment, &[("m-1", "Mug", 2400, 2)])
    }

    #[test]
    fn shard_groups_cover_every_shard_once_and_refuse_a_bad_group() {
        for shards in [1u16, 3, 4, 16, 17, 256] {
            for groups in [1u16, 2, 4, 5, 16] {
                let mut covered = Vec::new();
                for g in 0..groups {
                    let event = serde_json::json!({"shard_group": g, "shard_groups": groups});
                    let group = ShardGroup::of_event(&event).unwrap_or_default();
                    assert_ne!(group, ShardGroup::default());
                    covered.extend(group.shards(shards));
                }
                assert_eq!(covered, (0..shards).collect::<Vec<_>>(), "{shards} shards in {groups} groups");
            }
        }
        let plain = serde_json::json!({"detail-type": "Scheduled Event", "detail": {}});
        assert_eq!(ShardGroup::of_event(&plain).map(|g| g.shards(16)).ok(), Some(0..16));
        for bad in [
            serde_json::json!({"shard_group": 4, "shard_groups": 4}),
            serde_json::json!({"shard_group": 1}),
            serde_json::json!({"shard_groups": 0}),
        ] {
            assert!(ShardGroup::of_event(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_order_item_round_trips_through_serde_dynamo_with_its_keys() {
        let order = order();
        let due = Timestamp::from_stored("2026-12-02T10:30:00.000Z".into());
        let item = to_item(&order_record(&order, Some((&due, 16)))).unwrap_or_default();
        let shard = due_shard(&order.id, 16);
        let pk = item.get("gsi3pk").and_then(|v| v.as_s().ok()).cloned();
        assert_eq!(pk, Some(format!("DUE#PAYMENT#{shard}")));
        assert_eq!(item.get("total_cents").and_then(|v| v.as_n().ok()).map(String::as_str), Some("4800"));
        assert_eq!(order_from(item).ok(), Some(order));
    }

    #[test]
    fn a_maker_item_holds_only_that_makers_view() {
        let order = order();
        let item = to_item(&maker_record(&order, &UserId::new("m-1"))).unwrap_or_default();
        assert!(!item.contains_key("payment") && !item.contains_key("customer_id"));
        let back: Option<MakerRecord> = serde_dynamo::from_item(item).ok();
        assert_eq!(back.map(|r| r.view), Some(order.for_maker(&UserId::new("m-1"))));
    }
}
