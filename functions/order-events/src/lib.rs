//! DynamoDB stream → EventBridge: every order transition in a stream batch becomes one
//! `OrderStatusChanged` on the project's bus (see `shared::events` for why the stream, and
//! how a batch handed over twice still publishes once). Records that could not be
//! published are reported by sequence number (`ReportBatchItemFailures`), so the event
//! source mapping retries from the first of them.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use shared::App;
use shared::events::{self, Bus};

/// One stream batch.
pub async fn handle(app: &App, bus: &dyn Bus, batch: Event) -> DynamoDbEventResponse {
    let report = events::publish(&app.store, bus, &app.now(), &batch).await;
    tracing::info!(
        records = batch.records.len(),
        published = report.published,
        already_published = report.already_published,
        ignored = report.ignored,
        failed = report.failed.len(),
        "order events batch"
    );
    report.response()
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::event::dynamodb::Event;
    use shared::events::{Change, change_of};

    #[test]
    fn the_sample_batch_holds_one_transition_and_two_records_to_ignore() {
        let batch: Event = serde_json::from_str(include_str!("../../../events/order-events.json"))
            .unwrap_or_else(|e| panic!("events/order-events.json: {e}"));
        let changes: Vec<Change> = batch.records.iter().map(change_of).collect();
        assert_eq!(changes.len(), 3);
        let Change::Transition(event) = &changes[0] else { panic!("{:?}", changes[0]) };
        assert_eq!((event.previous_status.as_str(), event.status.as_str()), ("pending_payment", "paid"));
        assert_eq!(event.total_cents, 4800);
        assert!(matches!(changes[1], Change::Ignored(_)), "the maker's index item");
        assert!(matches!(changes[2], Change::Ignored(_)), "a placed order");
    }
}
