//! Markers of published order events: one item per event the publisher has put on the bus
//! — per (order, status) for `OrderStatusChanged` (`pk=ORDER#<id>`, `sk=EVENT#<status>`),
//! per (order, declined attempt) for `OrderPaymentFailed` (`sk=EVENT#ATTEMPT#<n>`), per order
//! for `OrderRefundFailed` (`sk=EVENT#REFUND_FAILED`), TTL
//! `expires_at` — so that a stream batch handed over twice publishes each event once. A marker is written only after
//! EventBridge took the event: a publisher that dies in between publishes it again (a
//! duplicate, which consumers absorb), never not at all.

use super::item::{Item, n, s};
use super::{Store, sdk};
use crate::domain::{OrderId, OrderStatus, Timestamp};
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How long a marker is kept: a stream record lives 24 hours, so no retry of its batch
/// comes later than that; two more days are a margin.
pub const MARKER_TTL: Duration = Duration::from_secs(3 * 24 * 60 * 60);

/// The sort key prefix of markers; the publisher ignores these items on the stream.
pub const MARKER_SORT_KEY_PREFIX: &str = "EVENT#";
/// After [`MARKER_SORT_KEY_PREFIX`], the marker of a declined attempt (upper case: no
/// status is spelled so).
const ATTEMPT: &str = "ATTEMPT#";

/// What identifies an order's event, besides the order: the state machine enters a status
/// once, and counts each declined attempt once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKey {
    /// `OrderStatusChanged` into this status.
    Status(OrderStatus),
    /// `OrderPaymentFailed` for this declined attempt.
    Attempt(u32),
    /// `OrderRefundFailed`: a failed refund is final, so there is one per order.
    RefundFailed,
}

/// After [`MARKER_SORT_KEY_PREFIX`], the marker of a failed refund (upper case: no status is
/// spelled so).
const REFUND_FAILED: &str = "REFUND_FAILED";

impl EventKey {
    fn sort_key(self) -> String {
        match self {
            Self::Status(status) => format!("{MARKER_SORT_KEY_PREFIX}{}", status.as_str()),
            Self::Attempt(n) => format!("{MARKER_SORT_KEY_PREFIX}{ATTEMPT}{n}"),
            Self::RefundFailed => format!("{MARKER_SORT_KEY_PREFIX}{REFUND_FAILED}"),
        }
    }

    fn parse(sort_key: &str) -> Option<Self> {
        let rest = sort_key.strip_prefix(MARKER_SORT_KEY_PREFIX)?;
        if rest == REFUND_FAILED {
            return Some(Self::RefundFailed);
        }
        match rest.strip_prefix(ATTEMPT) {
            Some(n) => n.parse().ok().map(Self::Attempt),
            None => OrderStatus::parse(rest).map(Self::Status),
        }
    }
}

/// BatchGetItem's and BatchWriteItem's limits per call.
const GET_CHUNK: usize = 100;
const WRITE_CHUNK: usize = 25;

fn marker_key(order: &OrderId, key: EventKey) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("ORDER#{}", order.as_str()))), ("sk".to_owned(), s(key.sort_key()))])
}

fn marker_of(item: &Item) -> Option<(OrderId, EventKey)> {
    let pk = item.get("pk")?.as_s().ok()?;
    let sk = item.get("sk")?.as_s().ok()?;
    let order = OrderId::parse(pk.strip_prefix("ORDER#")?)?;
    Some((order, EventKey::parse(sk)?))
}

fn epoch_secs(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl Store {
    /// Which of these events were published before: one consistent BatchGetItem per 100.
    pub async fn published_events(&self, events: &[(OrderId, EventKey)]) -> Result<HashSet<(OrderId, EventKey)>> {
        let mut seen = HashSet::new();
        let unique: Vec<&(OrderId, EventKey)> = events.iter().filter(|e| seen.insert(*e)).collect();
        let mut published = HashSet::new();
        for chunk in unique.chunks(GET_CHUNK) {
            let keys = chunk.iter().map(|(order, key)| marker_key(order, *key)).collect();
            let items = self.batch_get(keys, "reading published event markers").await?;
            published.extend(items.iter().filter_map(marker_of));
        }
        Ok(published)
    }

    /// Records that these events are on the bus, with the bus's event ids.
    pub async fn mark_published(&self, events: &[(OrderId, EventKey, String)], now: &Timestamp) -> Result<()> {
        let context = "writing published event markers";
        let expires = now.plus(MARKER_TTL).to_system_time().unwrap_or_else(std::time::SystemTime::now);
        for chunk in events.chunks(WRITE_CHUNK) {
            let mut requests = Vec::with_capacity(chunk.len());
            for (order, key, event_id) in chunk {
                let mut item = marker_key(order, *key);
                item.insert("entity".to_owned(), s("order_event"));
                item.insert("event_id".to_owned(), s(event_id.as_str()));
                item.insert("published_at".to_owned(), s(now.as_str()));
                item.insert(super::schema::TTL_ATTRIBUTE.to_owned(), n(epoch_secs(expires)));
                let put = PutRequest::builder().set_item(Some(item)).build().map_err(sdk(context))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = Some(requests);
            for attempt in 1..=5u32 {
                let Some(requests) = pending.take() else { break };
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(sdk(context))?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).filter(|r| !r.is_empty());
                if pending.is_some() {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
            }
            if pending.is_some() {
                return Err(Error::internal(context, "DynamoDB left markers unprocessed after 5 attempts"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_key_reads_back_as_its_order_and_status_or_attempt() {
        let order = OrderId::generate();
        let key = marker_key(&order, EventKey::Status(OrderStatus::OutForDelivery));
        assert_eq!(key.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str), Some("EVENT#out_for_delivery"));
        assert_eq!(marker_of(&key), Some((order.clone(), EventKey::Status(OrderStatus::OutForDelivery))));
        let key = marker_key(&order, EventKey::Attempt(3));
        assert_eq!(key.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str), Some("EVENT#ATTEMPT#3"));
        assert_eq!(marker_of(&key), Some((order, EventKey::Attempt(3))));
        let order_item = HashMap::from([("pk".to_owned(), s("ORDER#x")), ("sk".to_owned(), s("ORDER"))]);
        assert_eq!(marker_of(&order_item), None);
    }
}
