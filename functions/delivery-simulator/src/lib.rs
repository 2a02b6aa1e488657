//! Scheduled: the delivery simulator. Each run moves every order that has stayed its dwell
//! time (`DELIVERY_DWELL_SECONDS`) in `paid`, `preparing`, `shipped` or `out_for_delivery`
//! one step towards `delivered` (see [`shared::delivery`]).

use shared::App;
use shared::delivery::{self, TickLimits};
use shared::store::ShardGroup;

/// One tick over the shard group the schedule names (`{"shard_group": g, "shard_groups": n}`),
/// or over every shard for a plain scheduled event.
pub async fn handle(app: &App, event: serde_json::Value) -> shared::Result<serde_json::Value> {
    let shards = ShardGroup::of_event(&event)?.shards(app.store.due_shards());
    // Boxed: the future is deep enough to overflow the compiler's layout query limit inline.
    let report = Box::pin(delivery::advance_due_in(app, TickLimits::default(), shards)).await?;
    if report.failed > 0 || report.more {
        tracing::warn!(
            advanced = report.advanced,
            skipped = report.skipped,
            failed = report.failed,
            more = report.more,
            "delivery tick left due orders for the next one"
        );
    } else if report.advanced + report.skipped > 0 {
        tracing::info!(advanced = report.advanced, skipped = report.skipped, "delivery tick ran");
    } else {
        // Locally it ticks every second: an idle tick is not worth a line at `info`.
        tracing::debug!("delivery tick ran: nothing due");
    }
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    if report.advanced > 0 {
        shared::metrics::count("DeliveryMoves", ("Outcome", "advanced"), count(report.advanced));
    }
    if report.failed > 0 {
        shared::metrics::count("DeliveryMoves", ("Outcome", "failed"), count(report.failed));
        // A failed run, so that the errors alarm fires; the next tick retries these orders
        // (they are still due), and the ones moved here are not moved again.
        return Err(shared::Error::internal(
            "advancing due orders",
            format!("{} of {} due orders could not be moved", report.failed, report.advanced + report.failed),
        ));
    }
    Ok(serde_json::json!({
        "advanced": report.advanced,
        "skipped": report.skipped,
        "failed": report.failed,
        "more": report.more,
    }))
}
