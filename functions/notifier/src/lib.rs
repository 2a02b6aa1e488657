//! EventBridge rule on the bus (source `makers-market.orders`, detail-type
//! `OrderStatusChanged`) → this function → an email to the customer for the event's
//! status, and on `paid` one to each maker with only its lines. Each email at most once
//! ([`shared::email`]). An invocation with a failed send returns an error, so that Lambda
//! retries it (twice, with backoff) and then sends it to the dead-letter queue.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use shared::domain::OrderStatusChanged;
use shared::{App, Error, notify};

/// One event, as EventBridge delivers it.
pub async fn handle(app: &App, event: serde_json::Value) -> shared::Result<serde_json::Value> {
    let event: EventBridgeEvent<OrderStatusChanged> = serde_json::from_value(event)
        .map_err(|e| Error::bad_request(format!("not an OrderStatusChanged EventBridge event: {e}")))?;
    if event.source != OrderStatusChanged::SOURCE || event.detail_type != OrderStatusChanged::DETAIL_TYPE {
        return Err(Error::bad_request(format!(
            "unexpected event {} / {}: the rule sends only {} / {}",
            event.source,
            event.detail_type,
            OrderStatusChanged::SOURCE,
            OrderStatusChanged::DETAIL_TYPE
        )));
    }
    let detail = event.detail;
    let report = notify::order_status_changed(app, &detail).await?;
    tracing::info!(
        order_id = detail.order_id.as_str(),
        status = detail.status.as_str(),
        sent = report.sent,
        already_handled = report.already_handled,
        no_address = report.no_address,
        unknown = report.unknown,
        "notified"
    );
    Ok(serde_json::json!({
        "order_id": detail.order_id.as_str(),
        "status": detail.status.as_str(),
        "sent": report.sent,
        "already_handled": report.already_handled,
        "no_address": report.no_address,
        "unknown": report.unknown,
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
}
