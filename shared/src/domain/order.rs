//! Orders: ids, lines, the checked `POST /orders` body, the views each caller may see, and
//! **the order state machine** — the statuses, the legal moves and who may make each one.
//! Nothing else in the code base knows which moves are legal: the store applies a [`Move`]
//! as a compare-and-set on the current status and appends it to `history`.

use super::{Address, Check, Currency, Product, ProductId, ProductStatus, Timestamp, UserId, non_null};
use crate::{Error, FieldError, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

super::ulid_id!(
    /// `ord_` + a ULID: unique and time-sortable, so id order is placing order.
    OrderId,
    "ord_"
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Preparing,
    Shipped,
    OutForDelivery,
    Delivered,
    Cancelled,
    Expired,
    PaymentFailed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        Self::PendingPayment,
        Self::Paid,
        Self::Preparing,
        Self::Shipped,
        Self::OutForDelivery,
        Self::Delivered,
        Self::Cancelled,
        Self::Expired,
        Self::PaymentFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::Paid => "paid",
            Self::Preparing => "preparing",
            Self::Shipped => "shipped",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::PaymentFailed => "payment_failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Statuses in which the order holds its stock reserved.
    pub fn holds_stock(self) -> bool {
        !matches!(self, Self::Cancelled | Self::Expired | Self::PaymentFailed)
    }

    /// Statuses in which the customer's money has been taken (and not given back by a
    /// cancellation).
    pub fn is_paid(self) -> bool {
        matches!(self, Self::Paid | Self::Preparing | Self::Shipped | Self::OutForDelivery | Self::Delivered)
    }
}

/// Who makes a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The order's own customer.
    Customer,
    Admin,
    /// A verified Stripe webhook.
    Stripe,
    /// The scheduled payment expirer.
    PaymentExpirer,
    /// The scheduled delivery simulator.
    DeliverySimulator,
}

/// What else happens, in the same transaction or right after it, when a move is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effects {
    /// Give the reserved units back to the products (same transaction).
    pub release_stock: bool,
    /// Cancel the PaymentIntent at Stripe (after the transaction; a payment that still
    /// slips through is refunded when its webhook arrives).
    pub cancel_intent: bool,
    /// Refund the payment through Stripe (marked pending in the transaction, done right
    /// after it, retried by the sweeper until it is done).
    pub refund: bool,
}

/// One legal move of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub effects: Effects,
}

use Actor::{Admin, Customer, DeliverySimulator, PaymentExpirer, Stripe};
use OrderStatus::{
    Cancelled, Delivered, Expired, OutForDelivery, Paid, PaymentFailed, PendingPayment, Preparing, Shipped,
};

const NONE: Effects = Effects { release_stock: false, cancel_intent: false, refund: false };
const RELEASE_AND_CANCEL_INTENT: Effects = Effects { release_stock: true, cancel_intent: true, refund: false };
const RELEASE_AND_REFUND: Effects = Effects { release_stock: true, cancel_intent: false, refund: true };

/// The whole state machine: from, to, who may, and what else happens.
///
/// `pending_payment → paid` is also the payment expirer's: when the window closes on an
/// order whose intent Stripe says succeeded, the payment was made in time and only its
/// webhook is late. `pending_payment → payment_failed` is Stripe's only at the
/// [`MAX_FAILED_ATTEMPTS`]th declined attempt ([`decline`]); the intent was still payable
/// until then, so it is cancelled.
const MOVES: &[(OrderStatus, OrderStatus, &[Actor], Effects)] = &[
    (PendingPayment, Paid, &[Stripe, PaymentExpirer], NONE),
    (PendingPayment, PaymentFailed, &[Stripe], RELEASE_AND_CANCEL_INTENT),
    (PendingPayment, Expired, &[PaymentExpirer], RELEASE_AND_CANCEL_INTENT),
    (PendingPayment, Cancelled, &[Customer, Admin], RELEASE_AND_CANCEL_INTENT),
    (Paid, Preparing, &[DeliverySimulator], NONE),
    (Paid, Cancelled, &[Customer, Admin], RELEASE_AND_REFUND),
    (Preparing, Shipped, &[DeliverySimulator], NONE),
    (Preparing, Cancelled, &[Customer, Admin], RELEASE_AND_REFUND),
    (Shipped, OutForDelivery, &[DeliverySimulator], NONE),
    (OutForDelivery, Delivered, &[DeliverySimulator], NONE),
];

/// The move from `from` to `to` by `actor`, if the state machine allows it.
pub fn legal_move(from: OrderStatus, to: OrderStatus, actor: Actor) -> Option<Move> {
    MOVES
        .iter()
        .find(|(f, t, actors, _)| *f == from && *t == to && actors.contains(&actor))
        .map(|&(from, to, _, effects)| Move { from, to, effects })
}

/// The move to `to` by `actor`, or a 409 that names the current status.
pub fn require_move(from: OrderStatus, to: OrderStatus, actor: Actor) -> Result<Move> {
    legal_move(from, to, actor)
        .ok_or_else(|| Error::conflict(format!("An order that is {} cannot become {}.", words(from), words(to))))
}

/// The delivery simulator's next step from `from`, if there is one.
pub fn next_delivery_step(from: OrderStatus) -> Option<Move> {
    MOVES
        .iter()
        .find(|(f, _, actors, _)| *f == from && actors.contains(&DeliverySimulator))
        .map(|&(from, to, _, effects)| Move { from, to, effects })
}

/// Declined payment attempts after which an order fails. A declined card does not end an
/// order (the customer may try another card on the same intent), but five declines in a
/// row look like someone testing stolen cards on it.
pub const MAX_FAILED_ATTEMPTS: u32 = 5;

/// What one declined payment attempt (`payment_intent.payment_failed`) does to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decline {
    /// Which declined attempt this is, from 1.
    pub attempt: u32,
    /// At the last attempt allowed, the move that ends the order (`pending_payment →
    /// payment_failed`, stock released, intent cancelled); before it, none: the order keeps
    /// waiting for payment with its stock held.
    pub ends_with: Option<Move>,
}

impl Decline {
    /// Declined attempts the customer still has after this one.
    pub fn attempts_left(self) -> u32 {
        MAX_FAILED_ATTEMPTS.saturating_sub(self.attempt)
    }
}

/// The decline to record on an order in `status` that was declined `failed_before` times,
/// or `None` when the order no longer waits for payment (paid by a later attempt, ended):
/// then a decline changes nothing.
pub fn decline(status: OrderStatus, failed_before: u32) -> Option<Decline> {
    if status != PendingPayment {
        return None;
    }
    let attempt = failed_before.saturating_add(1);
    let ends_with =
        if attempt >= MAX_FAILED_ATTEMPTS { Some(legal_move(PendingPayment, PaymentFailed, Stripe)?) } else { None };
    Some(Decline { attempt, ends_with })
}

fn words(status: OrderStatus) -> &'static str {
    match status {
        PendingPayment => "waiting for payment",
        Paid => "paid",
        Preparing => "being prepared",
        Shipped => "shipped",
        OutForDelivery => "out for delivery",
        Delivered => "delivered",
        Cancelled => "cancelled",
        Expired => "expired",
        PaymentFailed => "failed to pay",
    }
}

/// One line of an order, priced from the catalogue when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub maker_id: UserId,
    pub title: String,
    pub unit_price_cents: u64,
    pub quantity: u64,
    pub subtotal_cents: u64,
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Decided and recorded; the call to Stripe is made right away, retried with backoff
    /// (at most [`MAX_REFUND_ATTEMPTS`] requests), and a refund Stripe reports `pending` is
    /// followed until it settles.
    Pending,
    Succeeded,
    /// Stripe failed or cancelled the refund, or it could not be made in
    /// [`MAX_REFUND_ATTEMPTS`] requests: a person must refund the customer. Final: nothing
    /// retries it. An alarm fires and the customer is emailed.
    Failed,
}

/// Refund requests sent to Stripe for one order before its refund is `failed`. With
/// [`refund_retry_after`]'s backoff the last one goes about two hours after the first.
pub const MAX_REFUND_ATTEMPTS: u32 = 8;

/// How a refund went at Stripe, request by request: what an admin needs to finish it by
/// hand. Only admins see it (`GET /orders/{id}`); the customer sees `refund_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundProgress {
    /// Refund requests sent to Stripe so far (re-reads of a pending refund not counted).
    #[serde(default)]
    pub attempts: u32,
    /// The attempt whose `Idempotency-Key` the next request uses ([`refund_key`]). It stays
    /// when a request got no answer (a timeout: Stripe may have made the refund, and the same
    /// key replays it), and moves on after a definite answer: Stripe keeps an answer, errors
    /// included, for 24 hours, so the same key would get the same error back.
    #[serde(default)]
    pub key_attempt: u32,
    /// The attempt whose request Stripe took (the refund was made, pending or succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_attempt: Option<u32>,
    /// Stripe's own status of the refund: `pending`, `succeeded`, `failed`, `canceled`,
    /// `requires_action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_status: Option<String>,
    /// Stripe's `failure_reason` of a failed refund (`expired_or_canceled_card`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Why the last request did not go through (Stripe's error, or no answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Re-reads of a refund Stripe reported `pending` or `requires_action`.
    #[serde(default)]
    pub checks: u32,
    /// When the payment expirer looks at this refund next, while it is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_try_at: Option<Timestamp>,
}

impl RefundProgress {
    /// The attempt the next request is: the key's attempt, from 1.
    pub fn next_key_attempt(&self) -> u32 {
        self.key_attempt.max(1)
    }
}

/// The Stripe `Idempotency-Key` of refund attempt `attempt` (from 1) of `order`. The first
/// is the key refunds always had, so a refund decided before keys were numbered replays.
pub fn refund_key(order: &OrderId, attempt: u32) -> String {
    if attempt <= 1 {
        format!("order-{}-refund", order.as_str())
    } else {
        format!("order-{}-refund-{attempt}", order.as_str())
    }
}

/// How long after its `n`th try (a request, or a re-read of a pending refund; from 1) a
/// refund is looked at again: one minute, doubling, at most six hours. A Stripe that keeps
/// failing is not called every minute, and [`MAX_REFUND_ATTEMPTS`] requests span about two
/// hours.
pub fn refund_retry_after(n: u32) -> std::time::Duration {
    const FIRST: u64 = 60;
    const MOST: u64 = 6 * 60 * 60;
    let doublings = n.saturating_sub(1).min(16);
    std::time::Duration::from_secs((FIRST << doublings).min(MOST))
}

/// Why the last payment attempt was declined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentError {
    /// Stripe's reason: the card issuer's `decline_code` when there is one (e.g.
    /// `insufficient_funds`), else the error `code` (e.g. `card_declined`).
    pub code: String,
    /// What the shopper can read and act on (never a bank's internal wording).
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Always `stripe`.
    pub provider: String,
    pub payment_intent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<RefundStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// How the refund went at Stripe: admins only ([`Order::for_customer`] drops it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundProgress>,
    /// Declined attempts at paying so far (orders stored before this field have none).
    #[serde(default)]
    pub failed_attempts: u32,
    /// Why the last attempt was declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<PaymentError>,
}

impl Payment {
    /// The payment of an order just placed: its stock is held, Stripe not asked yet. The
    /// intent is recorded next ([`crate::store::Store::record_intent`]).
    pub fn not_started() -> Self {
        Self { client_secret: None, ..Self::stripe("", "") }
    }

    /// Whether Stripe made this order's PaymentIntent (and it was recorded).
    pub fn has_intent(&self) -> bool {
        !self.payment_intent_id.is_empty()
    }

    pub fn stripe(payment_intent_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            provider: "stripe".to_owned(),
            payment_intent_id: payment_intent_id.into(),
            client_secret: Some(client_secret.into()),
            refund_status: None,
            refund_id: None,
            refund: None,
            failed_attempts: 0,
            last_error: None,
        }
    }
}

/// One entry of an order's history: a status it entered, or something that happened in
/// it (`note`, e.g. a refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub status: OrderStatus,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An order as stored and as its customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: UserId,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    pub total_cents: u64,
    pub currency: Currency,
    pub shipping_address: Address,
    pub payment: Payment,
    pub history: Vec<HistoryEntry>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Order {
    /// The makers with a line in this order, each once, in a stable order.
    pub fn maker_ids(&self) -> Vec<UserId> {
        let set: BTreeSet<&str> = self.items.iter().map(|l| l.maker_id.as_str()).collect();
        set.into_iter().map(UserId::new).collect()
    }

    pub fn has_maker(&self, maker: &UserId) -> bool {
        self.items.iter().any(|l| &l.maker_id == maker)
    }

    /// The order after `mv`, made at `now`.
    pub fn moved(&self, mv: Move, now: &Timestamp) -> Self {
        let mut next = self.clone();
        next.status = mv.to;
        next.updated_at = now.clone();
        next.history.push(HistoryEntry { status: mv.to, at: now.clone(), note: None });
        if mv.effects.refund {
            next.payment.refund_status = Some(RefundStatus::Pending);
        }
        next
    }

    /// The order after the declined attempt `decline`, recorded at `now`: the attempt counted,
    /// its error kept, a history note (without the bank's reason, which makers see no
    /// more than the rest of the payment), and at the last attempt the move that ends it.
    pub fn declined(&self, decline: Decline, error: &PaymentError, now: &Timestamp) -> Self {
        let mut next = self.clone();
        next.payment.failed_attempts = decline.attempt;
        next.payment.last_error = Some(error.clone());
        next.updated_at = now.clone();
        next.history.push(HistoryEntry {
            status: self.status,
            at: now.clone(),
            note: Some(format!("payment attempt {} declined", decline.attempt)),
        });
        match decline.ends_with {
            Some(mv) => next.moved(mv, now),
            None => next,
        }
    }

    /// What its customer sees: the order without the refund's internals (Stripe's errors
    /// and attempts are for admins; `refund_status` says all the customer needs).
    pub fn for_customer(&self) -> Self {
        let mut view = self.clone();
        view.payment.refund = None;
        view
    }

    /// What an admin sees: everything but the client secret.
    pub fn for_admin(&self) -> Self {
        let mut view = self.clone();
        view.payment.client_secret = None;
        view
    }

    /// What `maker` sees: its own lines, the address to ship to and the history.
    pub fn for_maker(&self, maker: &UserId) -> MakerOrder {
        let items: Vec<OrderLine> = self.items.iter().filter(|l| &l.maker_id == maker).cloned().collect();
        MakerOrder {
            id: self.id.clone(),
            status: self.status,
            total_cents: items.iter().map(|l| l.subtotal_cents).sum(),
            items,
            currency: self.currency,
            shipping_address: self.shipping_address.clone(),
            history: self.history.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// The detail of the `OrderStatusChanged` event published on the bus for every move
/// (source `makers-market.orders`): one per (order, status), since the state machine never
/// enters a status twice. Consumers may see it more than once and must cope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub previous_status: OrderStatus,
    pub customer_id: UserId,
    pub maker_ids: Vec<UserId>,
    pub total_cents: u64,
    /// When the order entered `status` (its history entry's time).
    pub at: Timestamp,
}

impl OrderStatusChanged {
    pub const SOURCE: &'static str = "makers-market.orders";
    pub const DETAIL_TYPE: &'static str = "OrderStatusChanged";

    /// The event for `order`'s latest move, from `previous` (its status before).
    pub fn of(order: &Order, previous: OrderStatus) -> Self {
        let at = order
            .history
            .iter()
            .rev()
            .find(|e| e.status == order.status && e.note.is_none())
            .map_or_else(|| order.updated_at.clone(), |e| e.at.clone());
        Self {
            order_id: order.id.clone(),
            status: order.status,
            previous_status: previous,
            customer_id: order.customer_id.clone(),
            maker_ids: order.maker_ids(),
            total_cents: order.total_cents,
            at,
        }
    }
}

/// The detail of the `OrderPaymentFailed` event published on the bus (source
/// `makers-market.orders`) when a payment attempt was declined and the order still waits for
/// payment, so that the customer can be asked to try again. The attempt that ends the order
/// publishes `OrderStatusChanged` (`payment_failed`) instead. One per (order, attempt);
/// consumers may see it more than once and must cope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPaymentFailed {
    pub order_id: OrderId,
    pub customer_id: UserId,
    /// Which declined attempt, from 1.
    pub attempt: u32,
    /// Declined attempts left before the order fails.
    pub attempts_left: u32,
    /// Why this attempt was declined.
    pub last_error: PaymentError,
    pub total_cents: u64,
    /// When the decline was recorded.
    pub at: Timestamp,
}

impl OrderPaymentFailed {
    pub const SOURCE: &'static str = OrderStatusChanged::SOURCE;
    pub const DETAIL_TYPE: &'static str = "OrderPaymentFailed";

    /// The event for `order`'s latest declined attempt; `None` if it has none.
    pub fn of(order: &Order) -> Option<Self> {
        let last_error = order.payment.last_error.clone()?;
        let attempt = order.payment.failed_attempts;
        if attempt == 0 {
            return None;
        }
        let at = order
            .history
            .iter()
            .rev()
            .find(|e| e.note.is_some())
            .map_or_else(|| order.updated_at.clone(), |e| e.at.clone());
        Some(Self {
            order_id: order.id.clone(),
            customer_id: order.customer_id.clone(),
            attempt,
            attempts_left: MAX_FAILED_ATTEMPTS.saturating_sub(attempt),
            last_error,
            total_cents: order.total_cents,
            at,
        })
    }
}

/// The detail of the `OrderRefundFailed` event published on the bus (source
/// `makers-market.orders`) when an order's refund became `failed`, so that the customer is
/// told. One per order: a failed refund is final. Consumers may see it more than once and
/// must cope. Stripe's reasons are not in it (they are for admins, on the order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRefundFailed {
    pub order_id: OrderId,
    pub customer_id: UserId,
    pub status: OrderStatus,
    pub total_cents: u64,
    /// When the refund was recorded failed.
    pub at: Timestamp,
}

impl OrderRefundFailed {
    pub const SOURCE: &'static str = OrderStatusChanged::SOURCE;
    pub const DETAIL_TYPE: &'static str = "OrderRefundFailed";

    /// The event for `order`, if its refund failed.
    pub fn of(order: &Order) -> Option<Self> {
        if order.payment.refund_status != Some(RefundStatus::Failed) {
            return None;
        }
        let at = order
            .history
            .iter()
            .rev()
            .find(|e| e.note.as_deref() == Some("refund failed"))
            .map_or_else(|| order.updated_at.clone(), |e| e.at.clone());
        Some(Self {
            order_id: order.id.clone(),
            customer_id: order.customer_id.clone(),
            status: order.status,
            total_cents: order.total_cents,
            at,
        })
    }
}

/// An order as one of its makers sees it: only that maker's lines (and their total), no
/// customer id, no payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakerOrder {
    pub id: OrderId,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    pub total_cents: u64,
    pub currency: Currency,
    pub shipping_address: Address,
    pub history: Vec<HistoryEntry>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub const MAX_LINES: usize = 50;
/// Stripe's smallest charge in euros: a smaller order could never be paid.
pub const MIN_TOTAL_CENTS: u64 = 50;
/// Stripe's largest charge (999 999.99 EUR): a larger order could never be paid either.
pub const MAX_TOTAL_CENTS: u64 = 99_999_999;
pub const MAX_QUANTITY: i64 = 100;
/// A placing transaction writes the order, one update per line, one index item per maker,
/// the idempotency record and the customer's unpaid-orders item; a move out of
/// `pending_payment` may write the order, the makers' items, a release per line, a Stripe
/// event record and the unpaid-orders item. DynamoDB's 100-item limit leaves room for 47
/// makers when all 50 lines are used.
pub const MAX_MAKERS: usize = 47;
/// The most orders a customer may hold in `pending_payment` at once (API.md, "Limits that
/// protect the stock"): unpaid orders hold stock, so one customer cannot hoard it.
pub const MAX_UNPAID_ORDERS: usize = 3;

/// `POST /orders` as the client sends it. Fields the server computes (prices, titles,
/// totals) are accepted, with the types the server gives them, and ignored: the catalogue
/// is the only source of prices.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    pub items: Vec<LineInput>,
    #[serde(default, deserialize_with = "non_null")]
    pub shipping_address: Option<Address>,
    #[serde(default, rename = "total_cents", deserialize_with = "non_null")]
    _total_cents: Option<i64>,
    #[serde(default, rename = "currency", deserialize_with = "non_null")]
    _currency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub product_id: String,
    pub quantity: i64,
    #[serde(default, rename = "unit_price_cents", deserialize_with = "non_null")]
    _unit_price_cents: Option<i64>,
    #[serde(default, rename = "price_cents", deserialize_with = "non_null")]
    _price_cents: Option<i64>,
    #[serde(default, rename = "subtotal_cents", deserialize_with = "non_null")]
    _subtotal_cents: Option<i64>,
    #[serde(default, rename = "title", deserialize_with = "non_null")]
    _title: Option<String>,
    #[serde(default, rename = "maker_id", deserialize_with = "non_null")]
    _maker_id: Option<String>,
}

/// A checked `POST /orders`: 1–50 distinct products, 1–100 of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub lines: Vec<(ProductId, u64)>,
    pub shipping_address: Option<Address>,
}

impl NewOrder {
    pub fn parse(input: OrderInput) -> Result<Self> {
        let mut check = Check::default();
        if input.items.is_empty() || input.items.len() > MAX_LINES {
            check.fail("items", format!("must hold 1 to {MAX_LINES} lines"));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut lines = Vec::with_capacity(input.items.len());
        for (i, line) in input.items.iter().enumerate() {
            let id = ProductId::parse(&line.product_id);
            if id.is_none() {
                check.fail(&format!("items[{i}].product_id"), "is not a product id");
            }
            if let Some(first) = seen.insert(line.product_id.as_str(), i) {
                check.fail(&format!("items[{i}].product_id"), format!("repeats items[{first}]; order it once"));
            }
            let quantity = check.take(
                &format!("items[{i}].quantity"),
                u64::try_from(line.quantity)
                    .ok()
                    .filter(|q| (1..=MAX_QUANTITY as u64).contains(q))
                    .ok_or_else(|| format!("must be an integer from 1 to {MAX_QUANTITY}")),
            );
            if let (Some(id), Some(quantity)) = (id, quantity) {
                lines.push((id, quantity));
            }
        }
        let shipping_address = match input.shipping_address {
            None => Some(None),
            Some(address) => address.check(&mut check, "shipping_address").map(Some),
        };
        check.finish(|| Some(Self { lines, shipping_address: shipping_address? }))
    }

    /// The order's lines priced from `catalogue`, with the address to ship to: the one sent,
    /// else the profile's. Unknown or archived products and a missing address are 400s
    /// naming their field; lines short of stock are one 409 naming every short product.
    pub fn price(
        &self,
        catalogue: &HashMap<ProductId, Product>,
        profile_address: Option<&Address>,
    ) -> Result<(Vec<OrderLine>, Address)> {
        let mut check = Check::default();
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut short = Vec::new();
        for (i, (id, quantity)) in self.lines.iter().enumerate() {
            match catalogue.get(id) {
                Some(p) if p.status == ProductStatus::Active => {
                    if p.stock < *quantity {
                        short.push(short_of_stock(i, p, *quantity));
                    }
                    lines.push(OrderLine {
                        product_id: p.id.clone(),
                        maker_id: p.maker_id.clone(),
                        title: p.title.clone(),
                        unit_price_cents: p.price_cents,
                        quantity: *quantity,
                        subtotal_cents: p.price_cents * quantity,
                    });
                }
                _ => check.fail(&format!("items[{i}].product_id"), "is not a product on sale"),
            }
        }
        let address = self.shipping_address.clone().or_else(|| profile_address.cloned());
        if address.is_none() {
            check.fail("shipping_address", "is required: your profile has no shipping address to use");
        }
        let total: u64 = lines.iter().map(|l| l.subtotal_cents).sum();
        if lines.len() == self.lines.len() && total < MIN_TOTAL_CENTS {
            check.fail(
                "items",
                format!("must total at least {MIN_TOTAL_CENTS} cents, the smallest payment Stripe takes"),
            );
        }
        if total > MAX_TOTAL_CENTS {
            check.fail(
                "items",
                format!(
                    "must total at most {MAX_TOTAL_CENTS} cents (999 999.99 EUR), the largest payment Stripe takes"
                ),
            );
        }
        let makers: BTreeSet<&str> = lines.iter().map(|l| l.maker_id.as_str()).collect();
        if makers.len() > MAX_MAKERS {
            check.fail("items", format!("may hold products of at most {MAX_MAKERS} makers"));
        }
        let (lines, address) = check.finish(|| Some((lines, address?)))?;
        if !short.is_empty() {
            return Err(not_enough_stock(short));
        }
        Ok((lines, address))
    }
}

/// The field error for line `index`, short of stock.
pub fn short_of_stock(index: usize, product: &Product, wanted: u64) -> FieldError {
    FieldError::new(
        format!("items[{index}].quantity"),
        format!("{} ({}): {} wanted, {} in stock", product.title, product.id.as_str(), wanted, product.stock),
    )
}

/// The 409 for lines short of stock, each named.
pub fn not_enough_stock(short: Vec<FieldError>) -> Error {
    Error::Conflict { detail: "Not enough stock for some products; nothing was reserved.".into(), errors: short }
}

/// A sample order for unit tests: customer `ada`, in `status` (its history holds that one
/// entry), with one line per `(maker, title, unit price, quantity)`, shipped to Porto.
#[cfg(test)]
pub(crate) fn sample_order(status: OrderStatus, lines: &[(&str, &str, u64, u64)]) -> Order {
    let at = Timestamp::from_stored("2026-12-02T10:00:00.000Z".to_owned());
    let items: Vec<OrderLine> = lines
        .iter()
        .map(|&(maker, title, unit, quantity)| OrderLine {
            product_id: ProductId::generate(),
            maker_id: UserId::new(maker),
            title: title.to_owned(),
            unit_price_cents: unit,
            quantity,
            subtotal_cents: unit * quantity,
        })
        .collect();
    Order {
        id: OrderId::generate(),
        customer_id: UserId::new("ada"),
        status,
        total_cents: items.iter().map(|l| l.subtotal_cents).sum(),
        items,
        currency: Currency::Eur,
        shipping_address: Address {
            name: "Ada Lovelace".into(),
            line1: "Rua das Flores 12".into(),
            line2: None,
            city: "Porto".into(),
            postal_code: "4050-262".into(),
            country: "PT".into(),
        },
        payment: Payment::stripe("pi_1", "pi_1_secret_x"),
        history: vec![HistoryEntry { status, at: at.clone(), note: None }],
        created_at: at.clone(),
        updated_at: at,
    }
}

#[cfg(test)]
mod moves_table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_moves_are_legal_and_only_for_their_actors() {
        assert!(legal_move(PendingPayment, Paid, Stripe).is_some());
        assert!(legal_move(PendingPayment, Paid, Customer).is_none());
        assert!(legal_move(Paid, PendingPayment, Stripe).is_none());
        assert!(legal_move(Shipped, Cancelled, Customer).is_none());
        assert!(legal_move(Expired, Paid, Stripe).is_none());
        assert_eq!(legal_move(Paid, Cancelled, Admin).map(|m| m.effects), Some(RELEASE_AND_REFUND));
        assert_eq!(legal_move(PendingPayment, Cancelled, Customer).map(|m| m.effects), Some(RELEASE_AND_CANCEL_INTENT));
        assert!(require_move(Delivered, Cancelled, Customer).is_err_and(|e| e.status() == 409));
        // The expirer may find a payment Stripe took in time; it may not fail one.
        assert_eq!(legal_move(PendingPayment, Paid, PaymentExpirer).map(|m| m.effects), Some(NONE));
        assert!(legal_move(PendingPayment, PaymentFailed, PaymentExpirer).is_none());
        assert!(legal_move(Expired, Paid, PaymentExpirer).is_none());
    }

    fn card_declined() -> PaymentError {
        PaymentError { code: "card_declined".into(), message: "Your card was declined.".into() }
    }

    #[test]
    fn a_declined_card_keeps_the_order_waiting_until_the_fifth_decline_ends_it() {
        assert_eq!(MAX_FAILED_ATTEMPTS, 5, "API.md: after 5 failed attempts");
        let now = Timestamp::from_stored("2026-12-02T10:05:00.000Z".to_owned());
        let mut order = sample_order(PendingPayment, &[("m-1", "Mug", 2400, 2)]);
        for attempt in 1..MAX_FAILED_ATTEMPTS {
            let d = decline(order.status, order.payment.failed_attempts);
            assert_eq!(d, Some(Decline { attempt, ends_with: None }));
            let Some(d) = d else { return };
            assert_eq!(d.attempts_left(), MAX_FAILED_ATTEMPTS - attempt);
            order = order.declined(d, &card_declined(), &now);
            assert_eq!((order.status, order.payment.failed_attempts), (PendingPayment, attempt));
            assert_eq!(order.payment.last_error, Some(card_declined()));
            let note = order.history.last().and_then(|h| h.note.clone());
            assert_eq!(note, Some(format!("payment attempt {attempt} declined")));
        }
        let last = decline(order.status, order.payment.failed_attempts);
        assert_eq!(
            last.and_then(|d| d.ends_with).map(|m| (m.to, m.effects)),
            Some((PaymentFailed, RELEASE_AND_CANCEL_INTENT))
        );
        let Some(last) = last else { return };
        let failed = order.declined(last, &card_declined(), &now);
        assert_eq!((failed.status, failed.payment.failed_attempts), (PaymentFailed, MAX_FAILED_ATTEMPTS));
        let tail: Vec<(OrderStatus, bool)> =
            failed.history.iter().rev().take(2).map(|h| (h.status, h.note.is_some())).collect();
        assert_eq!(tail, vec![(PaymentFailed, false), (PendingPayment, true)], "the note, then the move");
        // A decline that comes after the order was paid, or ended, records nothing.
        assert_eq!(decline(PaymentFailed, MAX_FAILED_ATTEMPTS), None);
        assert_eq!(decline(Paid, 1), None);
        assert_eq!(decline(Expired, 0), None);
    }

    #[test]
    fn a_declined_attempt_is_an_event_with_its_number_and_error() {
        let now = Timestamp::from_stored("2026-12-02T10:05:00.000Z".to_owned());
        let order = sample_order(PendingPayment, &[("m-1", "Mug", 2400, 2)]);
        assert_eq!(OrderPaymentFailed::of(&order), None);
        let Some(d) = decline(order.status, 0) else { return };
        let declined = order.declined(d, &card_declined(), &now);
        let event = OrderPaymentFailed::of(&declined);
        assert_eq!(event.as_ref().map(|e| (e.attempt, e.attempts_left)), Some((1, MAX_FAILED_ATTEMPTS - 1)));
        assert_eq!(event.as_ref().map(|e| e.at.as_str()), Some("2026-12-02T10:05:00.000Z"));
        assert_eq!(event.map(|e| e.last_error), Some(card_declined()));
    }

    #[test]
    fn refund_keys_are_numbered_after_the_first_and_retries_back_off_to_six_hours() {
        let id = OrderId::generate();
        assert_eq!(refund_key(&id, 0), format!("order-{}-refund", id.as_str()));
        assert_eq!(refund_key(&id, 1), format!("order-{}-refund", id.as_str()));
        assert_eq!(refund_key(&id, 2), format!("order-{}-refund-2", id.as_str()));
        assert_eq!(RefundProgress::default().next_key_attempt(), 1);
        let waits: Vec<u64> = (1..=10).map(|n| refund_retry_after(n).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600]);
        assert_eq!(refund_retry_after(u32::MAX).as_secs(), 6 * 3600);
        // The attempts allowed span about two hours: given up in hours, not days, nor minutes.
        let span: u64 = (1..MAX_REFUND_ATTEMPTS).map(|n| refund_retry_after(n).as_secs()).sum();
        assert!((3600..4 * 3600).contains(&span), "{span}");
    }

    #[test]
    fn a_customer_sees_the_refunds_status_and_only_admins_its_internals() {
        let mut order = sample_order(Cancelled, &[("m-1", "Mug", 2400, 1)]);
        order.payment.refund_status = Some(RefundStatus::Failed);
        order.payment.refund =
            Some(RefundProgress { attempts: 8, last_error: Some("Stripe answered 400".into()), ..Default::default() });
        assert_eq!(order.for_customer().payment.refund, None);
        assert_eq!(order.for_customer().payment.refund_status, Some(RefundStatus::Failed));
        assert_eq!(order.for_admin().payment.refund, order.payment.refund);
        let json = serde_json::to_value(order.for_customer()).unwrap_or_default();
        assert!(json["payment"].get("refund").is_none() && json["payment"]["refund_status"] == "failed", "{json}");
    }

    #[test]
    fn the_delivery_simulator_walks_one_step_at_a_time_to_delivered() {
        let mut status = Paid;
        let mut steps = vec![status];
        while let Some(mv) = next_delivery_step(status) {
            status = mv.to;
            steps.push(status);
        }
        assert_eq!(steps, vec![Paid, Preparing, Shipped, OutForDelivery, Delivered]);
        assert!(next_delivery_step(PendingPayment).is_none());
        assert!(next_delivery_step(Cancelled).is_none());
    }

    #[test]
    fn every_status_has_a_name_that_parses_back() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }

    fn input(json: serde_json::Value) -> OrderInput {
        serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
    }

    fn fields(result: Result<NewOrder>) -> Vec<String> {
        match result {
            Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    const P1: &str = "prd_01JDQ4Y8Z5N8X7W6V5T4S3R2Q1";
    const P2: &str = "prd_01JDQ4Y8Z5N8X7W6V5T4S3R2Q2";

    #[test]
    fn lines_are_checked_and_each_error_names_its_field() {
        let ok = NewOrder::parse(input(serde_json::json!({"items": [{"product_id": P1, "quantity": 2}]})));
        assert_eq!(ok.map(|o| o.lines.len()).ok(), Some(1));
        assert_eq!(fields(NewOrder::parse(input(serde_json::json!({"items": []})))), vec!["items"]);
        let bad = input(serde_json::json!({"items": [
            {"product_id": P1, "quantity": 1},
            {"product_id": P2, "quantity": 0},
            {"product_id": P1, "quantity": 101},
            {"product_id": "nope", "quantity": 1},
        ]}));
        assert_eq!(
            fields(NewOrder::parse(bad)),
            vec!["items[1].quantity", "items[2].product_id", "items[2].quantity", "items[3].product_id"]
        );
        let many: Vec<_> = (0..51).map(|_| serde_json::json!({"product_id": P1, "quantity": 1})).collect();
        assert!(fields(NewOrder::parse(input(serde_json::json!({"items": many})))).contains(&"items".to_owned()));
    }

    #[test]
    fn client_sent_prices_are_accepted_and_ignored() {
        let order = NewOrder::parse(input(serde_json::json!({
            "items": [{"product_id": P1, "quantity": 1, "unit_price_cents": 1}],
            "total_cents": 1,
        })));
        assert_eq!(
            order.map(|o| o.lines).ok(),
            Some(vec![(ProductId::parse(P1).unwrap_or_else(ProductId::generate), 1)])
        );
    }

    #[test]
    fn order_ids_are_issued_in_order_and_parse_back() {
        let a = OrderId::generate();
        let b = OrderId::generate();
        assert!(a < b);
        assert_eq!(OrderId::parse(a.as_str()), Some(a));
        assert_eq!(OrderId::parse("ord_x"), None);
        assert_eq!(OrderId::parse("prd_01JDQ4Y8Z5N8X7W6V5T4S3R2Q1"), None);
    }
}
