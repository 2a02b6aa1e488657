//! Scheduled: expires orders not paid within the payment window (their intent cancelled,
//! their stock released), marks paid those whose payment Stripe took in time while its
//! webhook is late, and retries refunds Stripe has not confirmed yet (with backoff, until
//! they succeed or are given up as `failed`). Expirations and refunds each get their own
//! share of a run ([`orders::ExpirerBudget`]), so neither kind waits behind the other.

use shared::{App, orders};

/// Orders of each kind handled per run; the next run takes the rest.
pub const BATCH: usize = 200;

/// One run, on whatever the schedule sends (its content does not matter).
pub async fn handle(app: &App, _event: serde_json::Value) -> shared::Result<serde_json::Value> {
    // Boxed: the future is deep enough to overflow the compiler's layout query limit inline.
    let report = Box::pin(orders::expire_due_within(app, orders::ExpirerBudget::new(BATCH))).await?;
    tracing::info!(
        expired = report.expired,
        paid = report.paid,
        refunds_retried = report.refunds_retried,
        refunds_failed = report.refunds_failed,
        skipped = report.skipped,
        deferred = report.deferred,
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
