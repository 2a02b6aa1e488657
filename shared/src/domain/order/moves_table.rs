//! The whole state machine, checked against a table written out here from API.md rather
//! than derived from [`super::MOVES`]: every (from, to, actor) of 9 statuses × 9 statuses ×
//! 5 actors, each legal move with its effects, each other combination refused with a 409.

use super::*;

/// Every status by its API name; `status_names_cover_every_status` keeps it complete.
const STATUSES: [(&str, OrderStatus); 9] = [
    ("pending_payment", OrderStatus::PendingPayment),
    ("paid", OrderStatus::Paid),
    ("preparing", OrderStatus::Preparing),
    ("shipped", OrderStatus::Shipped),
    ("out_for_delivery", OrderStatus::OutForDelivery),
    ("delivered", OrderStatus::Delivered),
    ("cancelled", OrderStatus::Cancelled),
    ("expired", OrderStatus::Expired),
    ("payment_failed", OrderStatus::PaymentFailed),
];

const ACTORS: [Actor; 5] =
    [Actor::Customer, Actor::Admin, Actor::Stripe, Actor::PaymentExpirer, Actor::DeliverySimulator];

/// Exhaustive: a new actor does not compile until this table knows it.
fn actor_name(actor: Actor) -> &'static str {
    match actor {
        Actor::Customer => "customer",
        Actor::Admin => "admin",
        Actor::Stripe => "stripe",
        Actor::PaymentExpirer => "payment_expirer",
        Actor::DeliverySimulator => "delivery_simulator",
    }
}

/// The legal moves as API.md states them: (from, to, actor, effects), where effects lists
/// what else happens: `release` (stock back), `cancel_intent`, `refund`. Nothing else is
/// legal.
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    // Paid only from a verified Stripe success, or the expirer finding the intent paid.
    ("pending_payment", "paid", "stripe", ""),
    ("pending_payment", "paid", "payment_expirer", ""),
    // The fifth declined attempt (Stripe) ends the order.
    ("pending_payment", "payment_failed", "stripe", "release cancel_intent"),
    ("pending_payment", "expired", "payment_expirer", "release cancel_intent"),
    // The customer or an admin, before `shipped`: unpaid → intent cancelled, paid → refunded.
    ("pending_payment", "cancelled", "customer", "release cancel_intent"),
    ("pending_payment", "cancelled", "admin", "release cancel_intent"),
    ("paid", "cancelled", "customer", "release refund"),
    ("paid", "cancelled", "admin", "release refund"),
    ("preparing", "cancelled", "customer", "release refund"),
    ("preparing", "cancelled", "admin", "release refund"),
    // The delivery simulator, one step at a time.
    ("paid", "preparing", "delivery_simulator", ""),
    ("preparing", "shipped", "delivery_simulator", ""),
    ("shipped", "out_for_delivery", "delivery_simulator", ""),
    ("out_for_delivery", "delivered", "delivery_simulator", ""),
];

fn expected(from: &str, to: &str, actor: &str) -> Option<Effects> {
    EXPECTED.iter().find(|(f, t, a, _)| (*f, *t, *a) == (from, to, actor)).map(|(_, _, _, effects)| {
        let words: Vec<&str> = effects.split_whitespace().collect();
        for word in &words {
            assert!(["release", "cancel_intent", "refund"].contains(word), "unknown effect {word} in the table");
        }
        Effects {
            release_stock: words.contains(&"release"),
            cancel_intent: words.contains(&"cancel_intent"),
            refund: words.contains(&"refund"),
        }
    })
}

#[test]
fn status_names_cover_every_status() {
    for status in OrderStatus::ALL {
        let named: Vec<&str> = STATUSES.iter().filter(|(_, s)| *s == status).map(|(n, _)| *n).collect();
        assert_eq!(named, vec![status.as_str()], "{status:?}");
    }
}

#[test]
fn every_combination_of_statuses_and_actors_is_allowed_exactly_as_the_table_says() {
    let mut checked = 0;
    let mut legal = 0;
    for (from_name, from) in STATUSES {
        for (to_name, to) in STATUSES {
            for actor in ACTORS {
                checked += 1;
                let case = format!("{from_name} → {to_name} by {}", actor_name(actor));
                match expected(from_name, to_name, actor_name(actor)) {
                    Some(effects) => {
                        legal += 1;
                        let mv = Move { from, to, effects };
                        assert_eq!(legal_move(from, to, actor), Some(mv), "{case}");
                        assert_eq!(require_move(from, to, actor).ok(), Some(mv), "{case}");
                    }
                    None => {
                        assert_eq!(legal_move(from, to, actor), None, "{case} must be refused");
                        let err = require_move(from, to, actor).err();
                        assert_eq!(err.as_ref().map(Error::status), Some(409), "{case}");
                    }
                }
            }
        }
    }
    assert_eq!((checked, legal), (405, EXPECTED.len()));
}

/// What a legal move does to the order: its status, one history entry, a pending refund
/// exactly when the move refunds, and nothing else.
#[test]
fn every_legal_move_changes_the_order_by_its_effects_only() {
    let now = Timestamp::from_stored("2026-12-02T11:00:00.000Z".to_owned());
    for &(from_name, to_name, actor_word, effects) in EXPECTED {
        let status = |name: &str| STATUSES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
        let (Some(from), Some(to)) = (status(from_name), status(to_name)) else {
            panic!("the table names an unknown status: {from_name} or {to_name}");
        };
        let Some(actor) = ACTORS.into_iter().find(|a| actor_name(*a) == actor_word) else {
            panic!("the table names an unknown actor: {actor_word}");
        };
        let case = format!("{from_name} → {to_name} by {actor_word}");
        let order = sample_order(from, &[("maria", "Mug", 2400, 2)]);
        let mv = legal_move(from, to, actor).unwrap_or_else(|| panic!("{case} is legal"));
        let moved = order.moved(mv, &now);
        assert_eq!(moved.status, to, "{case}");
        assert_eq!(moved.updated_at, now, "{case}");
        assert_eq!(moved.history.len(), order.history.len() + 1, "{case}");
        assert_eq!(moved.history.last(), Some(&HistoryEntry { status: to, at: now.clone(), note: None }), "{case}");
        let refunds = effects.split_whitespace().any(|w| w == "refund");
        assert_eq!(moved.payment.refund_status, refunds.then_some(RefundStatus::Pending), "{case}");
        // Nothing else about the order changes.
        let mut back = moved.clone();
        back.status = order.status;
        back.updated_at = order.updated_at.clone();
        back.history.pop();
        back.payment.refund_status = order.payment.refund_status;
        assert_eq!(back, order, "{case}");
        // Stock is released exactly by the moves that leave a status holding it for one
        // that does not.
        assert_eq!(mv.effects.release_stock, from.holds_stock() && !to.holds_stock(), "{case}");
    }
}

/// The simulator's next step is its one legal move from each status, and none from the rest.
#[test]
fn the_delivery_simulators_next_step_is_its_only_legal_move() {
    for (name, from) in STATUSES {
        let legal: Vec<Move> =
            STATUSES.iter().filter_map(|(_, to)| legal_move(from, *to, Actor::DeliverySimulator)).collect();
        assert!(legal.len() <= 1, "{name}: {legal:?}");
        assert_eq!(next_delivery_step(from), legal.first().copied(), "{name}");
    }
}
