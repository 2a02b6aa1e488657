//! Scheduled: expires orders not paid within the payment window (their intent cancelled,
//! their stock released), marks paid those whose payment Stripe took in time while its
//! webhook is late, and retries refunds Stripe has not confirmed yet (with backoff, until
//! they succeed or are given up as `failed`). Expirations and refunds each get their own
//! share of a run ([`orders::ExpirerBudget`]), so neither kind waits behind the other.

use shared::store::ShardGroup;
use shared::{App, orders};

/// Orders of each kind handled per run (of one shard group); the next run takes the rest.
/// 8 expirations at a time, two Stripe calls each, get through about this many in the
/// run's 40 s; 4 groups take 4,000 a minute (`docs/CAPACITY.md`).
pub const BATCH: usize = 1_000;

/// One run over the shard group the schedule names (`{"shard_group": g, "shard_groups": n}`),
/// or over every shard for a plain scheduled event.
pub async fn handle(app: &App, event: serde_json::Value) -> shared::Result<serde_json::Value> {
    let shards = ShardGroup::of_event(&event)?.shards(app.store.due_shards());
    // Boxed: the future is deep enough to overflow the compiler's layout query limit inline.
    let report = Box::pin(orders::expire_due_in(app, orders::ExpirerBudget::new(BATCH), shards.clone())).await?;
    tracing::info!(
        expired = report.expired,
        paid = report.paid,
        refunds_retried = report.refunds_retried,
        refunds_failed = report.refunds_failed,
        skipped = report.skipped,
        deferred = report.deferred,
        shards = ?shards,
        "payment expirer ran"
    );
    Ok(serde_json::json!({
        "expired": report.expired,
        "paid": report.paid,
        "refunds_retried": report.refunds_retried,
        "refunds_failed": report.refunds_failed,
        "skipped": report.skipped,
        "deferred": report.deferred,
    }))
}
