//! The delivery simulator's tick: every order that has stayed its dwell time
//! ([`crate::config::Config::delivery_dwell`]) in `paid`, `preparing`, `shipped` or
//! `out_for_delivery` moves one step on, towards `delivered`.
//!
//! **Why overlapping, repeated or late ticks never skip, repeat or reverse a step:**
//! - the step is the state machine's ([`next_delivery_step`]) from the status the order was
//!   read in, made by the store as a compare-and-set on that status
//!   ([`crate::store::Store::apply_move`]): of two ticks that read the same order, one moves
//!   it and the other finds it [`MoveOutcome::Stale`] and leaves it (no retry: the winner
//!   made the step);
//! - a move puts the order back on the due index keyed by the time it entered its new
//!   status, which is after this tick's cutoff (`now - dwell`, fixed when the tick starts):
//!   however late the tick, an order it moved is not due again within it (and it keeps the
//!   ids it has seen, so a lagging index cannot hand it one twice);
//! - a step's history time is never before the previous step's: the order was found because
//!   it entered its status at or before `now - dwell`, and the time is also floored at the
//!   last history entry, in case clocks of different functions disagree.
//!
//! Due orders are found with Queries on the sparse due index (`DUE#DELIVERY#<shard>`, each
//! shard oldest first, the shards read side by side), in pages, at most
//! [`TickLimits::max_orders`] and [`TickLimits::budget`] per tick, with
//! [`TickLimits::concurrency`] moves in flight: what is left is due at the next tick.

use crate::domain::order::next_delivery_step;
use crate::domain::{Order, OrderId, OrderStatus, Timestamp};
use crate::store::{DUE_READS_IN_FLIGHT, DueCursor, DueKind, MoveOutcome};
use crate::{App, Result};
use futures::stream::{self, StreamExt as _};
use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// How much one tick does at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickLimits {
    /// Orders read per Query page.
    pub page: usize,
    /// Orders moved (or tried) per tick; the rest wait for the next tick.
    pub max_orders: usize,
    /// No new page is read after this long, so a tick ends well within the function's
    /// timeout (moves in flight still finish).
    pub budget: Duration,
    /// Moves in flight at once.
    pub concurrency: usize,
}

impl Default for TickLimits {
    /// 16,000 orders or 40 s per tick (the function's timeout is 60 s), 16 moves at once.
    /// At 10,000 orders a minute there are 40,000 moves a minute (4 steps each); the
    /// template runs 4 shard groups, 10,000 moves each: 1.6 times that fits one tick (a
    /// move is one transaction of ~20 ms in the cloud: 16 at once make ~800 a second).
    fn default() -> Self {
        Self { page: 100, max_orders: 16_000, budget: Duration::from_secs(40), concurrency: 16 }
    }
}

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Orders moved one step.
    pub advanced: usize,
    /// Due orders another writer (another tick, a cancellation) moved first, or that the
    /// lagging index showed in a status with no delivery step. A move that errored (timed
    /// out) on an order found moved on when read again counts here too, not as failed.
    pub skipped: usize,
    /// Moves that failed with the order still in the status it was due in (logged with the
    /// order id); they are due again at the next tick.
    pub failed: usize,
    /// The tick stopped at its limits before the index was read to the end: due orders may
    /// be left for the next tick.
    pub more: bool,
}

/// What became of one due order.
enum Step {
    Advanced,
    Skipped,
    Failed,
}

/// One tick: moves every due order (within `limits`) one delivery step on. An error only
/// when the due index cannot be read; the moves made before it stay made.
pub async fn advance_due(app: &App, limits: TickLimits) -> Result<DeliveryReport> {
    advance_due_in(app, limits, 0..app.store.due_shards()).await
}

/// [`advance_due`] over the due index's `shards` only: several invocations, each with its
/// own shards, scale a tick out. The shards are read side by side, a
/// page of each in turn, so that no shard starves while another has a backlog.
pub async fn advance_due_in(app: &App, limits: TickLimits, shards: Range<u16>) -> Result<DeliveryReport> {
    let started = Instant::now();
    let cutoff = Timestamp::at(app.clock.now().checked_sub(app.config.delivery_dwell).unwrap_or(UNIX_EPOCH));
    let max_orders = limits.max_orders.max(1);
    let page = limits.page.clamp(1, max_orders);
    // Orders read, over every shard: the tick's limit is for all of them.
    let read = AtomicUsize::new(0);
    let more = AtomicBool::new(false);
    // The shards' pages are asked for side by side, but only this many at once (no more
    // than the moves in flight: reading ahead of them is no use). The permits are handed
    // out first come, first served, so the shards take turns: each gets a page before any
    // gets a second, and a tick whose limits stop it early has still served every shard
    // when it reads at least a page per shard.
    let reads = tokio::sync::Semaphore::new(DUE_READS_IN_FLIGHT.min(limits.concurrency.max(1)));
    let (cutoff, read, more, reads) = (&cutoff, &read, &more, &reads);
    let out_of_time = move || read.load(Ordering::Relaxed) >= max_orders || started.elapsed() >= limits.budget;

    // One lazily read stream of pages per shard, so reading the next page overlaps the
    // moves of the previous one; `select_all` takes from each in turn.
    struct Reading {
        shard: u16,
        cursor: Option<DueCursor>,
        seen: HashSet<OrderId>,
        done: bool,
    }
    let shard_pages = |shard: u16| {
        let reading = Reading { shard, cursor: None, seen: HashSet::new(), done: false };
        Box::pin(stream::unfold(reading, move |mut r| async move {
            if r.done || out_of_time() {
                if !r.done {
                    more.store(true, Ordering::Relaxed);
                }
                return None;
            }
            let Ok(_permit) = reads.acquire().await else { return None };
            if out_of_time() {
                more.store(true, Ordering::Relaxed);
                return None;
            }
            let want = page.min(max_orders.saturating_sub(read.load(Ordering::Relaxed)).max(1));
            match app.store.due_page(DueKind::Delivery, r.shard, cutoff, want, r.cursor.take()).await {
                Ok((orders, next)) => {
                    r.done = next.is_none();
                    r.cursor = next;
                    let fresh: Vec<Order> =
                        orders.into_iter().map(|(_, o)| o).filter(|o| r.seen.insert(o.id.clone())).collect();
                    read.fetch_add(fresh.len(), Ordering::Relaxed);
                    Some((Ok(fresh), r))
                }
                Err(err) => {
                    r.done = true;
                    Some((Err(err), r))
                }
            }
        }))
    };
    let pages = stream::select_all(shards.map(shard_pages));

    let mut report = DeliveryReport::default();
    let mut query_error = None;
    {
        let steps = pages
            .filter_map(|page| {
                let out = match page {
                    Ok(orders) => Some(stream::iter(orders)),
                    Err(err) => {
                        query_error.get_or_insert(err);
                        None
                    }
                };
                async move { out }
            })
            .flatten()
            .map(|order| advance_one(app, order))
            .buffer_unordered(limits.concurrency.max(1));
        let mut steps = std::pin::pin!(steps);
        while let Some(step) = steps.next().await {
            match step {
                Step::Advanced => report.advanced += 1,
                Step::Skipped => report.skipped += 1,
                Step::Failed => report.failed += 1,
            }
        }
    }
    report.more = more.load(Ordering::Relaxed);
    match query_error {
        Some(err) => Err(err),
        None => Ok(report),
    }
}

/// Moves `order` (as the due index showed it) one step on, unless someone moved it first.
async fn advance_one(app: &App, order: Order) -> Step {
    // The index is eventually consistent: it may show an order in a status it has left
    // already, or (never in practice) one with no step left. The compare-and-set decides.
    let Some(mv) = next_delivery_step(order.status) else { return Step::Skipped };
    let entered = order.history.iter().map(|e| &e.at).max().cloned();
    let now = app.now();
    let at = match entered {
        Some(entered) if entered > now => entered,
        _ => now,
    };
    match app.store.apply_move(&order, mv, &at, None).await {
        Ok(MoveOutcome::Moved(_)) => Step::Advanced,
        Ok(MoveOutcome::Stale | MoveOutcome::EventSeen) => Step::Skipped,
        Err(err) => settle_failed_move(app, &order, mv.from, &err).await,
    }
}

/// A move that errored (a timeout, throttling, a DynamoDB that stopped answering) may still
/// have been made, by this tick (a timed-out transaction can commit) or by an overlapping
/// one. A consistent read decides: an order no longer in `from` has had its step, so the
/// error was a lost race, not a fault, and is `skipped` — an overlapping tick must not fire
/// the errors alarm. Only an order still in `from` (or one that cannot be read) is `failed`:
/// it stays due and the next tick moves it.
async fn settle_failed_move(app: &App, order: &Order, from: OrderStatus, err: &crate::Error) -> Step {
    match app.store.order(&order.id).await {
        Ok(Some(now)) if now.status != from => {
            tracing::warn!(
                order_id = order.id.as_str(),
                from = from.as_str(),
                now = now.status.as_str(),
                error = %err,
                "a move errored but the order has moved on: skipped"
            );
            Step::Skipped
        }
        read => {
            let reread = read.err().map(|e| e.to_string());
            tracing::error!(
                order_id = order.id.as_str(),
                from = from.as_str(),
                error = %err,
                reread_error = reread.as_deref(),
                "could not advance an order; it stays due"
            );
            Step::Failed
        }
    }
}
