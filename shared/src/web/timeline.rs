//! An order's progress as the pages show it: the steps of its journey with when each was
//! reached, its refund, and whether it is still moving (a live part polls until it stops).
//! The customer's order page, the studio's and the desk's use it with the partial
//! `shared/templates/web/timeline.html`.

use super::layout::status_label as label;
use crate::domain::{HistoryEntry, OrderStatus, RefundStatus};

/// The statuses of an order that goes well, in order.
const JOURNEY: [OrderStatus; 6] = [
    OrderStatus::PendingPayment,
    OrderStatus::Paid,
    OrderStatus::Preparing,
    OrderStatus::Shipped,
    OrderStatus::OutForDelivery,
    OrderStatus::Delivered,
];

/// One line of the timeline.
#[derive(Debug, Clone)]
pub struct Step {
    pub label: &'static str,
    /// When it was reached, `YYYY-MM-DD HH:MM UTC`.
    pub at: Option<String>,
    pub done: bool,
}

/// The timeline of an order in `status` with `history`: the whole journey (steps to come
/// greyed) while it is on it, else what happened.
pub fn steps(status: OrderStatus, history: &[HistoryEntry]) -> Vec<Step> {
    let when = |status: OrderStatus| {
        history
            .iter()
            .rev()
            .find(|h| h.status == status)
            .map(|h| h.at.as_str().replace('T', " ").chars().take(16).collect::<String>() + " UTC")
    };
    if JOURNEY.contains(&status) {
        JOURNEY.iter().map(|s| Step { label: label(*s), at: when(*s), done: when(*s).is_some() }).collect()
    } else {
        history.iter().map(|h| Step { label: label(h.status), at: when(h.status), done: true }).collect()
    }
}

/// Whether an order will not move again by itself (a live part stops polling).
pub fn settled(status: OrderStatus, refund: Option<RefundStatus>) -> bool {
    matches!(status, OrderStatus::Delivered | OrderStatus::Expired | OrderStatus::PaymentFailed)
        || (status == OrderStatus::Cancelled && refund != Some(RefundStatus::Pending))
}

/// The CSS tone of a status badge: `good`, `bad` or none.
pub fn tone(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Delivered | OrderStatus::Paid => "good",
        OrderStatus::Cancelled | OrderStatus::Expired | OrderStatus::PaymentFailed => "bad",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;
    use std::time::{Duration, UNIX_EPOCH};

    /// `minutes` after 2026-12-03 10:00 UTC.
    fn entry(status: OrderStatus, minutes: u64) -> HistoryEntry {
        let at = Timestamp::at(UNIX_EPOCH + Duration::from_secs(1_796_292_000 + minutes * 60));
        HistoryEntry { status, at, note: None }
    }

    #[test]
    fn an_order_on_its_way_shows_the_whole_journey_with_steps_to_come() {
        let history = [entry(OrderStatus::PendingPayment, 0), entry(OrderStatus::Paid, 1)];
        let steps = steps(OrderStatus::Paid, &history);
        assert_eq!(steps.len(), 6);
        assert_eq!(steps[1].at.as_deref(), Some("2026-12-03 10:01 UTC"));
        assert_eq!(steps.iter().filter(|s| s.done).count(), 2);
        assert!(!settled(OrderStatus::Paid, None));
    }

    #[test]
    fn a_cancelled_order_shows_what_happened_and_settles_once_refunded() {
        let history =
            [entry(OrderStatus::PendingPayment, 0), entry(OrderStatus::Paid, 1), entry(OrderStatus::Cancelled, 2)];
        let steps = steps(OrderStatus::Cancelled, &history);
        assert_eq!(steps.iter().map(|s| s.label).collect::<Vec<_>>(), ["Waiting for payment", "Paid", "Cancelled"]);
        assert!(!settled(OrderStatus::Cancelled, Some(RefundStatus::Pending)));
        assert!(settled(OrderStatus::Cancelled, Some(RefundStatus::Succeeded)));
    }
}
