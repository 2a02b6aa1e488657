//! The order use cases every order function shares: placing an order, cancelling it,
//! applying Stripe's webhooks, expiring unpaid orders and retrying refunds. Each one reads,
//! asks the state machine ([`crate::domain::order`]) for the move, and lets the store make
//! it as one compare-and-set transaction; Stripe is called around that transaction in the
//! order chosen below.
//!
//! **The order of the steps when placing an order**, and why (reserve first, then Stripe):
//! 1. one BatchGetItem reads the products and their stock, the customer's profile address,
//!    the idempotency record and the customer's unpaid orders: a line short of stock, or a
//!    customer who already holds [`MAX_UNPAID_ORDERS`], is refused here (409) before
//!    anything is written or Stripe is called; the placing transaction checks both again,
//!    race-safe;
//! 2. one TransactWriteItems writes the order (`pending_payment`, no intent yet) and holds
//!    the stock on the products' stock items;
//! 3. Stripe creates the PaymentIntent (idempotency key `order-<id>-create`);
//! 4. one UpdateItem records the intent on the order.
//!
//! That is 3 DynamoDB round trips and 1 Stripe call when the order goes through (one
//! DynamoDB call more than creating the intent first), and 1 or 2 DynamoDB round trips and
//! **no Stripe call** when it does not: a sold-out product, a lost race for the last units
//! or the unpaid-orders limit. Stripe is the slower, rate-limited and costlier dependency,
//! and in a rush nearly every request is one that does not go through (a flash sale of
//! 500 units meets thousands of buyers): creating an intent first made every loser cost
//! two Stripe calls (create, cancel), so Stripe's rate limit, not the stock, bounded the
//! sale. Now Stripe sees only orders that hold their units.
//!
//! When Stripe fails at step 3 (refused, unreachable, or no answer), the order is
//! withdrawn in a compensating transaction: its items deleted, its units back in stock,
//! its idempotency record gone, so the client's retry (503, `Retry-After`) starts afresh.
//! If even that cannot be written, or the function dies between steps 2 and 4, the order
//! waits with its stock held and no intent: a retry with the same `Idempotency-Key`
//! resumes it (the same Stripe key gives the same intent), and otherwise the payment
//! expirer expires it when its window closes, releasing the stock; nobody ever saw a client
//! secret for it, so nothing could have been paid.
//!
//! **After a move**, Stripe is told: an unpaid intent is cancelled, a paid one refunded. The
//! refund is marked `pending` in the move's own transaction and put on the due-time index,
//! so a refund that did not go through (or a function that died) is retried by the payment
//! expirer. A payment that succeeds after its order was cancelled, expired or failed is
//! refunded the same way, once. **A refund is done when Stripe says the refund itself
//! succeeded**, not when its request got a 2xx: see [`refund`] for how a pending refund is
//! followed, which key a retry uses, and when a refund is given up as `failed`.
//!
//! **A declined card does not end the order**: Stripe keeps the intent payable, so the
//! customer may try another card until the window closes. Each decline is counted on the
//! order (with its reason and a history note) and the order keeps its stock; the fifth fails
//! it. **A payment made in time is never refunded for a late webhook**: the payment expirer
//! asks Stripe before it expires an order, and marks it paid if the intent succeeded.

use crate::auth::Principal;
use crate::domain::order::{MAX_REFUND_ATTEMPTS, decline, legal_move, refund_key, refund_retry_after, require_move};
use crate::domain::{
    Actor, MAX_UNPAID_ORDERS, NewOrder, Order, OrderId, OrderInput, OrderStatus, Payment, PaymentError, RefundProgress,
    RefundStatus, Timestamp,
};
use crate::payments::webhook::{self, EventKind, WebhookEvent};
use crate::payments::{CancelOutcome, IntentStatus, NewIntent, Payments, Refund, RefundOutcome, RefundState};
use crate::store::{DueKind, Idempotency, MoveOutcome, Placement};
use crate::{App, Error, Result, metrics};
use aws_lc_rs::digest;
use futures::stream::{self, StreamExt as _};

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Attempts at a move whose order another writer moved first (read again, decide again).
const MOVE_ATTEMPTS: usize = 3;
/// Tries at recording an order's intent when DynamoDB does not answer in time.
const RECORD_INTENT_TRIES: usize = 3;
/// Orders handled at once by one run of the payment expirer.
const EXPIRER_CONCURRENCY: usize = 8;

/// A placed order, and whether it is the replay of an earlier request.
#[derive(Debug)]
pub struct Placed {
    pub order: Order,
    pub replayed: bool,
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
pub fn idempotency_key(raw: Option<&str>) -> Result<Option<&str>> {
    let Some(key) = raw else { return Ok(None) };
    let ok = (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ok {
        Ok(Some(key))
    } else {
        Err(Error::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
        ))
    }
}

/// A fingerprint of a JSON body that ignores key order and whitespace, so that the same
/// request sent again matches however the client serialized it.
pub fn request_hash(body: &serde_json::Value) -> String {
    fn canonical(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(key.clone()).to_string());
                    out.push(':');
                    if let Some(v) = map.get(key) {
                        canonical(v, out);
                    }
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    canonical(body, &mut text);
    let hash = digest::digest(&digest::SHA256, text.as_bytes());
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /orders` for `who`: see the module docs for the order of the steps.
pub async fn place(app: &App, who: &Principal, body: serde_json::Value, key: Option<&str>) -> Result<Placed> {
    let hash = request_hash(&body);
    let input: OrderInput = crate::http::from_json_value(body)?;
    let new = NewOrder::parse(input)?;
    let now_time = app.clock.now();
    let ids: Vec<_> = new.lines.iter().map(|(id, _)| id.clone()).collect();
    let read = app.store.read_for_checkout(&who.user_id, &ids, key, now_time).await?;
    if let Some(record) = &read.idempotency {
        return replay(app, who, record, &hash).await;
    }
    let (items, shipping_address) = new.price(&read.products, read.profile_address.as_ref())?;
    // At the limit, nothing is reserved and Stripe is not called. (Two placements racing
    // past this check still meet the limit in the placing transaction.)
    if read.unpaid.len() >= MAX_UNPAID_ORDERS {
        let open = app.store.live_unpaid_orders(&who.user_id, &read.unpaid).await?.len();
        if open >= MAX_UNPAID_ORDERS {
            return Err(Error::UnpaidOrdersLimit { open });
        }
    }

    let now = Timestamp::at(now_time);
    let total_cents = items.iter().map(|l| l.subtotal_cents).sum();
    let order = Order {
        id: OrderId::generate(),
        customer_id: who.user_id.clone(),
        status: OrderStatus::PendingPayment,
        items,
        total_cents,
        currency: crate::domain::Currency::Eur,
        shipping_address,
        payment: Payment::not_started(),
        history: vec![crate::domain::HistoryEntry { status: OrderStatus::PendingPayment, at: now.clone(), note: None }],
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let due = now.plus(app.config.payment_window);
    let idempotency = key.map(|key| Idempotency { key, request_hash: &hash });
    match app.store.place_order(&order, &due, idempotency, &read.products, now_time).await? {
        Placement::Placed => {}
        Placement::KeyTaken(record) => return replay(app, who, &record, &hash).await,
    }
    let order = start_payment(app, order, key).await?;
    Ok(Placed { order, replayed: false })
}

/// Steps 3 and 4 of placing `order` (its stock held): Stripe makes the intent, and the
/// order records it. If Stripe fails, the order is withdrawn and the error returned.
async fn start_payment(app: &App, order: Order, key: Option<&str>) -> Result<Order> {
    let intent = match create_intent(app, &order).await {
        Ok(intent) => intent,
        Err(err) => {
            withdraw(app, &order, key).await;
            return Err(err);
        }
    };
    record_intent(app, &order, &intent).await
}

async fn create_intent(app: &App, order: &Order) -> Result<crate::payments::Intent> {
    app.payments()
        .await?
        .create_intent(&NewIntent {
            order_id: order.id.as_str().to_owned(),
            amount_cents: order.total_cents,
            currency: "eur".to_owned(),
            idempotency_key: format!("order-{}-create", order.id.as_str()),
        })
        .await
}

/// `order` with `intent` recorded: by this request, or by a concurrent retry of it (the
/// same Stripe key made the same intent).
async fn record_intent(app: &App, order: &Order, intent: &crate::payments::Intent) -> Result<Order> {
    // The order holds its stock and Stripe made the intent: worth a second and third try
    // when DynamoDB did not answer in time (the write is a compare-and-set, so a try whose
    // answer was lost makes the next one find the intent recorded).
    let mut tries = 0;
    let recorded = loop {
        tries += 1;
        match app.store.record_intent(order, &intent.id, intent.client_secret.expose()).await {
            Err(Error::Unavailable { .. }) if tries < RECORD_INTENT_TRIES => {
                tracing::warn!(order_id = order.id.as_str(), tries, "recording an intent timed out; trying again");
            }
            other => break other?,
        }
    };
    match recorded {
        Some(recorded) => Ok(recorded),
        None => {
            app.store.order(&order.id).await?.ok_or_else(|| {
                Error::internal("starting a payment", "the order vanished while its intent was recorded")
            })
        }
    }
}

/// Takes back an order whose payment could not be started. If that cannot be written
/// either, the order waits with its stock held for a retry of the request, or for the
/// payment expirer: logged, and the client gets Stripe's error either way.
async fn withdraw(app: &App, order: &Order, key: Option<&str>) {
    match app.store.withdraw_unstarted(order, key).await {
        Ok(true) => tracing::info!(order_id = order.id.as_str(), "the payment did not start: the order is withdrawn"),
        Ok(false) => tracing::info!(order_id = order.id.as_str(), "the payment did not start, but the order moved on"),
        Err(err) => tracing::error!(
            order_id = order.id.as_str(),
            error = %err,
            "the payment did not start and the order could not be withdrawn; the payment expirer releases its stock"
        ),
    }
}

/// The order an idempotency key was first used for, or a 422 if the body differs. An
/// order whose payment never started (its first request died between holding the stock
/// and recording the intent) is resumed: the same Stripe key gives the same intent. A
/// Stripe failure then leaves it as it is (its first request may still be under way): the
/// payment expirer ends it if nobody retries.
async fn replay(app: &App, who: &Principal, record: &crate::store::IdempotencyRecord, hash: &str) -> Result<Placed> {
    if record.request_hash != hash {
        return Err(Error::IdempotencyKeyReused);
    }
    let mut order = app
        .store
        .order(&record.order_id)
        .await?
        .filter(|o| o.customer_id == who.user_id)
        .ok_or_else(|| Error::internal("replaying an order", "an idempotency record names a missing order"))?;
    if order.status == OrderStatus::PendingPayment && !order.payment.has_intent() {
        let intent = create_intent(app, &order).await?;
        order = record_intent(app, &order, &intent).await?;
    }
    Ok(Placed { order, replayed: true })
}

/// The order `id` as `who` may see it: `None` (a 404) for anyone who is not its customer,
/// an admin, or a maker (in the `makers` group now) with a line in it.
pub async fn visible_order(app: &App, who: &Principal, id: &str) -> Result<Option<Order>> {
    let Some(id) = OrderId::parse(id) else { return Ok(None) };
    let order = app.store.order(&id).await?;
    Ok(order
        .filter(|o| o.customer_id == who.user_id || who.is_admin() || (who.is_maker() && o.has_maker(&who.user_id))))
}

/// `POST /orders/{id}/cancel` by `who`: the customer or an admin. A maker with a line gets
/// a 403, anyone else a 404. Answers with the order after the cancellation.
pub async fn cancel(app: &App, who: &Principal, id: &str) -> Result<Order> {
    let not_found = || Error::not_found("No such order.");
    let mut order = visible_order(app, who, id).await?.ok_or_else(not_found)?;
    let actor = if order.customer_id == who.user_id {
        Actor::Customer
    } else if who.is_admin() {
        Actor::Admin
    } else {
        return Err(Error::forbidden("Only the order's customer or an admin may cancel it."));
    };
    // Before the move: once it is made, Stripe must be reachable to finish it.
    let payments = app.payments().await?;
    for _ in 0..MOVE_ATTEMPTS {
        let mv = require_move(order.status, OrderStatus::Cancelled, actor)?;
        match app.store.apply_move(&order, mv, &app.now(), None).await? {
            MoveOutcome::Moved(moved) => return after_move(app, payments, *moved, mv.effects).await,
            MoveOutcome::Stale | MoveOutcome::EventSeen => {
                order = app.store.order(&order.id).await?.ok_or_else(not_found)?;
            }
        }
    }
    Err(Error::conflict("The order is changing right now; try again."))
}

/// What Stripe must hear after a move: an unpaid intent cancelled, a paid one refunded.
/// Failures are logged: a refund stays pending on the due index and is retried.
async fn after_move(
    app: &App,
    payments: &dyn Payments,
    order: Order,
    effects: crate::domain::order::Effects,
) -> Result<Order> {
    // An order whose payment never started has no intent to cancel.
    if effects.cancel_intent && order.payment.has_intent() {
        let key = format!("order-{}-cancel", order.id.as_str());
        match payments.cancel_intent(&order.payment.payment_intent_id, &key).await {
            Ok(CancelOutcome::AlreadySucceeded) => {
                // Paid between our read and the cancel: refund it now rather than wait for
                // the webhook (whichever comes second finds the refund decided).
                if let MoveOutcome::Moved(marked) = app.store.mark_refund_pending(&order, &app.now(), None).await? {
                    return Ok(refund(app, payments, *marked).await);
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(order_id = order.id.as_str(), error = %err, "could not cancel a payment intent");
            }
        }
    }
    if effects.refund {
        return Ok(refund(app, payments, order).await);
    }
    Ok(order)
}

/// One try at `order`'s refund (its refund already marked pending), and what came of it
/// recorded on the order. Gives back the order as it now stands.
///
/// - A refund Stripe made and reported `pending` (or `requires_action`) is read again, never
///   made twice, until it settles: `succeeded` is recorded, `failed` or `canceled` makes the
///   order's refund `failed`. (A `refund.updated` webhook settles it sooner:
///   [`stripe_webhook`].)
/// - Otherwise a refund is requested with the key of the current attempt
///   ([`refund_key`]). No answer (a timeout, Stripe unreachable) keeps the key for the next
///   try, since Stripe may have made the refund and the same key replays it; a definite
///   refusal moves to the next attempt's key, since Stripe keeps an answer, errors included,
///   for 24 hours under its key.
/// - Each try not settled is retried by the payment expirer after a backoff
///   ([`refund_retry_after`]); after [`MAX_REFUND_ATTEMPTS`] requests the refund is
///   `failed`: a metric for the alarm, a note in the history, and (through the stream's
///   `OrderRefundFailed` event) an email to the customer. Nothing retries it after that.
pub async fn refund(app: &App, payments: &dyn Payments, order: Order) -> Order {
    let progress = order.payment.refund.clone().unwrap_or_default();
    if let Some(refund_id) = order.payment.refund_id.clone() {
        return follow_refund(app, payments, order, &refund_id, progress).await;
    }
    let attempt = progress.next_key_attempt();
    let key = refund_key(&order.id, attempt);
    let mut next = progress;
    next.attempts += 1;
    next.key_attempt = attempt;
    match payments.refund(&order.payment.payment_intent_id, order.id.as_str(), &key).await {
        Ok(RefundOutcome::Refunded(made)) => {
            next.succeeded_attempt = Some(attempt);
            next.last_error = None;
            settle_refund(app, order, &made, next).await
        }
        Ok(RefundOutcome::AlreadyRefunded) => {
            next.succeeded_attempt = Some(attempt);
            next.last_error = None;
            next.stripe_status = Some(RefundState::Succeeded.as_str().to_owned());
            record_refund(app, order, None, next).await
        }
        Ok(RefundOutcome::NotFound) => {
            tracing::error!(order_id = order.id.as_str(), attempt, "Stripe does not know the intent to refund");
            next.key_attempt = attempt + 1;
            next.last_error = Some("Stripe does not know the payment intent".to_owned());
            retry_refund_later(app, order, next).await
        }
        Err(err) => {
            let unknown = matches!(err, Error::PaymentProvider { unavailable: true, .. });
            tracing::warn!(
                order_id = order.id.as_str(),
                attempt,
                outcome_unknown = unknown,
                error = %err,
                "a refund request did not go through; it will be retried"
            );
            if !unknown {
                next.key_attempt = attempt + 1;
            }
            next.last_error = Some(short(&err.to_string()));
            retry_refund_later(app, order, next).await
        }
    }
}

/// Stripe's error text, bounded, for the admin's view of a refund.
fn short(text: &str) -> String {
    const MOST: usize = 300;
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Reads again a refund Stripe made but had not settled, and records what it says now.
async fn follow_refund(
    app: &App,
    payments: &dyn Payments,
    order: Order,
    refund_id: &str,
    mut progress: RefundProgress,
) -> Order {
    progress.checks += 1;
    let reason = match payments.retrieve_refund(refund_id).await {
        Ok(Some(refund)) => return settle_refund(app, order, &refund, progress).await,
        Ok(None) => "Stripe does not know the refund".to_owned(),
        Err(err) => short(&err.to_string()),
    };
    tracing::warn!(order_id = order.id.as_str(), refund_id, reason, "could not read a pending refund back");
    progress.last_error = Some(reason);
    progress.next_try_at = Some(app.now().plus(refund_retry_after(progress.checks)));
    save_refund_progress(app, order, None, progress).await
}

/// What Stripe says of a refund it made: recorded as it stands.
async fn settle_refund(app: &App, order: Order, refund: &Refund, mut progress: RefundProgress) -> Order {
    progress.stripe_status = Some(refund.status.as_str().to_owned());
    progress.failure_reason = refund.failure_reason.clone();
    match &refund.status {
        RefundState::Succeeded => record_refund(app, order, Some(&refund.id), progress).await,
        RefundState::Failed | RefundState::Canceled => fail_refund(app, order, Some(&refund.id), progress).await,
        RefundState::Pending | RefundState::RequiresAction | RefundState::Other(_) => {
            tracing::info!(
                order_id = order.id.as_str(),
                refund_id = refund.id,
                status = refund.status.as_str(),
                "Stripe has not settled the refund yet; it is followed until it does"
            );
            let tries = progress.attempts + progress.checks;
            progress.next_try_at = Some(app.now().plus(refund_retry_after(tries)));
            save_refund_progress(app, order, Some(&refund.id), progress).await
        }
    }
}

/// A request that did not make the refund: tried again after a backoff, or, after
/// [`MAX_REFUND_ATTEMPTS`] requests, given up as `failed`.
async fn retry_refund_later(app: &App, order: Order, mut progress: RefundProgress) -> Order {
    if progress.attempts >= MAX_REFUND_ATTEMPTS {
        return fail_refund(app, order, None, progress).await;
    }
    progress.next_try_at = Some(app.now().plus(refund_retry_after(progress.attempts)));
    save_refund_progress(app, order, None, progress).await
}

async fn save_refund_progress(app: &App, order: Order, refund_id: Option<&str>, progress: RefundProgress) -> Order {
    match app.store.save_refund_progress(&order, refund_id, &progress).await {
        Ok(true) => {
            let mut next = order;
            if refund_id.is_some() {
                next.payment.refund_id = refund_id.map(str::to_owned);
            }
            next.payment.refund = Some(progress);
            next
        }
        // Settled or tried by someone else meanwhile: the order as it now is.
        Ok(false) => app.store.order(&order.id).await.ok().flatten().unwrap_or(order),
        Err(err) => {
            tracing::error!(order_id = order.id.as_str(), error = %err, "could not save a refund's progress; it will be tried again");
            postpone_refund(app, &order).await;
            order
        }
    }
}

async fn record_refund(app: &App, order: Order, refund_id: Option<&str>, progress: RefundProgress) -> Order {
    match app.store.record_refund(&order, refund_id, &progress, &app.now()).await {
        Ok(Some(recorded)) => {
            metrics::count("RefundsSucceeded", ("Provider", "stripe"), 1);
            recorded
        }
        Ok(None) => app.store.order(&order.id).await.ok().flatten().unwrap_or(order),
        Err(err) => {
            tracing::error!(order_id = order.id.as_str(), error = %err, "refund made but not recorded; it will be checked again");
            postpone_refund(app, &order).await;
            order
        }
    }
}

/// The refund will not come through: `failed`, for a person to finish. Counted in the
/// `RefundsFailed` metric, which the `RefundsFailedAlarm` watches.
async fn fail_refund(app: &App, order: Order, refund_id: Option<&str>, mut progress: RefundProgress) -> Order {
    progress.next_try_at = None;
    match app.store.fail_refund(&order, refund_id, &progress, &app.now()).await {
        Ok(Some(failed)) => {
            metrics::count("RefundsFailed", ("Provider", "stripe"), 1);
            tracing::error!(
                order_id = order.id.as_str(),
                refund_id = refund_id.unwrap_or_default(),
                attempts = progress.attempts,
                stripe_status = progress.stripe_status.as_deref().unwrap_or_default(),
                failure_reason = progress.failure_reason.as_deref().unwrap_or_default(),
                last_error = progress.last_error.as_deref().unwrap_or_default(),
                "a refund failed: a person must refund the customer"
            );
            failed
        }
        Ok(None) => app.store.order(&order.id).await.ok().flatten().unwrap_or(order),
        Err(err) => {
            tracing::error!(order_id = order.id.as_str(), error = %err, "a refund failed and could not be recorded so");
            postpone_refund(app, &order).await;
            order
        }
    }
}

/// The next look at a refund whose outcome could not be recorded, [`REFUND_RETRY_AFTER`]
/// from now.
async fn postpone_refund(app: &App, order: &Order) {
    let at = app.now().plus(crate::store::REFUND_RETRY_AFTER);
    if let Err(err) = app.store.postpone_refund(order, &at).await {
        tracing::warn!(order_id = order.id.as_str(), error = %err, "could not postpone a refund; the sweeper retries it sooner");
    }
}

/// What a webhook delivery came to, for the log line (every verified delivery gets a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    Paid,
    /// A declined attempt, recorded; the order still waits for payment.
    Declined,
    /// The last declined attempt allowed: the order failed, its stock released, its intent
    /// cancelled.
    PaymentFailed,
    /// A payment arrived for an order that no longer wanted it: refunded.
    LateRefunded,
    /// Stripe settled the order's refund (`refund.updated`): recorded succeeded or failed.
    RefundSettled,
    /// This event, or the same payment under another event, had its effect before.
    Duplicate,
    /// Nothing to do: unknown type, unknown order, another intent, wrong amount, or an
    /// order past the point where this event matters.
    Ignored(&'static str),
}

/// `POST /webhooks/stripe`: verifies the signature on the raw body, then applies the event
/// once. A forged, stale or malformed delivery is a 400 and changes nothing.
pub async fn stripe_webhook(app: &App, signature: Option<&str>, raw_body: &[u8]) -> Result<WebhookOutcome> {
    let Some(signature) = signature else {
        tracing::warn!(reason = %webhook::WebhookError::Missing, "refused a Stripe webhook");
        return Err(webhook::WebhookError::Missing.into());
    };
    let secrets = app.stripe_secrets().await?;
    if let Err(err) = webhook::verify(&secrets.webhook_secret, signature, raw_body, app.clock.now()) {
        tracing::warn!(reason = %err, "refused a Stripe webhook");
        return Err(err.into());
    }
    let event = webhook::parse_event(raw_body)?;
    apply_event(app, app.payments().await?, &event).await
}

async fn apply_event(app: &App, payments: &dyn Payments, event: &WebhookEvent) -> Result<WebhookOutcome> {
    let succeeded = match &event.kind {
        EventKind::PaymentIntentSucceeded => true,
        EventKind::PaymentIntentPaymentFailed => false,
        EventKind::RefundUpdated => return apply_refund_update(app, event).await,
        EventKind::Other(_) => return Ok(WebhookOutcome::Ignored("event type not handled")),
    };
    let Some(intent) = &event.intent else { return Ok(WebhookOutcome::Ignored("no payment intent in the event")) };
    let Some(order_id) = intent.order_id.as_deref().and_then(OrderId::parse) else {
        return Ok(WebhookOutcome::Ignored("the intent names no order"));
    };
    let Some(order) = app.store.order(&order_id).await? else {
        return Ok(WebhookOutcome::Ignored("unknown order"));
    };
    if intent.id != order.payment.payment_intent_id {
        return Ok(WebhookOutcome::Ignored("another intent than the order's"));
    }
    if !succeeded {
        let error = webhook::payment_error(intent.last_payment_error.as_ref());
        return apply_decline(app, payments, event, order, &error).await;
    }
    if intent.amount != order.total_cents || !intent.currency.eq_ignore_ascii_case("eur") {
        return Ok(WebhookOutcome::Ignored("amount or currency differ from the order's"));
    }
    apply_success(app, payments, event, order).await
}

/// `refund.updated` (or `refund.failed`, `charge.refund.updated`) for the refund of the
/// order its metadata names: a pending refund that settled is recorded as it settled, and a
/// refund recorded `succeeded` that Stripe then failed becomes `failed`. Replays change
/// nothing: each write is conditional on the refund's state, which a settled refund left.
async fn apply_refund_update(app: &App, event: &WebhookEvent) -> Result<WebhookOutcome> {
    let Some(object) = &event.refund else { return Ok(WebhookOutcome::Ignored("no refund in the event")) };
    let Some(order_id) = object.order_id.as_deref().and_then(OrderId::parse) else {
        return Ok(WebhookOutcome::Ignored("the refund names no order"));
    };
    let Some(order) = app.store.order(&order_id).await? else {
        return Ok(WebhookOutcome::Ignored("unknown order"));
    };
    let refund = &object.refund;
    if refund.payment_intent.as_deref().is_some_and(|pi| pi != order.payment.payment_intent_id) {
        return Ok(WebhookOutcome::Ignored("another intent than the order's"));
    }
    let ours = order.payment.refund_id.as_deref().is_none_or(|id| id == refund.id);
    if !ours {
        return Ok(WebhookOutcome::Ignored("another refund than the order's"));
    }
    let settles = match order.payment.refund_status {
        Some(RefundStatus::Pending) => {
            matches!(refund.status, RefundState::Succeeded) || refund.status.is_final_failure()
        }
        Some(RefundStatus::Succeeded) => {
            refund.status.is_final_failure() && order.payment.refund_id.as_deref() == Some(refund.id.as_str())
        }
        Some(RefundStatus::Failed) | None => false,
    };
    if !settles {
        return Ok(if order.payment.refund_status.is_some() && refund.status != RefundState::Pending {
            WebhookOutcome::Duplicate
        } else {
            WebhookOutcome::Ignored("the refund has not settled")
        });
    }
    let mut progress = order.payment.refund.clone().unwrap_or_default();
    progress.succeeded_attempt = progress.succeeded_attempt.or(Some(progress.key_attempt.max(1)));
    let settled = settle_refund(app, order, refund, progress).await;
    tracing::info!(
        order_id = settled.id.as_str(),
        refund_id = refund.id,
        status = refund.status.as_str(),
        "a refund settled at Stripe"
    );
    Ok(WebhookOutcome::RefundSettled)
}

/// `payment_intent.succeeded` for `order`'s intent and amount: the order is paid, or, if it
/// no longer wants the money, the payment is refunded, once.
async fn apply_success(
    app: &App,
    payments: &dyn Payments,
    event: &WebhookEvent,
    mut order: Order,
) -> Result<WebhookOutcome> {
    for _ in 0..MOVE_ATTEMPTS {
        let now = app.now();
        if let Some(mv) = legal_move(order.status, OrderStatus::Paid, Actor::Stripe) {
            match app.store.apply_move(&order, mv, &now, Some(&event.id)).await? {
                MoveOutcome::Moved(_) => return Ok(WebhookOutcome::Paid),
                MoveOutcome::EventSeen => return Ok(WebhookOutcome::Duplicate),
                MoveOutcome::Stale => {}
            }
        } else if !order.status.holds_stock() {
            // Money for an order that no longer wants it: refund it, once.
            if order.payment.refund_status.is_some() {
                return Ok(WebhookOutcome::Duplicate);
            }
            match app.store.mark_refund_pending(&order, &now, Some(&event.id)).await? {
                MoveOutcome::Moved(marked) => {
                    refund(app, payments, *marked).await;
                    return Ok(WebhookOutcome::LateRefunded);
                }
                MoveOutcome::EventSeen => return Ok(WebhookOutcome::Duplicate),
                MoveOutcome::Stale => {}
            }
        } else {
            // Already paid: the same payment under another event id, or a webhook that comes
            // after the payment expirer found the intent paid. Nothing changes.
            app.store.record_event(&event.id, &order.id, &now).await?;
            return Ok(if order.status.is_paid() {
                WebhookOutcome::Duplicate
            } else {
                WebhookOutcome::Ignored("the order is past this event")
            });
        }
        order = reread(app, &order.id).await?;
    }
    Err(Error::conflict("The order is changing right now; Stripe will deliver the event again."))
}

/// `payment_intent.payment_failed` for `order`'s intent: a declined card does not end the
/// order, since Stripe keeps the intent payable and the customer may try another card. The
/// attempt is counted and its `error` kept, and the order keeps waiting with its stock held,
/// until the [`MAX_FAILED_ATTEMPTS`](crate::domain::order::MAX_FAILED_ATTEMPTS)th decline
/// fails it (stock released in the same transaction, then the intent cancelled so that no
/// later attempt can succeed).
async fn apply_decline(
    app: &App,
    payments: &dyn Payments,
    event: &WebhookEvent,
    mut order: Order,
    error: &PaymentError,
) -> Result<WebhookOutcome> {
    for _ in 0..MOVE_ATTEMPTS {
        let now = app.now();
        let Some(decline) = decline(order.status, order.payment.failed_attempts) else {
            // Paid by a later attempt, expired, cancelled or failed already: nothing changes.
            app.store.record_event(&event.id, &order.id, &now).await?;
            return Ok(WebhookOutcome::Ignored("the order is past this event"));
        };
        match app.store.record_decline(&order, decline, error, &now, &event.id).await? {
            MoveOutcome::Moved(declined) => {
                tracing::info!(
                    order_id = order.id.as_str(),
                    attempt = decline.attempt,
                    code = error.code,
                    "a payment attempt was declined"
                );
                return match decline.ends_with {
                    Some(mv) => {
                        after_move(app, payments, *declined, mv.effects).await?;
                        Ok(WebhookOutcome::PaymentFailed)
                    }
                    None => Ok(WebhookOutcome::Declined),
                };
            }
            MoveOutcome::EventSeen => return Ok(WebhookOutcome::Duplicate),
            MoveOutcome::Stale => {}
        }
        order = reread(app, &order.id).await?;
    }
    Err(Error::conflict("The order is changing right now; Stripe will deliver the event again."))
}

/// `id` read again after another writer changed it.
async fn reread(app: &App, id: &OrderId) -> Result<Order> {
    app.store.order(id).await?.ok_or_else(|| Error::internal("applying a webhook", "order vanished"))
}

/// What one run of the payment expirer did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryReport {
    pub expired: usize,
    /// Due orders whose intent Stripe said had succeeded: paid in time, webhook late.
    pub paid: usize,
    /// Refunds tried (a request, or a re-read of a refund Stripe had not settled).
    pub refunds_retried: usize,
    /// Of those, refunds that are `failed` now (Stripe failed them, or the last attempt).
    pub refunds_failed: usize,
    /// Due orders another writer moved first, or whose payment Stripe is still processing.
    pub skipped: usize,
    /// Due work of either kind left for the next run: its kind's time budget was spent.
    pub deferred: usize,
}

/// How much one run of the payment expirer may do. Expirations and refunds each have their
/// own share, and run side by side: 200 slow expirations (a slow Stripe, 5 s a call) cannot
/// keep a refund waiting behind them, nor push the run past its function's timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpirerBudget {
    /// Due orders of each kind read per run.
    pub batch: usize,
    /// Expirations in flight at once (each one or two Stripe calls).
    pub expiry_concurrency: usize,
    /// Refunds in flight at once (each one Stripe call).
    pub refund_concurrency: usize,
    /// After this long, neither kind starts more work; what is left is the next run's. Work
    /// started goes on within Stripe's timeout, so a run ends within this plus a few calls.
    pub time: std::time::Duration,
}

impl ExpirerBudget {
    /// 8 expirations and 4 refunds at a time, 40 s to start work: within the payment
    /// expirer's 60 s timeout (`template.yaml`), one call of Stripe's 5 s timeout or two
    /// included.
    pub const fn new(batch: usize) -> Self {
        Self {
            batch,
            expiry_concurrency: EXPIRER_CONCURRENCY,
            refund_concurrency: 4,
            time: std::time::Duration::from_secs(40),
        }
    }
}

/// What became of one due order.
enum Expiry {
    Expired,
    Paid,
    Skipped,
    /// Not started: the run's time for this kind was spent.
    Deferred,
}

/// What became of one due refund.
enum RefundTry {
    Tried { failed: bool },
    Deferred,
}

/// [`expire_due_within`] with the default [`ExpirerBudget`] for `batch` orders of each kind.
pub async fn expire_due(app: &App, batch: usize) -> Result<ExpiryReport> {
    expire_due_within(app, ExpirerBudget::new(batch)).await
}

/// Expires the orders whose payment window has closed (their intent cancelled, their stock
/// released) — or marks them paid, when Stripe says their payment succeeded — and retries
/// the refunds Stripe has not confirmed, at most `budget.batch` of each. The two sweeps run
/// side by side, each with its own concurrency, and start nothing after `budget.time`.
pub async fn expire_due_within(app: &App, budget: ExpirerBudget) -> Result<ExpiryReport> {
    expire_due_in(app, budget, 0..app.store.due_shards()).await
}

/// [`expire_due_within`] over the due index's `shards` only: several invocations, each with
/// its own shards, scale the sweep out.
pub async fn expire_due_in(app: &App, budget: ExpirerBudget, shards: std::ops::Range<u16>) -> Result<ExpiryReport> {
    let payments = app.payments().await?;
    let now = app.now();
    let deadline = std::time::Instant::now() + budget.time;
    let in_time = move || std::time::Instant::now() < deadline;
    let (due, refunds) = futures::try_join!(
        app.store.due_orders_in(DueKind::Payment, &now, budget.batch, shards.clone()),
        app.store.due_orders_in(DueKind::Refund, &now, budget.batch, shards),
    )?;
    let expiries = stream::iter(&due)
        .map(|order| async move {
            if !in_time() {
                return Ok(Expiry::Deferred);
            }
            expire_one(app, payments, order).await
        })
        .buffer_unordered(budget.expiry_concurrency.max(1))
        .collect::<Vec<Result<Expiry>>>();
    let pending = refunds.into_iter().filter(|o| o.payment.refund_status == Some(RefundStatus::Pending));
    let refund_tries = stream::iter(pending)
        .map(|order| async move {
            if !in_time() {
                return RefundTry::Deferred;
            }
            let after = refund(app, payments, order).await;
            RefundTry::Tried { failed: after.payment.refund_status == Some(RefundStatus::Failed) }
        })
        .buffer_unordered(budget.refund_concurrency.max(1))
        .collect::<Vec<RefundTry>>();
    let (expiries, refund_tries) = futures::join!(expiries, refund_tries);

    let mut report = ExpiryReport::default();
    for result in expiries {
        match result {
            Ok(Expiry::Expired) => report.expired += 1,
            Ok(Expiry::Paid) => report.paid += 1,
            Ok(Expiry::Skipped) => report.skipped += 1,
            Ok(Expiry::Deferred) => report.deferred += 1,
            Err(err) => tracing::error!(error = %err, "could not expire an order"),
        }
    }
    for tried in refund_tries {
        match tried {
            RefundTry::Tried { failed } => {
                report.refunds_retried += 1;
                report.refunds_failed += usize::from(failed);
            }
            RefundTry::Deferred => report.deferred += 1,
        }
    }
    Ok(report)
}

/// One due order. Stripe is asked first: an intent that succeeded was paid within the
/// window and only its webhook is late, so the order becomes `paid` (the webhook then finds
/// it paid and does nothing) rather than expired and refunded. A payment still processing
/// is left for the next run. If Stripe cannot be asked, the order is left too: expiring it
/// blind could refund a payment made in time. Otherwise the order expires, and its intent
/// is cancelled after the move; a payment that succeeds in between (after the window and
/// after Stripe was asked) is refunded.
async fn expire_one(app: &App, payments: &dyn Payments, order: &Order) -> Result<Expiry> {
    let Some(expire) = legal_move(order.status, OrderStatus::Expired, Actor::PaymentExpirer) else {
        return Ok(Expiry::Skipped);
    };
    // An order whose payment never started (no intent) cannot have been paid.
    let intent = if order.payment.has_intent() {
        payments.retrieve_intent(&order.payment.payment_intent_id).await?
    } else {
        None
    };
    let paid_in_time = intent.as_ref().is_some_and(|i| {
        i.status == IntentStatus::Succeeded && i.amount == order.total_cents && i.currency.eq_ignore_ascii_case("eur")
    });
    if paid_in_time {
        let mv = require_move(order.status, OrderStatus::Paid, Actor::PaymentExpirer)?;
        return Ok(match app.store.apply_move(order, mv, &app.now(), None).await? {
            MoveOutcome::Moved(_) => {
                tracing::info!(
                    order_id = order.id.as_str(),
                    "paid in time, its webhook late: marked paid, not expired"
                );
                Expiry::Paid
            }
            MoveOutcome::Stale | MoveOutcome::EventSeen => Expiry::Skipped,
        });
    }
    if intent.is_some_and(|i| i.status == IntentStatus::Processing) {
        return Ok(Expiry::Skipped);
    }
    match app.store.apply_move(order, expire, &app.now(), None).await? {
        MoveOutcome::Moved(expired) => {
            after_move(app, payments, *expired, expire.effects).await?;
            Ok(Expiry::Expired)
        }
        MoveOutcome::Stale | MoveOutcome::EventSeen => Ok(Expiry::Skipped),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_hash_ignores_key_order_and_whitespace_but_not_values() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"items":[{"product_id":"p","quantity":1}]}"#).unwrap_or_default();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "items" : [ { "quantity" : 1, "product_id" : "p" } ] }"#).unwrap_or_default();
        let c: serde_json::Value =
            serde_json::from_str(r#"{"items":[{"product_id":"p","quantity":2}]}"#).unwrap_or_default();
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_ne!(request_hash(&a), request_hash(&c));
    }

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        assert_eq!(idempotency_key(Some("abc-123")).ok().flatten(), Some("abc-123"));
        assert!(idempotency_key(None).is_ok_and(|k| k.is_none()));
        assert!(idempotency_key(Some("")).is_err());
        assert!(idempotency_key(Some(&"k".repeat(256))).is_err());
        assert!(idempotency_key(Some("tab\there")).is_err());
        assert!(idempotency_key(Some("é")).is_err());
    }
}
