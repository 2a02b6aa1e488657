//! Order events on EventBridge, published from the table's stream on the project's bus
//! (source `makers-market.orders`): one `OrderStatusChanged` for every order transition, and
//! one `OrderPaymentFailed` for every declined payment attempt that leaves the order waiting
//! for payment (a decline changes no status, so without it the notifier would never hear of
//! it; the attempt that ends the order is a transition to `payment_failed` instead), and one
//! `OrderRefundFailed` when an order's refund became `failed` (final, so once per order).
//!
//! Why the stream and not a publish after the write: a function that dies between its
//! DynamoDB transaction and its `PutEvents` would lose the event, and an outbox item written
//! in the same transaction would still need a reader to drain it. The stream *is* that
//! outbox, kept by DynamoDB for 24 hours and read by Lambda's event source mapping, which
//! retries a batch until the publisher reports it done. So: the write is the only thing a
//! transition does; the publisher (function `order-events`) turns each stream batch into
//! events.
//!
//! Delivery is at least once. A batch (or its tail) can be handed over again: after a
//! partial failure, a timeout or a crash. Before publishing, the publisher looks up a marker
//! per event ([`crate::store::EventKey`]: `sk=EVENT#<status>`, `sk=EVENT#ATTEMPT#<n>`) and
//! skips what was published; it writes the marker only after EventBridge took the event. A
//! publisher that dies between the two publishes that event again: consumers must cope with
//! duplicates (the state machine never enters a status twice, and counts each declined
//! attempt once, so `(order_id, status)` and `(order_id, attempt)` identify an event).

use crate::domain::{
    Order, OrderPaymentFailed, OrderRefundFailed, OrderStatus, OrderStatusChanged, RefundStatus, Timestamp,
};
use crate::store::{EventKey, MARKER_SORT_KEY_PREFIX, Store};
use crate::{Error, Result};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// `PutEvents` takes at most this many entries per call.
pub const PUT_EVENTS_MAX: usize = 10;

/// An event the publisher puts on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    StatusChanged(OrderStatusChanged),
    PaymentFailed(OrderPaymentFailed),
    RefundFailed(OrderRefundFailed),
}

impl OrderEvent {
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::StatusChanged(_) => OrderStatusChanged::DETAIL_TYPE,
            Self::PaymentFailed(_) => OrderPaymentFailed::DETAIL_TYPE,
            Self::RefundFailed(_) => OrderRefundFailed::DETAIL_TYPE,
        }
    }

    pub fn order_id(&self) -> &crate::domain::OrderId {
        match self {
            Self::StatusChanged(e) => &e.order_id,
            Self::PaymentFailed(e) => &e.order_id,
            Self::RefundFailed(e) => &e.order_id,
        }
    }

    /// What identifies it among the order's events (its publish marker).
    pub fn key(&self) -> EventKey {
        match self {
            Self::StatusChanged(e) => EventKey::Status(e.status),
            Self::PaymentFailed(e) => EventKey::Attempt(e.attempt),
            Self::RefundFailed(_) => EventKey::RefundFailed,
        }
    }

    /// When it happened: the event's time on the bus.
    pub fn at(&self) -> &Timestamp {
        match self {
            Self::StatusChanged(e) => &e.at,
            Self::PaymentFailed(e) => &e.at,
            Self::RefundFailed(e) => &e.at,
        }
    }

    /// The `detail`, as JSON text.
    pub fn detail(&self) -> Result<String> {
        match self {
            Self::StatusChanged(e) => serde_json::to_string(e),
            Self::PaymentFailed(e) => serde_json::to_string(e),
            Self::RefundFailed(e) => serde_json::to_string(e),
        }
        .map_err(|e| Error::internal("writing an event's detail", e))
    }

    /// For logs and metrics: the status entered, or `attempt-<n>`.
    fn what(&self) -> String {
        match self {
            Self::StatusChanged(e) => e.status.as_str().to_owned(),
            Self::PaymentFailed(e) => format!("attempt-{}", e.attempt),
            Self::RefundFailed(_) => "refund-failed".to_owned(),
        }
    }
}

/// What one stream record is to the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An order moved from one status to another: this event is to be published.
    Transition(OrderStatusChanged),
    /// A payment attempt was declined and the order still waits for payment: this event is
    /// to be published.
    Declined(OrderPaymentFailed),
    /// The order's refund became `failed`: this event is to be published.
    RefundFailed(OrderRefundFailed),
    /// Nothing to publish: why not.
    Ignored(&'static str),
    /// A record the publisher cannot read (reported as failed, so that the event source
    /// mapping retries it and, in the end, hands it to its on-failure destination).
    Unreadable(String),
}

/// Just the status of a stored order, its declined attempts and its refund's status.
#[derive(Deserialize)]
struct StatusOnly {
    status: OrderStatus,
    #[serde(default)]
    payment: AttemptsOnly,
}

#[derive(Default, Deserialize)]
struct AttemptsOnly {
    #[serde(default)]
    failed_attempts: u32,
    #[serde(default)]
    refund_status: Option<RefundStatus>,
}

/// `name`'s string value in the record's keys, or else in one of its images.
fn key<'a>(record: &'a EventRecord, name: &str) -> Option<&'a str> {
    [&record.change.keys, &record.change.new_image, &record.change.old_image].into_iter().find_map(|item| {
        match item.get(name) {
            Some(serde_dynamo::AttributeValue::S(value)) => Some(value.as_str()),
            _ => None,
        }
    })
}

/// What `record` is to the publisher. Only a modified order item (`sk = ORDER`) whose
/// `status` changed is a transition. Placing an order (its INSERT) is not one: the order
/// enters its first status from none, and the API's event has a `previous_status`. A
/// modified order item that keeps its status with one more declined attempt is a decline,
/// and one whose refund became `failed` is a failed refund. Other changes that keep the
/// status (a refund recorded or retried), the makers' index items, stock,
/// idempotency and Stripe event records, this publisher's own markers and TTL deletions are
/// ignored.
pub fn change_of(record: &EventRecord) -> Change {
    let (Some(pk), Some(sk)) = (key(record, "pk"), key(record, "sk")) else {
        return Change::Unreadable("the record has no pk and sk".into());
    };
    let Some(order_id) = pk.strip_prefix("ORDER#") else { return Change::Ignored("not an order") };
    if sk.starts_with(MARKER_SORT_KEY_PREFIX) {
        return Change::Ignored("a published-event marker");
    }
    if sk != "ORDER" {
        return Change::Ignored("an order's index item, not the order");
    }
    match record.event_name.as_str() {
        "MODIFY" => {}
        "INSERT" => return Change::Ignored("a placed order: its first status is no transition"),
        "REMOVE" => return Change::Ignored("a removed order"),
        other => return Change::Unreadable(format!("unknown eventName {other:?}")),
    }
    let (old, new) = (&record.change.old_image, &record.change.new_image);
    if old.is_empty() || new.is_empty() {
        return Change::Unreadable("the record lacks an image: the stream must carry NEW_AND_OLD_IMAGES".into());
    }
    let status = |image: &serde_dynamo::Item, which: &str| {
        serde_dynamo::from_item::<_, StatusOnly>(image.clone())
            .map_err(|e| format!("the {which} image has no valid status: {e}"))
    };
    let (previous, current) = match (status(old, "old"), status(new, "new")) {
        (Ok(previous), Ok(current)) => (previous, current),
        (Err(why), _) | (_, Err(why)) => return Change::Unreadable(why),
    };
    let moved = previous.status != current.status;
    let declined = current.payment.failed_attempts > previous.payment.failed_attempts
        && current.status == OrderStatus::PendingPayment;
    let refund_failed = current.payment.refund_status == Some(RefundStatus::Failed)
        && previous.payment.refund_status != Some(RefundStatus::Failed);
    if !moved && !declined && !refund_failed {
        return Change::Ignored("the status did not change");
    }
    let order: Order = match serde_dynamo::from_item(new.clone()) {
        Ok(order) => order,
        Err(e) => return Change::Unreadable(format!("the new image is not an order: {e}")),
    };
    if order.id.as_str() != order_id {
        return Change::Unreadable(format!("the new image is order {}, its key {order_id}", order.id.as_str()));
    }
    if moved {
        return Change::Transition(OrderStatusChanged::of(&order, previous.status));
    }
    if refund_failed {
        return match OrderRefundFailed::of(&order) {
            Some(event) => Change::RefundFailed(event),
            None => Change::Unreadable("a failed refund the order does not show".into()),
        };
    }
    match OrderPaymentFailed::of(&order) {
        Some(event) => Change::Declined(event),
        None => Change::Unreadable("a declined attempt without its error".into()),
    }
}

/// One publisher run over a stream batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// Events put on the bus now.
    pub published: usize,
    /// Events a run before this one published.
    pub already_published: usize,
    /// Records with nothing to publish.
    pub ignored: usize,
    /// Sequence numbers of the records to hand over again (empty for a record that had
    /// none, which makes the whole batch be retried).
    pub failed: Vec<String>,
}

impl BatchReport {
    /// The answer to the event source mapping (`ReportBatchItemFailures`): it retries from
    /// the lowest failed sequence number.
    pub fn response(&self) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = self
            .failed
            .iter()
            .map(|sequence_number| {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(sequence_number.clone());
                failure
            })
            .collect();
        response
    }
}

/// Publishes the event of every transition and decline in `batch` that was not published
/// before, and marks each one published. Never fails as a whole: what could not be done is
/// in [`BatchReport::failed`].
pub async fn publish(store: &Store, bus: &dyn Bus, now: &Timestamp, batch: &Event) -> BatchReport {
    let mut report = BatchReport::default();
    let mut events: Vec<(String, OrderEvent)> = Vec::new();
    for record in &batch.records {
        let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
        match change_of(record) {
            Change::Transition(event) => events.push((sequence_number, OrderEvent::StatusChanged(event))),
            Change::Declined(event) => events.push((sequence_number, OrderEvent::PaymentFailed(event))),
            Change::RefundFailed(event) => events.push((sequence_number, OrderEvent::RefundFailed(event))),
            Change::Ignored(_) => report.ignored += 1,
            Change::Unreadable(reason) => {
                tracing::error!(sequence_number, event_id = record.event_id, reason, "unreadable stream record");
                report.failed.push(sequence_number);
            }
        }
    }
    if events.is_empty() {
        return report;
    }
    let keys: Vec<_> = events.iter().map(|(_, e)| (e.order_id().clone(), e.key())).collect();
    let published_before = match store.published_events(&keys).await {
        Ok(published) => published,
        Err(err) => {
            tracing::error!(error = %err, "cannot tell which events were published; the batch will be retried");
            report.failed.extend(events.into_iter().map(|(sequence_number, _)| sequence_number));
            return report;
        }
    };
    let (done, fresh): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|(_, e)| published_before.contains(&(e.order_id().clone(), e.key())));
    report.already_published = done.len();
    for (_, event) in &done {
        tracing::info!(order_id = event.order_id().as_str(), event = event.what(), "already published");
    }
    for chunk in fresh.chunks(PUT_EVENTS_MAX) {
        let events: Vec<OrderEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
        let results = match bus.put(&events).await {
            Ok(results) => results,
            Err(err) => {
                tracing::error!(error = %err, events = events.len(), "PutEvents failed; these records will be retried");
                report.failed.extend(chunk.iter().map(|(sequence_number, _)| sequence_number.clone()));
                continue;
            }
        };
        let mut marks = Vec::with_capacity(chunk.len());
        for (i, (sequence_number, event)) in chunk.iter().enumerate() {
            match results.get(i) {
                Some(Ok(event_id)) => {
                    match event {
                        OrderEvent::StatusChanged(e) => {
                            crate::metrics::count("OrderStatusChanged", ("Status", e.status.as_str()), 1);
                            tracing::info!(
                                order_id = e.order_id.as_str(),
                                status = e.status.as_str(),
                                previous_status = e.previous_status.as_str(),
                                event_id,
                                "published"
                            );
                        }
                        OrderEvent::RefundFailed(e) => {
                            tracing::info!(order_id = e.order_id.as_str(), event_id, "published a failed refund");
                        }
                        OrderEvent::PaymentFailed(e) => {
                            crate::metrics::count("OrderPaymentFailed", ("Attempt", &e.attempt.to_string()), 1);
                            tracing::info!(
                                order_id = e.order_id.as_str(),
                                attempt = e.attempt,
                                code = e.last_error.code,
                                event_id,
                                "published a declined attempt"
                            );
                        }
                    }
                    marks.push((event.order_id().clone(), event.key(), event_id.clone()));
                }
                failure => {
                    let reason = match failure {
                        Some(Err(reason)) => reason.as_str(),
                        _ => "EventBridge gave no result for it",
                    };
                    tracing::error!(
                        order_id = event.order_id().as_str(),
                        event = event.what(),
                        reason,
                        "event refused"
                    );
                    report.failed.push(sequence_number.clone());
                }
            }
        }
        report.published += marks.len();
        if let Err(err) = store.mark_published(&marks, now).await {
            // The events are out: a retry of this batch would publish them again, which
            // consumers absorb. Failing the records here would only make that certain.
            tracing::warn!(error = %err, events = marks.len(), "published, but the markers were not written");
        }
    }
    report
}

/// A future of [`Bus::put`].
pub type BusFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<std::result::Result<String, String>>>> + Send + 'a>>;

/// Where order events go: EventBridge, or what a test puts in its place.
pub trait Bus: Send + Sync + fmt::Debug {
    /// Puts at most [`PUT_EVENTS_MAX`] events on the bus. Per event, in order: the bus's
    /// event id, or why the bus refused it. An error when the call as a whole failed.
    fn put<'a>(&'a self, events: &'a [OrderEvent]) -> BusFuture<'a>;
}

/// The project's EventBridge bus (`EVENT_BUS_NAME`).
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

/// EventBridge calls give up well within the publisher's timeout, so that a bus that does
/// not answer fails the batch (to be retried) rather than the invocation.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

impl EventBridgeBus {
    /// A client of `bus_name`, built from the function's AWS configuration.
    pub fn new(aws: &aws_config::SdkConfig, bus_name: impl Into<String>) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let config = aws_sdk_eventbridge::config::Builder::from(aws).timeout_config(timeouts).build();
        Self { client: aws_sdk_eventbridge::Client::from_conf(config), bus_name: bus_name.into() }
    }

    async fn put_events(&self, events: &[OrderEvent]) -> Result<Vec<std::result::Result<String, String>>> {
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        let mut request = self.client.put_events();
        for event in events {
            let time = event.at().to_system_time().map(aws_smithy_types::DateTime::from);
            request = request.entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(OrderStatusChanged::SOURCE)
                    .detail_type(event.detail_type())
                    .detail(event.detail()?)
                    .set_time(time)
                    .build(),
            );
        }
        let out = request.send().await.map_err(crate::store::sdk("publishing order events"))?;
        Ok(out
            .entries()
            .iter()
            .map(|entry| match (entry.event_id(), entry.error_code()) {
                (Some(id), None) => Ok(id.to_owned()),
                (_, code) => {
                    Err(format!("{}: {}", code.unwrap_or("no event id"), entry.error_message().unwrap_or_default()))
                }
            })
            .collect())
    }
}

impl Bus for EventBridgeBus {
    fn put<'a>(&'a self, events: &'a [OrderEvent]) -> BusFuture<'a> {
        Box::pin(self.put_events(events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::UserId;
    use crate::domain::order::legal_move;

    fn order(status: OrderStatus) -> Order {
        let mug = |maker| (maker, "Mug", 2400, 1);
        crate::domain::order::sample_order(status, &[mug("m-2"), mug("m-1"), mug("m-2")])
    }

    /// The order item as the store writes it: the order plus its keys.
    fn item(order: &Order, sk: &str) -> serde_dynamo::Item {
        let mut item: serde_dynamo::Item = serde_dynamo::to_item(order).unwrap_or_else(|e| panic!("{e}"));
        item.insert("pk".into(), serde_dynamo::AttributeValue::S(format!("ORDER#{}", order.id.as_str())));
        item.insert("sk".into(), serde_dynamo::AttributeValue::S(sk.into()));
        item
    }

    fn record(name: &str, old: Option<serde_dynamo::Item>, new: Option<serde_dynamo::Item>) -> EventRecord {
        let mut record = EventRecord::default();
        record.event_name = name.into();
        record.event_id = "1".into();
        let image = old.as_ref().or(new.as_ref()).cloned().unwrap_or_default();
        let mut keys =
            serde_dynamo::Item::from(std::collections::HashMap::<String, serde_dynamo::AttributeValue>::new());
        for k in ["pk", "sk"] {
            if let Some(v) = image.get(k) {
                keys.insert(k.into(), v.clone());
            }
        }
        record.change.keys = keys;
        record.change.old_image = old.unwrap_or_default();
        record.change.new_image = new.unwrap_or_default();
        record.change.sequence_number = Some("100".into());
        record
    }

    fn moved(order: &Order, to: OrderStatus, actor: Actor) -> Order {
        let mv = legal_move(order.status, to, actor).unwrap_or_else(|| panic!("{:?} → {to:?}", order.status));
        order.moved(mv, &Timestamp::from_stored("2026-12-02T10:05:00.000Z".into()))
    }

    #[test]
    fn a_status_change_of_the_order_item_is_a_transition_with_the_apis_detail() {
        let placed = order(OrderStatus::PendingPayment);
        let paid = moved(&placed, OrderStatus::Paid, Actor::Stripe);
        let change = change_of(&record("MODIFY", Some(item(&placed, "ORDER")), Some(item(&paid, "ORDER"))));
        let Change::Transition(event) = change else { panic!("{change:?}") };
        assert_eq!(event, OrderStatusChanged::of(&paid, OrderStatus::PendingPayment));
        assert_eq!(event.status, OrderStatus::Paid);
        assert_eq!(event.previous_status, OrderStatus::PendingPayment);
        assert_eq!(event.maker_ids, vec![UserId::new("m-1"), UserId::new("m-2")]);
        assert_eq!(event.total_cents, 7200);
        assert_eq!(event.at.as_str(), "2026-12-02T10:05:00.000Z");
        let detail = serde_json::to_value(&event).unwrap_or_default();
        let mut fields: Vec<&str> =
            detail.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        fields.sort_unstable();
        assert_eq!(fields, ["at", "customer_id", "maker_ids", "order_id", "previous_status", "status", "total_cents"]);
    }

    #[test]
    fn placing_index_items_markers_and_unchanged_statuses_are_not_transitions() {
        let placed = order(OrderStatus::PendingPayment);
        let paid = moved(&placed, OrderStatus::Paid, Actor::Stripe);
        let ignored = |r: EventRecord| matches!(change_of(&r), Change::Ignored(_));
        assert!(ignored(record("INSERT", None, Some(item(&placed, "ORDER")))), "placing");
        assert!(ignored(record("MODIFY", Some(item(&placed, "MAKER#m-1")), Some(item(&paid, "MAKER#m-1")))), "index");
        assert!(ignored(record("INSERT", None, Some(item(&paid, "EVENT#paid")))), "marker");
        assert!(ignored(record("REMOVE", Some(item(&paid, "EVENT#paid")), None)), "marker expired");
        let mut refunded = paid.clone();
        refunded.payment.refund_id = Some("re_1".into());
        assert!(ignored(record("MODIFY", Some(item(&paid, "ORDER")), Some(item(&refunded, "ORDER")))), "same status");
        let mut product = item(&paid, "PRODUCT");
        product.insert("pk".into(), serde_dynamo::AttributeValue::S("PRODUCT#prd_1".into()));
        assert!(ignored(record("MODIFY", Some(product.clone()), Some(product))), "stock");
    }

    #[test]
    fn a_declined_attempt_that_keeps_the_order_waiting_is_published_and_the_last_one_is_a_transition() {
        use crate::domain::PaymentError;
        use crate::domain::order::{MAX_FAILED_ATTEMPTS, decline};
        let at = Timestamp::from_stored("2026-12-02T10:05:00.000Z".into());
        let error = PaymentError { code: "insufficient_funds".into(), message: "No funds.".into() };
        let mut before = order(OrderStatus::PendingPayment);
        for attempt in 1..=MAX_FAILED_ATTEMPTS {
            let d = decline(before.status, before.payment.failed_attempts).unwrap_or_else(|| panic!("{attempt}"));
            let after = before.declined(d, &error, &at);
            let change = change_of(&record("MODIFY", Some(item(&before, "ORDER")), Some(item(&after, "ORDER"))));
            if attempt < MAX_FAILED_ATTEMPTS {
                let Change::Declined(event) = change else { panic!("attempt {attempt}: {change:?}") };
                assert_eq!((event.attempt, event.attempts_left), (attempt, MAX_FAILED_ATTEMPTS - attempt));
                assert_eq!((&event.last_error, &event.at), (&error, &at));
                let published = OrderEvent::PaymentFailed(event);
                assert_eq!(
                    (published.detail_type(), published.key()),
                    ("OrderPaymentFailed", EventKey::Attempt(attempt))
                );
                let detail: serde_json::Value =
                    serde_json::from_str(&published.detail().unwrap_or_default()).unwrap_or_default();
                assert_eq!(
                    detail["last_error"],
                    serde_json::json!({"code": "insufficient_funds", "message": "No funds."})
                );
                assert_eq!(detail["attempt"], attempt);
            } else {
                let Change::Transition(event) = change else { panic!("the last attempt: {change:?}") };
                assert_eq!(
                    (event.previous_status, event.status),
                    (OrderStatus::PendingPayment, OrderStatus::PaymentFailed)
                );
            }
            // The same image twice (a write that changed something else) is no decline.
            let same = change_of(&record("MODIFY", Some(item(&after, "ORDER")), Some(item(&after, "ORDER"))));
            assert!(matches!(same, Change::Ignored(_)), "{same:?}");
            before = after;
        }
    }

    #[test]
    fn a_refund_that_becomes_failed_is_published_once_and_other_refund_writes_are_not() {
        use crate::domain::{HistoryEntry, RefundProgress, RefundStatus};
        let paid = moved(&order(OrderStatus::PendingPayment), OrderStatus::Paid, Actor::Stripe);
        let cancelled = moved(&paid, OrderStatus::Cancelled, Actor::Customer);
        assert_eq!(cancelled.payment.refund_status, Some(RefundStatus::Pending));
        let at = Timestamp::from_stored("2026-12-02T12:00:00.000Z".into());
        let mut retried = cancelled.clone();
        retried.payment.refund = Some(RefundProgress { attempts: 1, key_attempt: 2, ..RefundProgress::default() });
        let mut failed = retried.clone();
        failed.payment.refund_status = Some(RefundStatus::Failed);
        failed.history.push(HistoryEntry { status: failed.status, at: at.clone(), note: Some("refund failed".into()) });
        let change =
            |old: &Order, new: &Order| change_of(&record("MODIFY", Some(item(old, "ORDER")), Some(item(new, "ORDER"))));
        assert!(matches!(change(&cancelled, &retried), Change::Ignored(_)), "a retry");
        let Change::RefundFailed(event) = change(&retried, &failed) else { panic!("{:?}", change(&retried, &failed)) };
        assert_eq!(
            (event.order_id.clone(), event.status, event.total_cents),
            (failed.id.clone(), OrderStatus::Cancelled, 7200)
        );
        assert_eq!(event.at, at);
        let published = OrderEvent::RefundFailed(event);
        assert_eq!((published.detail_type(), published.key()), ("OrderRefundFailed", EventKey::RefundFailed));
        let detail: serde_json::Value =
            serde_json::from_str(&published.detail().unwrap_or_default()).unwrap_or_default();
        assert!(detail.get("refund").is_none() && !detail.to_string().contains("attempts"), "no internals: {detail}");
        // Written again while failed (nothing moves it on): not a second event.
        assert!(matches!(change(&failed, &failed), Change::Ignored(_)));
        // Succeeded, then failed at Stripe: published too.
        let mut succeeded = retried.clone();
        succeeded.payment.refund_status = Some(RefundStatus::Succeeded);
        assert!(matches!(change(&retried, &succeeded), Change::Ignored(_)), "a refund recorded");
        assert!(matches!(change(&succeeded, &failed), Change::RefundFailed(_)));
    }

    #[test]
    fn a_garbled_order_record_is_unreadable_not_skipped() {
        let placed = order(OrderStatus::PendingPayment);
        let paid = moved(&placed, OrderStatus::Paid, Actor::Stripe);
        let unreadable = |r: EventRecord| matches!(change_of(&r), Change::Unreadable(_));
        let mut bad_status = item(&paid, "ORDER");
        bad_status.insert("status".into(), serde_dynamo::AttributeValue::S("teleported".into()));
        assert!(unreadable(record("MODIFY", Some(item(&placed, "ORDER")), Some(bad_status))));
        let mut no_total = item(&paid, "ORDER");
        no_total.remove("total_cents");
        assert!(unreadable(record("MODIFY", Some(item(&placed, "ORDER")), Some(no_total))));
        assert!(unreadable(record("MODIFY", None, Some(item(&paid, "ORDER")))), "keys only / new image only");
        let mut other = record("MODIFY", Some(item(&placed, "ORDER")), Some(item(&paid, "ORDER")));
        other.change.keys.insert("pk".into(), serde_dynamo::AttributeValue::S("ORDER#ord_other".into()));
        assert!(unreadable(other), "image of another order than its key");
        let mut keyless = record("MODIFY", None, None);
        keyless.change.keys = serde_dynamo::Item::default();
        assert!(unreadable(keyless));
    }

    #[test]
    fn the_response_names_each_failed_record_by_sequence_number() {
        let report = BatchReport { failed: vec!["7".into(), "9".into()], ..BatchReport::default() };
        let json = serde_json::to_value(report.response()).unwrap_or_default();
        assert_eq!(json, serde_json::json!({"batchItemFailures": [{"itemIdentifier": "7"}, {"itemIdentifier": "9"}]}));
        let none = serde_json::to_value(BatchReport::default().response()).unwrap_or_default();
        assert_eq!(none, serde_json::json!({"batchItemFailures": []}));
    }
}
