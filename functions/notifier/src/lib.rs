//! EventBridge rule on the bus (source `makers-market.orders`, detail-types
//! `OrderStatusChanged`, `OrderPaymentFailed` and `OrderRefundFailed`) → this function → an
//! email to the customer for the event's status, on `paid` one to each maker with only its
//! lines, for a declined payment attempt that left the order payable a "try again" email to
//! the customer, and for a failed refund a "your refund did not go through" one. Each email at most once ([`shared::email`]). An invocation with a failed send
//! returns an error, so that Lambda retries it (twice, with backoff) and then sends it to
//! the dead-letter queue.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use shared::domain::{OrderPaymentFailed, OrderRefundFailed, OrderStatusChanged};
use shared::{App, Error, notify};

/// One event, as EventBridge delivers it.
pub async fn handle(app: &App, event: serde_json::Value) -> shared::Result<serde_json::Value> {
    let event: EventBridgeEvent<serde_json::Value> =
        serde_json::from_value(event).map_err(|e| Error::bad_request(format!("not an EventBridge event: {e}")))?;
    let unexpected = || {
        Error::bad_request(format!(
            "unexpected event {} / {}: the rule sends only {} / {}, {} and {}",
            event.source,
            event.detail_type,
            OrderStatusChanged::SOURCE,
            OrderStatusChanged::DETAIL_TYPE,
            OrderPaymentFailed::DETAIL_TYPE,
            OrderRefundFailed::DETAIL_TYPE,
        ))
    };
    if event.source != OrderStatusChanged::SOURCE {
        return Err(unexpected());
    }
    let detail = event.detail.clone();
    let unreadable =
        |e: serde_json::Error| Error::bad_request(format!("an unreadable {} detail: {e}", event.detail_type));
    let (order_id, what, report) = match event.detail_type.as_str() {
        OrderStatusChanged::DETAIL_TYPE => {
            let detail: OrderStatusChanged = serde_json::from_value(detail).map_err(unreadable)?;
            let report = notify::order_status_changed(app, &detail).await?;
            (detail.order_id, detail.status.as_str().to_owned(), report)
        }
        OrderPaymentFailed::DETAIL_TYPE => {
            let detail: OrderPaymentFailed = serde_json::from_value(detail).map_err(unreadable)?;
            let report = notify::payment_declined(app, &detail).await?;
            (detail.order_id, format!("declined attempt {}", detail.attempt), report)
        }
        OrderRefundFailed::DETAIL_TYPE => {
            let detail: OrderRefundFailed = serde_json::from_value(detail).map_err(unreadable)?;
            let report = notify::refund_failed(app, &detail).await?;
            (detail.order_id, "refund failed".to_owned(), report)
        }
        _ => return Err(unexpected()),
    };
    tracing::info!(
        order_id = order_id.as_str(),
        event = what,
        sent = report.sent,
        already_handled = report.already_handled,
        no_address = report.no_address,
        unknown = report.unknown,
        outdated = report.outdated,
        "notified"
    );
    Ok(serde_json::json!({
        "order_id": order_id.as_str(),
        "event": what,
        "sent": report.sent,
        "already_handled": report.already_handled,
        "no_address": report.no_address,
        "unknown": report.unknown,
        "outdated": report.outdated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_is_an_order_status_changed_event() {
        let event: Result<EventBridgeEvent<OrderStatusChanged>, _> =
            serde_json::from_str(include_str!("../../../events/notifier.json"));
        let event = event.map_err(|e| e.to_string());
        assert_eq!(event.as_ref().map(|e| e.source.as_str()), Ok(OrderStatusChanged::SOURCE));
        assert_eq!(event.as_ref().map(|e| e.detail.status.as_str()), Ok("paid"));
    }

    #[test]
    fn the_declined_sample_event_is_an_order_payment_failed_event() {
        let event: Result<EventBridgeEvent<OrderPaymentFailed>, _> =
            serde_json::from_str(include_str!("../../../events/notifier-declined.json"));
        let event = event.map_err(|e| e.to_string());
        assert_eq!(event.as_ref().map(|e| e.detail_type.as_str()), Ok(OrderPaymentFailed::DETAIL_TYPE));
        assert_eq!(event.as_ref().map(|e| e.detail.attempt), Ok(1));
    }
}
