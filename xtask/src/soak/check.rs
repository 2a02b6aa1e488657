//! The soak's invariants, as pure functions over what was observed: the table at the start
//! and at the end, localstripe's intents and refunds, the events that reached the bus, the
//! emails moto's SES sent, and every HTTP answer the stack gave. Nothing here does I/O, so
//! each check is tested below on crafted data that breaks it.
//!
//! The checks read the contract (API.md), not the code: an order's `status`, `items`,
//! `total_cents`, `payment.payment_intent_id` and `history`; a product's `stock`; an intent's
//! `metadata.order_id`, `amount` and `status`; a refund's `payment_intent` and `status`.
//! Statuses they do not know (a later `refund_status`, a product `removed`) change nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

/// Statuses in which an order holds its stock (from placing on; `delivered` keeps it sold).
pub const HOLDING: [&str; 6] = ["pending_payment", "paid", "preparing", "shipped", "out_for_delivery", "delivered"];
/// Statuses that mean the customer's payment was taken and kept.
pub const PAID_OR_LATER: [&str; 5] = ["paid", "preparing", "shipped", "out_for_delivery", "delivered"];
/// Statuses that end an order and give its stock back.
pub const RELEASED: [&str; 3] = ["cancelled", "expired", "payment_failed"];
/// Statuses on the delivery path, moved on by the delivery simulator every dwell.
pub const IN_DELIVERY: [&str; 4] = ["paid", "preparing", "shipped", "out_for_delivery"];

/// An order as the table holds it (times in seconds since the Unix epoch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderView {
    pub id: String,
    pub customer_id: String,
    pub status: String,
    /// (product id, maker id, quantity)
    pub items: Vec<(String, String, i64)>,
    pub total_cents: i64,
    pub intent_id: String,
    /// (status, at) in order; a declined attempt adds a note with the same status.
    pub history: Vec<(String, f64)>,
    pub created_at: f64,
    /// Declined card attempts recorded on the order.
    pub failed_attempts: i64,
    /// `payment.refund_status`, if a refund was started.
    pub refund_status: Option<String>,
}

impl OrderView {
    /// The statuses the order moved to, in order (the first entry is where it started).
    pub fn transitions(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for pair in self.history.windows(2) {
            if pair[0].0 != pair[1].0 {
                out.push(pair[1].0.as_str());
            }
        }
        out
    }

    fn was(&self, status: &str) -> bool {
        self.history.iter().any(|(s, _)| s == status)
    }

    fn makers(&self) -> BTreeSet<&str> {
        self.items.iter().map(|(_, maker, _)| maker.as_str()).collect()
    }
}

/// A PaymentIntent at localstripe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntentView {
    pub id: String,
    pub order_id: Option<String>,
    pub amount: i64,
    pub status: String,
}

/// A refund at localstripe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefundView {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub status: String,
}

/// An `OrderStatusChanged` that reached the bus (read from a queue the soak's own rule
/// fills), one per EventBridge event id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventView {
    pub order_id: String,
    pub status: String,
    pub previous_status: String,
    /// When the bus's rule put it on the soak's queue (SQS `SentTimestamp`), seconds since
    /// the soak started.
    pub enqueued: Duration,
}

/// An email moto's SES sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmailView {
    pub to: String,
    pub subject: String,
}

/// One HTTP answer of the stack (`status` 0: none, the client gave up or lost the
/// connection), times since the soak started.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub route: &'static str,
    pub sent: Duration,
    pub took: Duration,
    pub status: u16,
    /// Whether the contract allows this answer here (a 409 for a fourth unpaid order is;
    /// a 401 for a valid token is not). 5xx are judged by [`check_http`] instead.
    pub expected: bool,
}

/// A fault, while it was on.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultWindow {
    pub name: &'static str,
    pub start: Duration,
    pub end: Duration,
    /// Whether the stack may answer 502/503/504 because of it (a webhook delivered twice
    /// or late must not cause any).
    pub may_fail_requests: bool,
    /// Whether EventBridge was unreachable: a `PutEvents` that timed out on the publisher's
    /// side may still be taken when the bus comes back, and the publisher, not knowing,
    /// publishes again. Delivery is at least once by design (`shared::events`), and no
    /// client can make a timed-out call exactly-once: such copies are counted, not failed.
    pub bus_unreachable: bool,
}

/// Everything the checks look at.
#[derive(Debug, Default)]
pub struct Observed {
    /// product id → stock, at the start and at the end.
    pub stock_start: BTreeMap<String, i64>,
    pub stock_end: BTreeMap<String, i64>,
    /// Orders in the table at the start (demo data) and at the end.
    pub orders_start: Vec<OrderView>,
    pub orders_end: Vec<OrderView>,
    pub intents: Vec<IntentView>,
    pub refunds: Vec<RefundView>,
    pub events: Vec<EventView>,
    pub emails: Vec<EmailView>,
    /// customer id → email address, for the soak's customers.
    pub customer_emails: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
    pub faults: Vec<FaultWindow>,
    /// Idempotency-Key → the distinct order ids the API answered with for it.
    pub idempotent_answers: BTreeMap<String, BTreeSet<String>>,
    /// When the end snapshot was taken (seconds since the Unix epoch).
    pub now: f64,
    pub payment_window: Duration,
    pub dwell: Duration,
    /// How long after a fault a 5xx or a late step is still its doing.
    pub grace: Duration,
}

/// One invariant, checked.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    /// What was checked, in numbers.
    pub summary: String,
    pub violations: Vec<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Every check, in the order they are printed.
pub fn all(o: &Observed) -> Vec<Check> {
    vec![
        check_stock(o),
        check_money(o),
        check_progress(o),
        check_events(o),
        check_emails(o),
        check_http(o),
        check_answers(o),
        check_idempotency(o),
    ]
}

fn units_held(orders: &[OrderView]) -> BTreeMap<String, i64> {
    let mut held: BTreeMap<String, i64> = BTreeMap::new();
    for order in orders.iter().filter(|o| HOLDING.contains(&o.status.as_str())) {
        for (product, _, quantity) in &order.items {
            *held.entry(product.clone()).or_default() += quantity;
        }
    }
    held
}

/// Stock is conserved: for every product, stock + units held by orders is the same at the
/// end as at the start (no unit lost, none sold twice, none released twice).
pub fn check_stock(o: &Observed) -> Check {
    let (held_start, held_end) = (units_held(&o.orders_start), units_held(&o.orders_end));
    let products: BTreeSet<&String> = o.stock_start.keys().chain(o.stock_end.keys()).collect();
    let mut violations = Vec::new();
    for product in &products {
        let get = |m: &BTreeMap<String, i64>| m.get(*product).copied().unwrap_or(0);
        let (before, after) = (get(&o.stock_start) + get(&held_start), get(&o.stock_end) + get(&held_end));
        if before != after {
            violations.push(format!(
                "{product}: stock {} + {} held at the start, but stock {} + {} held at the end ({:+} units)",
                get(&o.stock_start),
                get(&held_start),
                get(&o.stock_end),
                get(&held_end),
                after - before
            ));
        }
        if get(&o.stock_end) < 0 {
            violations.push(format!("{product}: negative stock {}", get(&o.stock_end)));
        }
    }
    let units: i64 = held_end.values().sum();
    Check {
        name: "stock conserved per product",
        summary: format!("{} products, {units} units held by live orders at the end", products.len()),
        violations,
    }
}

/// Money: a paid (or later) order has exactly one succeeded intent, for its total; an order
/// that ended (cancelled, expired, failed) whose payment succeeded has exactly one succeeded
/// refund; a paid, not-cancelled order has no refund; no money is taken without an order.
pub fn check_money(o: &Observed) -> Check {
    let mut intents_of: BTreeMap<&str, Vec<&IntentView>> = BTreeMap::new();
    let mut orphans = Vec::new();
    let orders: BTreeSet<&str> = o.orders_end.iter().map(|x| x.id.as_str()).collect();
    for intent in &o.intents {
        match intent.order_id.as_deref() {
            Some(id) if orders.contains(id) => intents_of.entry(id).or_default().push(intent),
            _ => orphans.push(intent),
        }
    }
    let mut refunds_of: BTreeMap<&str, Vec<&RefundView>> = BTreeMap::new();
    for refund in &o.refunds {
        refunds_of.entry(refund.payment_intent.as_str()).or_default().push(refund);
    }
    let refunds_for = |intents: &[&IntentView]| -> Vec<&RefundView> {
        intents.iter().flat_map(|i| refunds_of.get(i.id.as_str()).cloned().unwrap_or_default()).collect()
    };
    let mut violations = Vec::new();
    let (mut paid, mut refunded) = (0, 0);
    for order in &o.orders_end {
        let intents = intents_of.get(order.id.as_str()).cloned().unwrap_or_default();
        let succeeded: Vec<&&IntentView> = intents.iter().filter(|i| i.status == "succeeded").collect();
        let refunds = refunds_for(&intents);
        let good_refunds = refunds.iter().filter(|r| r.status == "succeeded").count();
        if !intents.iter().any(|i| i.id == order.intent_id) {
            violations.push(format!("{}: its intent {} is not at Stripe", order.id, order.intent_id));
        }
        if succeeded.len() > 1 {
            violations.push(format!("{} ({}): {} succeeded intents", order.id, order.status, succeeded.len()));
        }
        let status = order.status.as_str();
        if PAID_OR_LATER.contains(&status) {
            paid += 1;
            match succeeded.first() {
                None => violations.push(format!("{} is {status} with no succeeded intent", order.id)),
                Some(i) if i.amount != order.total_cents => violations.push(format!(
                    "{} is {status}: its intent took {} cents for a total of {}",
                    order.id, i.amount, order.total_cents
                )),
                Some(_) => {}
            }
            if !refunds.is_empty() {
                violations.push(format!("{} is {status} and was refunded {} time(s)", order.id, refunds.len()));
            }
        } else if RELEASED.contains(&status) && !succeeded.is_empty() {
            refunded += 1;
            if good_refunds != 1 {
                let states: Vec<&str> = refunds.iter().map(|r| r.status.as_str()).collect();
                violations.push(format!(
                    "{} is {status}, its payment succeeded, and it has {good_refunds} succeeded refunds (refunds: {states:?})",
                    order.id
                ));
            }
        } else if status == "pending_payment" && !succeeded.is_empty() {
            // Paid at Stripe, not yet marked: only while its webhook or the expirer is due.
            violations.push(format!("{} is still pending_payment though its intent succeeded", order.id));
        }
    }
    for intent in orphans.iter().filter(|i| i.status == "succeeded") {
        let refunds =
            refunds_of.get(intent.id.as_str()).map_or(0, |r| r.iter().filter(|r| r.status == "succeeded").count());
        if refunds != 1 {
            violations.push(format!(
                "intent {} (order {:?}) succeeded with no order in the table, refunded {refunds} times",
                intent.id, intent.order_id
            ));
        }
    }
    Check {
        name: "money: one payment per paid order, one refund per ended paid order",
        summary: format!(
            "{} intents, {} refunds; {paid} orders paid or later, {refunded} ended after payment",
            o.intents.len(),
            o.refunds.len()
        ),
        violations,
    }
}

/// Every order is final or moving on: nothing waits for payment past the window (plus the
/// expirer's period and `grace`), no paid order sits in a delivery step for more than three
/// dwells (plus `grace`).
pub fn check_progress(o: &Observed) -> Check {
    let mut violations = Vec::new();
    let window = o.payment_window.as_secs_f64() + o.grace.as_secs_f64();
    let step = 3.0 * o.dwell.as_secs_f64() + o.grace.as_secs_f64();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for order in &o.orders_end {
        *by_status.entry(order.status.as_str()).or_default() += 1;
        let since = |at: f64| o.now - at;
        if order.status == "pending_payment" && since(order.created_at) > window {
            violations.push(format!(
                "{} still pending_payment {:.0} s after it was placed (window {} s)",
                order.id,
                since(order.created_at),
                o.payment_window.as_secs()
            ));
        }
        if IN_DELIVERY.contains(&order.status.as_str()) {
            let entered = order.history.last().map_or(order.created_at, |(_, at)| *at);
            if since(entered) > step {
                violations.push(format!(
                    "{} still {} {:.0} s after entering it (dwell {} s)",
                    order.id,
                    order.status,
                    since(entered),
                    o.dwell.as_secs()
                ));
            }
        }
    }
    let mut summary = format!("{} orders:", o.orders_end.len());
    for (status, n) in &by_status {
        let _ = write!(summary, " {status} {n},");
    }
    summary.pop();
    Check { name: "every order final or moving on", summary, violations }
}

/// Exactly one `OrderStatusChanged` on the bus per transition in an order's history, and
/// none for a transition that did not happen.
pub fn check_events(o: &Observed) -> Check {
    let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for e in &o.events {
        *seen.entry((e.order_id.as_str(), e.status.as_str())).or_default() += 1;
    }
    let mut expected: BTreeSet<(&str, &str)> = BTreeSet::new();
    for order in o.orders_start.iter().chain(&o.orders_end) {
        for status in order.transitions() {
            expected.insert((order.id.as_str(), status));
        }
    }
    // Transitions of demo orders made before the soak's queue existed are not on it.
    let before: BTreeSet<(&str, &str)> =
        o.orders_start.iter().flat_map(|x| x.transitions().into_iter().map(move |s| (x.id.as_str(), s))).collect();
    let bus_down = |e: &EventView| {
        o.faults.iter().any(|f| f.bus_unreachable && e.enqueued >= f.start && e.enqueued <= f.end + o.grace)
    };
    let mut violations = Vec::new();
    let mut excused = 0;
    for key in expected.difference(&before) {
        match seen.get(key).copied().unwrap_or(0) {
            1 => {}
            n if n > 1 && o.events.iter().any(|e| (e.order_id.as_str(), e.status.as_str()) == *key && bus_down(e)) => {
                excused += n - 1;
            }
            n => violations.push(format!("{} → {}: {n} events on the bus", key.0, key.1)),
        }
    }
    for (key, n) in &seen {
        if !expected.contains(key) {
            violations.push(format!("{} → {}: {n} event(s) for a transition the order never made", key.0, key.1));
        }
    }
    Check {
        name: "one OrderStatusChanged per transition",
        summary: format!(
            "{} transitions, {} events on the bus ({excused} extra copies published again after EventBridge was frozen)",
            expected.len() - before.len(),
            o.events.len()
        ),
        violations,
    }
}

/// Emails: the customer gets one email per status the order reached and one per declined
/// attempt that left it payable; each maker one on `paid`; nobody the same email twice.
pub fn check_emails(o: &Observed) -> Check {
    let mut violations = Vec::new();
    let mut counted = 0;
    for order in &o.orders_end {
        let Some(customer) = o.customer_emails.get(&order.customer_id) else { continue };
        let mine: Vec<&EmailView> = o.emails.iter().filter(|e| e.subject.contains(order.id.as_str())).collect();
        counted += mine.len();
        let declined = shared::email::subject_for_declined(&order.id);
        let customer_prefix = format!("Your Makers Market order {}: ", order.id);
        let maker_prefix = format!("Makers Market order {} is paid:", order.id);
        // Status emails: one per (recipient, subject); declined ones may repeat, one per attempt.
        let mut per_subject: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for e in mine.iter().filter(|e| e.subject != declined) {
            *per_subject.entry((e.to.as_str(), e.subject.as_str())).or_default() += 1;
        }
        for ((to, subject), n) in &per_subject {
            if *n > 1 {
                violations.push(format!("{}: {n} × \"{subject}\" to {to}", order.id));
            }
        }
        let statuses = mine
            .iter()
            .filter(|e| e.to == *customer && e.subject.starts_with(&customer_prefix) && e.subject != declined);
        let distinct: BTreeSet<&str> = statuses.map(|e| e.subject.as_str()).collect();
        let transitions = order.transitions().len();
        if distinct.len() != transitions {
            violations.push(format!(
                "{}: {transitions} transitions ({:?}) but {} distinct status emails to the customer",
                order.id,
                order.transitions(),
                distinct.len()
            ));
        }
        // The notifier skips the "try again" email of an attempt the order has moved on from
        // (paid by a later card, ended, a newer decline): at most one per attempt.
        let last_attempt_ended_it = usize::from(order.status == "payment_failed");
        let attempts = usize::try_from(order.failed_attempts).unwrap_or(0).saturating_sub(last_attempt_ended_it);
        let got_declined = mine.iter().filter(|e| e.subject == declined && e.to == *customer).count();
        if got_declined > attempts {
            violations.push(format!(
                "{}: {attempts} declined attempts left it payable, {got_declined} \"try again\" emails",
                order.id
            ));
        }
        let maker_emails = mine.iter().filter(|e| e.subject.starts_with(&maker_prefix)).count();
        let want_makers = if order.was("paid") { order.makers().len() } else { 0 };
        if maker_emails != want_makers {
            violations
                .push(format!("{}: {want_makers} makers to tell of the payment, {maker_emails} emails", order.id));
        }
    }
    Check {
        name: "one email per (order, status, recipient)",
        summary: format!("{counted} order emails for {} orders", o.orders_end.len()),
        violations,
    }
}

/// Whether a request was in flight while a fault that may fail requests was on (or within
/// `grace` after it ended).
pub fn during_fault(sample: &Sample, faults: &[FaultWindow], grace: Duration) -> Option<&'static str> {
    let (from, to) = (sample.sent, sample.sent + sample.took);
    let overlaps = |grace: Duration| {
        faults.iter().filter(|f| f.may_fail_requests).find(|f| from <= f.end + grace && to >= f.start).map(|f| f.name)
    };
    // Named after the fault that was on, rather than one whose grace was still running.
    overlaps(Duration::ZERO).or_else(|| overlaps(grace))
}

/// HTTP: no 500 ever; a 502/503/504 or no answer only while a fault was on.
pub fn check_http(o: &Observed) -> Check {
    let mut violations = Vec::new();
    let mut excused: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &o.samples {
        let failed = s.status >= 500 || s.status == 0;
        if !failed {
            continue;
        }
        let at = format!("{} at {:.1} s (took {:.1} s)", s.route, s.sent.as_secs_f64(), s.took.as_secs_f64());
        if s.status == 500 {
            violations.push(format!("500 for {at}"));
            continue;
        }
        match during_fault(s, &o.faults, o.grace) {
            Some(fault) => *excused.entry(fault).or_default() += 1,
            None if s.status == 0 => violations.push(format!("no answer for {at}, with no fault on")),
            None => violations.push(format!("{} for {at}, with no fault on", s.status)),
        }
    }
    let fives = o.samples.iter().filter(|s| s.status >= 500).count();
    let mut summary = format!("{} answers, {fives} 5xx", o.samples.len());
    if !excused.is_empty() {
        let _ = write!(summary, "; failed while a fault was on: {excused:?}");
    }
    Check { name: "HTTP: no 500, 5xx only during faults", summary, violations }
}

/// Every answer below 500 is one the contract allows for that request.
pub fn check_answers(o: &Observed) -> Check {
    let unexpected: Vec<String> = o
        .samples
        .iter()
        .filter(|s| s.status != 0 && s.status < 500 && !s.expected)
        .map(|s| format!("{} for {} at {:.1} s", s.status, s.route, s.sent.as_secs_f64()))
        .collect();
    Check {
        name: "answers below 500 as the contract says",
        summary: format!("{} answers below 500", o.samples.iter().filter(|s| s.status != 0 && s.status < 500).count()),
        violations: unexpected,
    }
}

/// A retried `POST /orders` with the same `Idempotency-Key` never made a second order.
pub fn check_idempotency(o: &Observed) -> Check {
    let violations = o
        .idempotent_answers
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(key, ids)| format!("Idempotency-Key {key} answered with {} orders: {ids:?}", ids.len()))
        .collect();
    let replayed = o.idempotent_answers.len();
    Check { name: "one order per Idempotency-Key", summary: format!("{replayed} keys sent more than once"), violations }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_800_000_000.0;

    fn order(id: &str, status: &str, history: &[&str], total: i64) -> OrderView {
        OrderView {
            id: id.to_owned(),
            customer_id: "cus".to_owned(),
            status: status.to_owned(),
            items: vec![("prd_A".to_owned(), "mkr_1".to_owned(), 2)],
            total_cents: total,
            intent_id: format!("pi_{id}"),
            history: history.iter().enumerate().map(|(i, s)| ((*s).to_owned(), T0 + i as f64)).collect(),
            created_at: T0,
            failed_attempts: 0,
            refund_status: None,
        }
    }

    fn intent(order: &str, amount: i64, status: &str) -> IntentView {
        IntentView { id: format!("pi_{order}"), order_id: Some(order.to_owned()), amount, status: status.to_owned() }
    }

    fn refund(order: &str, status: &str) -> RefundView {
        RefundView {
            id: format!("re_{order}_{status}"),
            payment_intent: format!("pi_{order}"),
            amount: 0,
            status: status.to_owned(),
        }
    }

    fn email(order: &str, to: &str, subject: String) -> EmailView {
        let _ = order;
        EmailView { to: to.to_owned(), subject }
    }

    /// A consistent world: a delivered order, a cancelled-after-payment one refunded, an
    /// expired one; every check passes on it.
    fn world() -> Observed {
        let delivered = order(
            "ord_D",
            "delivered",
            &["pending_payment", "paid", "preparing", "shipped", "out_for_delivery", "delivered"],
            1800,
        );
        let cancelled = order("ord_C", "cancelled", &["pending_payment", "paid", "cancelled"], 900);
        let expired = order("ord_E", "expired", &["pending_payment", "expired"], 500);
        let mut emails = Vec::new();
        let mut events = Vec::new();
        for o in [&delivered, &cancelled, &expired] {
            for (i, s) in o.transitions().iter().enumerate() {
                let status = serde_json::from_value::<shared::domain::OrderStatus>(serde_json::json!(s))
                    .unwrap_or(shared::domain::OrderStatus::Paid);
                emails.push(email(&o.id, "ada@x.test", shared::email::subject_for(&o.id, status, None)));
                let previous = if i == 0 { "pending_payment" } else { o.transitions()[i - 1] };
                events.push(EventView {
                    order_id: o.id.clone(),
                    status: (*s).to_owned(),
                    previous_status: previous.to_owned(),
                    enqueued: Duration::from_secs(2),
                });
            }
            if o.was("paid") {
                emails.push(email(&o.id, "maker@x.test", format!("Makers Market order {} is paid: 2 items", o.id)));
            }
        }
        Observed {
            // 10 at the start; 2 held by the delivered order at the end.
            stock_start: BTreeMap::from([("prd_A".to_owned(), 10)]),
            stock_end: BTreeMap::from([("prd_A".to_owned(), 8)]),
            orders_start: vec![],
            orders_end: vec![delivered, cancelled, expired],
            intents: vec![
                intent("ord_D", 1800, "succeeded"),
                intent("ord_C", 900, "succeeded"),
                intent("ord_E", 500, "canceled"),
            ],
            refunds: vec![refund("ord_C", "succeeded")],
            events,
            emails,
            customer_emails: BTreeMap::from([("cus".to_owned(), "ada@x.test".to_owned())]),
            samples: vec![Sample {
                route: "POST /orders",
                sent: Duration::from_secs(1),
                took: Duration::from_millis(50),
                status: 201,
                expected: true,
            }],
            faults: vec![
                FaultWindow {
                    name: "DynamoDB frozen",
                    start: Duration::from_secs(10),
                    end: Duration::from_secs(14),
                    may_fail_requests: true,
                    bus_unreachable: false,
                },
                FaultWindow {
                    name: "moto frozen",
                    start: Duration::from_secs(30),
                    end: Duration::from_secs(34),
                    may_fail_requests: true,
                    bus_unreachable: true,
                },
            ],
            idempotent_answers: BTreeMap::from([("k1".to_owned(), BTreeSet::from(["ord_D".to_owned()]))]),
            now: T0 + 10.0,
            payment_window: Duration::from_secs(20),
            dwell: Duration::from_secs(2),
            grace: Duration::from_secs(10),
        }
    }

    fn failing(checks: Vec<Check>) -> Vec<&'static str> {
        checks.into_iter().filter(|c| !c.passed()).map(|c| c.name).collect()
    }

    #[test]
    fn a_consistent_world_passes_every_check() {
        let checks = all(&world());
        for c in &checks {
            assert!(c.passed(), "{}: {:?}", c.name, c.violations);
        }
    }

    #[test]
    fn a_unit_lost_or_sold_twice_breaks_stock_conservation() {
        let mut o = world();
        o.stock_end.insert("prd_A".to_owned(), 7);
        assert_eq!(failing(all(&o)), ["stock conserved per product"]);
        let mut o = world();
        // A cancelled order whose stock was not given back: held, but not counted.
        o.stock_end.insert("prd_A".to_owned(), 6);
        assert!(!check_stock(&o).passed());
    }

    #[test]
    fn a_second_payment_a_wrong_amount_a_missing_or_extra_refund_break_the_money_check() {
        let money = |o: &Observed| check_money(o).violations;
        let mut o = world();
        o.intents.push(IntentView { id: "pi_other".to_owned(), ..intent("ord_D", 1800, "succeeded") });
        assert!(money(&o).iter().any(|v| v.contains("2 succeeded intents")), "{:?}", money(&o));
        let mut o = world();
        o.intents[0].amount = 1700;
        assert!(money(&o).iter().any(|v| v.contains("took 1700 cents")));
        let mut o = world();
        o.intents[0].status = "requires_payment_method".to_owned();
        assert!(money(&o).iter().any(|v| v.contains("no succeeded intent")));
        let mut o = world();
        o.refunds.clear();
        assert!(money(&o).iter().any(|v| v.contains("0 succeeded refunds")));
        let mut o = world();
        o.refunds.push(refund("ord_C", "succeeded"));
        o.refunds[1].id = "re_twice".to_owned();
        assert!(money(&o).iter().any(|v| v.contains("2 succeeded refunds")));
        let mut o = world();
        o.refunds.push(refund("ord_D", "succeeded"));
        assert!(money(&o).iter().any(|v| v.contains("was refunded")));
        let mut o = world();
        o.intents.push(IntentView {
            id: "pi_lost".to_owned(),
            order_id: Some("ord_gone".to_owned()),
            amount: 100,
            status: "succeeded".to_owned(),
        });
        assert!(money(&o).iter().any(|v| v.contains("no order in the table")));
        let mut o = world();
        o.refunds[0].status = "pending".to_owned();
        assert!(!check_money(&o).passed(), "a refund not settled is not one");
    }

    #[test]
    fn an_order_left_waiting_or_stuck_in_a_step_breaks_progress() {
        let mut o = world();
        o.orders_end.push(order("ord_P", "pending_payment", &["pending_payment"], 100));
        o.intents.push(intent("ord_P", 100, "requires_payment_method"));
        o.stock_end.insert("prd_A".to_owned(), 6);
        assert!(check_progress(&o).passed(), "young enough");
        o.now = T0 + 31.0;
        assert!(check_progress(&o).violations.iter().any(|v| v.contains("ord_P still pending_payment")));
        let mut o = world();
        o.orders_end[0].status = "shipped".to_owned();
        o.orders_end[0].history.truncate(4);
        assert!(check_progress(&o).passed());
        o.now = T0 + 3.0 + 6.0 + 10.0 + 1.0;
        assert!(check_progress(&o).violations.iter().any(|v| v.contains("still shipped")));
    }

    #[test]
    fn a_lost_duplicated_or_invented_event_breaks_the_event_check() {
        let mut o = world();
        o.events.remove(0);
        assert_eq!(failing(all(&o)), ["one OrderStatusChanged per transition"]);
        let mut o = world();
        o.events.push(o.events[0].clone());
        assert!(check_events(&o).violations.iter().any(|v| v.contains("2 events")));
        // A copy the bus took after it was frozen is the at-least-once delivery's, counted.
        o.events.last_mut().into_iter().for_each(|e| e.enqueued = Duration::from_secs(40));
        assert!(check_events(&o).passed(), "{:?}", check_events(&o).violations);
        assert!(check_events(&o).summary.contains("1 extra copies"));
        let mut o = world();
        o.events.push(EventView {
            order_id: "ord_E".to_owned(),
            status: "paid".to_owned(),
            previous_status: "pending_payment".to_owned(),
            enqueued: Duration::from_secs(40),
        });
        assert!(check_events(&o).violations.iter().any(|v| v.contains("never made")));
    }

    #[test]
    fn a_missing_or_repeated_email_breaks_the_email_check() {
        let mut o = world();
        o.emails.push(o.emails[0].clone());
        assert_eq!(failing(all(&o)), ["one email per (order, status, recipient)"]);
        let mut o = world();
        o.emails.remove(1);
        assert!(!check_emails(&o).passed());
        let mut o = world();
        o.emails.retain(|e| !e.subject.contains("is paid:") || !e.subject.contains("ord_C"));
        assert!(check_emails(&o).violations.iter().any(|v| v.contains("1 makers to tell")));
        let mut o = world();
        o.orders_end[2].failed_attempts = 1;
        assert!(check_emails(&o).passed(), "a try-again email may be skipped once the order moved on");
        o.emails.push(email("ord_E", "ada@x.test", shared::email::subject_for_declined("ord_E")));
        assert!(check_emails(&o).passed(), "{:?}", check_emails(&o).violations);
        o.emails.push(email("ord_E", "ada@x.test", shared::email::subject_for_declined("ord_E")));
        assert!(check_emails(&o).violations.iter().any(|v| v.contains("2 \"try again\" emails")));
    }

    #[test]
    fn a_500_ever_or_a_503_without_a_fault_breaks_the_http_check() {
        let sample = |sent: u64, status: u16| Sample {
            route: "POST /orders",
            sent: Duration::from_secs(sent),
            took: Duration::from_millis(500),
            status,
            expected: false,
        };
        let mut o = world();
        o.samples.push(sample(12, 503));
        o.samples.push(sample(20, 0));
        assert!(check_http(&o).passed(), "during the fault and within its grace: {:?}", check_http(&o).violations);
        o.samples.push(sample(12, 500));
        assert!(check_http(&o).violations.iter().any(|v| v.starts_with("500 for")));
        let mut o = world();
        o.samples.push(sample(60, 503));
        assert!(check_http(&o).violations.iter().any(|v| v.contains("with no fault on")));
        let mut o = world();
        o.faults[0].may_fail_requests = false;
        o.samples.push(sample(12, 502));
        assert!(!check_http(&o).passed(), "a webhook delivered twice excuses nothing");
    }

    #[test]
    fn an_unexpected_answer_or_a_second_order_for_a_key_is_caught() {
        let mut o = world();
        o.samples.push(Sample {
            route: "GET /orders/{id}",
            sent: Duration::ZERO,
            took: Duration::ZERO,
            status: 401,
            expected: false,
        });
        assert_eq!(failing(all(&o)), ["answers below 500 as the contract says"]);
        let mut o = world();
        o.idempotent_answers.insert("k2".to_owned(), BTreeSet::from(["ord_1".to_owned(), "ord_2".to_owned()]));
        assert_eq!(failing(all(&o)), ["one order per Idempotency-Key"]);
    }

    #[test]
    fn transitions_skip_notes_that_keep_the_status() {
        let o = order("ord_X", "paid", &["pending_payment", "pending_payment", "paid"], 1);
        assert_eq!(o.transitions(), ["paid"]);
    }
}
