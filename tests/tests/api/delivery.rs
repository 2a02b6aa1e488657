//! The delivery simulator: paid orders move one step per dwell time to `delivered`, through
//! the state machine, whatever the ticks do (overlap, repeat, come late).

use e2e::TestContext;
use e2e::faults::{Fault, Timing};
use futures::StreamExt as _;
use serde_json::{Value, json};
use shared::delivery::{DeliveryReport, TickLimits, advance_due, advance_due_in};
use std::time::Duration;

const DELIVERED: [&str; 6] = ["pending_payment", "paid", "preparing", "shipped", "out_for_delivery", "delivered"];

fn dwell(ctx: &TestContext) -> Duration {
    ctx.app.config.delivery_dwell
}

async fn tick(ctx: &TestContext) -> DeliveryReport {
    advance_due(&ctx.app, TickLimits::default()).await.unwrap()
}

/// `n` orders of one unit each, placed and paid concurrently through the API and Stripe's
/// webhook, spread over a few products so that placing them does not queue on one item.
/// Three at a time: the customer may hold at most 3 unpaid orders (API.md).
async fn paid_orders(ctx: &TestContext, n: usize) -> Vec<Value> {
    let mut products = Vec::new();
    for _ in 0..n.div_ceil(10) {
        let product = ctx.create_product(&ctx.maker, json!({"stock": 20, "price_cents": 1500})).await;
        products.push(product["id"].as_str().unwrap().to_owned());
    }
    let orders: Vec<Value> = futures::stream::iter(0..n)
        .map(|i| {
            let product = &products[i % products.len()];
            async move {
                let order = ctx.order(&ctx.customer, &[(product, 1)]).await;
                let paid = ctx.pay(&order).await;
                assert_eq!(paid["status"], "paid", "{paid}");
                paid
            }
        })
        .buffer_unordered(shared::domain::MAX_UNPAID_ORDERS)
        .collect()
        .await;
    assert_eq!(orders.len(), n);
    orders
}

async fn status_of(ctx: &TestContext, order: &Value) -> String {
    ctx.fetch_order(&ctx.customer, order).await["status"].as_str().unwrap().to_owned()
}

fn statuses(order: &Value) -> Vec<&str> {
    order["history"].as_array().unwrap().iter().filter_map(|h| h["status"].as_str()).collect()
}

/// History times, in the order of the entries, never go back.
#[track_caller]
fn assert_history_in_time_order(order: &Value) {
    let times: Vec<&str> = order["history"].as_array().unwrap().iter().filter_map(|h| h["at"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "history out of time order: {order}");
}

/// Ten overlapping ticks over the same fifty due orders, each with its own page size and
/// concurrency, so their pages and moves interleave. What must hold is the invariant, not
/// which tick won which race: every order is exactly one step on, with its history in order
/// and nothing skipped, and no order is counted advanced twice.
///
/// DynamoDB Local serialises every transaction under one table-wide lock, so moves queue
/// there; 19 in flight at once (1–3 per tick) is a real overlap that 2 cores still serve
/// within the client's timeouts. A move that timed out anyway is re-read by its tick: if the
/// order has moved on it counts as skipped; if not, it is `failed` and stays due, and the
/// next tick (the sweep below, as the next minute's tick in the cloud) moves only those.
#[tokio::test]
async fn ten_concurrent_ticks_over_fifty_due_orders_move_each_order_exactly_one_step() {
    let ctx = TestContext::new().await;
    let orders = paid_orders(&ctx, 50).await;
    for (round, (from, to)) in [("paid", "preparing"), ("preparing", "shipped")].into_iter().enumerate() {
        ctx.clock.advance(dwell(&ctx) + Duration::from_secs(1));
        let ticks = (0..10).map(|i| {
            let limits = TickLimits { page: 3 + 7 * i, concurrency: 1 + i % 3, ..TickLimits::default() };
            advance_due(&ctx.app, limits)
        });
        let reports: Vec<DeliveryReport> =
            futures::future::join_all(ticks).await.into_iter().map(|r| r.unwrap()).collect();
        let advanced: usize = reports.iter().map(|r| r.advanced).sum();
        let failed: usize = reports.iter().map(|r| r.failed).sum();
        assert!(advanced <= 50, "round {round}: more moves counted than orders: {reports:?}");
        assert!(reports.iter().all(|r| !r.more), "round {round}: {reports:?}");
        // The next tick moves only orders a move failed on (one that timed out on the client
        // may still commit on the emulator before the sweep reads it), and nothing else.
        let sweep = tick(&ctx).await;
        assert!(sweep.advanced <= failed, "round {round}: {reports:?}, then {sweep:?}");
        assert_eq!(sweep.failed, 0, "round {round}: {sweep:?}");
        for order in &orders {
            let now = ctx.fetch_order(&ctx.customer, order).await;
            assert_eq!(now["status"], to, "round {round}, from {from}: {now}");
            assert_eq!(statuses(&now), DELIVERED[..round + 3].to_vec(), "{now}");
            assert_history_in_time_order(&now);
        }
        // Nothing is due any more until another dwell has passed.
        assert_eq!(tick(&ctx).await.advanced, 0);
    }
}

/// The due index is spread over shards (`DUE#DELIVERY#<0..15>`, the shard from the order
/// id) so that no partition key takes every paid order's writes. Ten concurrent ticks over
/// 2,000 due orders: while the ticks' limits leave work over, every shard still gets its
/// turn (no shard starves behind another's backlog); then ten ticks that share the shards
/// out (a fan-out) move the rest; every order moves exactly one step, and no move is
/// counted twice.
#[tokio::test]
async fn ten_concurrent_ticks_over_two_thousand_due_orders_in_sixteen_shards_move_each_exactly_one_step() {
    const DUE: usize = 2_000;
    let ctx = TestContext::new().await;
    let shards = ctx.app.store.due_shards();
    assert_eq!(shards, 16);
    let ids = local::seed::paid_orders(&ctx.app.store, DUE, dwell(&ctx) * 5).await.unwrap();

    let shard_of = |id: &shared::domain::OrderId| shared::store::due_shard(id, shards);
    let mut per_shard = vec![0usize; shards.into()];
    ids.iter().for_each(|id| per_shard[usize::from(shard_of(id))] += 1);
    assert!(per_shard.iter().all(|&n| n > 0), "the ids spread over every shard: {per_shard:?}");

    // Round one: the ticks may read 40 orders each (pages of 2: 20 pages, more than the 16
    // shards), 400 of the 2,000 at most, and overlap, so most of what they read is read by
    // several. Every shard gets its turn in every tick all the same.
    let limited = TickLimits { page: 2, max_orders: 40, concurrency: 2, ..TickLimits::default() };
    let reports: Vec<DeliveryReport> = futures::future::join_all((0..10).map(|_| advance_due(&ctx.app, limited)))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(reports.iter().all(|r| r.more), "work was left over: {reports:?}");
    let mut advanced: usize = reports.iter().map(|r| r.advanced).sum();
    assert!(advanced <= 400, "{reports:?}");
    let moved = |orders: &[shared::domain::Order]| {
        orders
            .iter()
            .filter(|o| o.status == shared::domain::OrderStatus::Preparing)
            .map(|o| shard_of(&o.id))
            .collect::<Vec<_>>()
    };
    let read_all = || {
        futures::stream::iter(&ids)
            .map(|id| async { ctx.app.store.order(id).await.unwrap().unwrap() })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
    };
    let after_one = moved(&read_all().await);
    for shard in 0..shards {
        assert!(after_one.contains(&shard), "shard {shard} starved: moved {after_one:?}");
    }

    // Then the sweep scaled out: ten ticks at once, each over its own shards, neighbours
    // sharing one (so those race), without the read limit, until nothing is due. (Ten ticks
    // each over all 2,000 orders would try every order ten times: the overlap is what the
    // fifty-order test above is for. One move in flight per tick: DynamoDB Local queues
    // every transaction on one table lock, and a busy machine's queue outlasts the
    // client's timeouts with more.)
    for round in 0..5 {
        let ticks = (0..10u16).map(|i| {
            let shards = (i * shards / 10)..((i + 1) * shards / 10 + 1).min(shards);
            advance_due_in(&ctx.app, TickLimits { page: 20, concurrency: 1, ..TickLimits::default() }, shards)
        });
        let reports: Vec<DeliveryReport> =
            futures::future::join_all(ticks).await.into_iter().map(|r| r.unwrap()).collect();
        assert!(reports.iter().all(|r| r.failed == 0), "round {round}: {reports:?}");
        let now: usize = reports.iter().map(|r| r.advanced).sum();
        advanced += now;
        if now == 0 {
            break;
        }
    }
    assert_eq!(advanced, DUE, "each order counted advanced once");
    for order in read_all().await {
        let steps: Vec<&str> = order.history.iter().map(|e| e.status.as_str()).collect();
        assert_eq!(steps, ["pending_payment", "paid", "preparing"], "{}", order.id.as_str());
    }
}

#[tokio::test]
async fn a_paid_order_reaches_delivered_one_step_per_dwell_with_its_history_in_order() {
    let ctx = TestContext::new().await;
    let order = paid_orders(&ctx, 1).await.remove(0);
    let event = e2e::sample_event("delivery-simulator");
    for expected in &DELIVERED[2..] {
        // Not yet due: nothing moves.
        let report = delivery_simulator::handle(&ctx.app, event.clone()).await.unwrap();
        assert_eq!(report["advanced"], 0, "{report}");
        ctx.clock.advance(dwell(&ctx));
        let report = delivery_simulator::handle(&ctx.app, event.clone()).await.unwrap();
        assert_eq!(report, json!({"advanced": 1, "skipped": 0, "failed": 0, "more": false}));
        // The same tick again at the same time: no second step.
        assert_eq!(delivery_simulator::handle(&ctx.app, event.clone()).await.unwrap()["advanced"], 0);
        assert_eq!(status_of(&ctx, &order).await, *expected);
    }
    ctx.clock.advance(dwell(&ctx) * 3);
    assert_eq!(tick(&ctx).await, DeliveryReport::default(), "a delivered order is done");
    let delivered = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(statuses(&delivered), DELIVERED.to_vec(), "{delivered}");
    assert_history_in_time_order(&delivered);
    // Each step came a dwell after the one before (the test clock moved by exactly that).
    let times: Vec<_> = delivered["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| shared::domain::Timestamp::from_stored(h["at"].as_str()?.to_owned()).to_system_time())
        .collect();
    for pair in times[1..].windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        assert!(gap >= dwell(&ctx), "a step came {gap:?} after the previous one: {delivered}");
    }
    // Its maker sees the same history.
    let id = order["id"].as_str().unwrap();
    let maker_view = ctx.get(&format!("/orders/{id}")).auth(&ctx.maker).send().await;
    maker_view.expect(200);
    assert_eq!(statuses(&maker_view.json()), DELIVERED.to_vec());
}

/// The test clock stands still from before the payment, so "a second before the dwell" is
/// exactly that, however long the webhook and the ticks take on a loaded machine.
#[tokio::test]
async fn a_tick_before_the_dwell_has_passed_moves_nothing() {
    let ctx = TestContext::new().await;
    ctx.clock.freeze();
    let order = paid_orders(&ctx, 1).await.remove(0);
    assert_eq!(tick(&ctx).await, DeliveryReport::default());
    ctx.clock.advance(dwell(&ctx) - Duration::from_secs(1));
    assert_eq!(tick(&ctx).await, DeliveryReport::default());
    assert_eq!(status_of(&ctx, &order).await, "paid");
    // A second later the dwell has passed: the ticks above were early, not blind.
    ctx.clock.advance(Duration::from_secs(1));
    assert_eq!(tick(&ctx).await.advanced, 1);
    assert_eq!(status_of(&ctx, &order).await, "preparing");
}

#[tokio::test]
async fn a_late_tick_moves_an_order_one_step_only() {
    let ctx = TestContext::new().await;
    let order = paid_orders(&ctx, 1).await.remove(0);
    ctx.clock.advance(dwell(&ctx) * 5);
    assert_eq!(tick(&ctx).await.advanced, 1);
    assert_eq!(tick(&ctx).await.advanced, 0);
    let now = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(statuses(&now), vec!["pending_payment", "paid", "preparing"]);
}

#[tokio::test]
async fn unpaid_and_cancelled_orders_are_never_advanced() {
    let ctx = TestContext::new().await;
    let product = ctx.create_product(&ctx.maker, json!({"stock": 10})).await;
    let id = product["id"].as_str().unwrap();
    let unpaid = ctx.order(&ctx.customer, &[(id, 1)]).await;
    let mut paid = paid_orders(&ctx, 2).await;
    let (cancelled_paid, cancelled_preparing) = (paid.remove(0), paid.remove(0));
    let cancel = |order: &Value| {
        let path = format!("/orders/{}/cancel", order["id"].as_str().unwrap());
        let ctx = &ctx;
        async move { ctx.request("POST", &path).auth(&ctx.customer).send().await.expect(200).json() }
    };
    cancel(&cancelled_paid).await;
    ctx.clock.advance(dwell(&ctx) + Duration::from_secs(1));
    assert_eq!(tick(&ctx).await.advanced, 1, "only the order not cancelled yet moves");
    assert_eq!(status_of(&ctx, &cancelled_preparing).await, "preparing");
    cancel(&cancelled_preparing).await;
    for _ in 0..4 {
        ctx.clock.advance(dwell(&ctx) + Duration::from_secs(1));
        assert_eq!(tick(&ctx).await, DeliveryReport::default());
    }
    assert_eq!(status_of(&ctx, &unpaid).await, "pending_payment");
    for order in [&cancelled_paid, &cancelled_preparing] {
        let now = ctx.fetch_order(&ctx.customer, order).await;
        assert_eq!(now["status"], "cancelled", "{now}");
        assert_eq!(now["payment"]["refund_status"], "succeeded", "{now}");
    }
}

#[tokio::test]
async fn a_cancellation_racing_a_tick_ends_cancelled_and_refunded() {
    let ctx = TestContext::new().await;
    let orders = paid_orders(&ctx, 6).await;
    ctx.clock.advance(dwell(&ctx) + Duration::from_secs(1));
    let cancels = futures::future::join_all(orders.iter().map(|order| {
        let path = format!("/orders/{}/cancel", order["id"].as_str().unwrap());
        let ctx = &ctx;
        async move { ctx.request("POST", &path).auth(&ctx.customer).send().await }
    }));
    let (responses, report) = tokio::join!(cancels, tick(&ctx));
    assert_eq!(report.failed, 0, "{report:?}");
    for response in responses {
        response.expect(200);
    }
    for order in &orders {
        let now = ctx.fetch_order(&ctx.customer, order).await;
        assert_eq!(now["status"], "cancelled", "{now}");
        assert_eq!(now["payment"]["refund_status"], "succeeded", "{now}");
        let steps: Vec<&str> = statuses(&now).into_iter().filter(|s| *s != "cancelled").collect();
        assert!(steps == DELIVERED[..2] || steps == DELIVERED[..3], "{now}");
        assert_history_in_time_order(&now);
    }
    ctx.clock.advance(dwell(&ctx) + Duration::from_secs(1));
    assert_eq!(tick(&ctx).await, DeliveryReport::default());
}

#[tokio::test]
async fn a_move_that_errored_after_it_was_made_counts_as_skipped_not_failed() {
    let ctx = TestContext::new().await;
    let order = paid_orders(&ctx, 1).await.remove(0);
    ctx.clock.advance(dwell(&ctx) + Duration::from_secs(1));
    // The move commits on DynamoDB, then every answer (the SDK's retries too) is lost.
    ctx.faults.inject(Some("TransactWriteItems"), Fault::InternalServerError, Timing::After, 1, u32::MAX);
    let report = tick(&ctx).await;
    ctx.faults.clear();
    assert!(ctx.faults.injected("TransactWriteItems") >= 1);
    assert_eq!(report, DeliveryReport { advanced: 0, skipped: 1, failed: 0, more: false });
    let now = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(statuses(&now), DELIVERED[..3].to_vec(), "one step, made once: {now}");
    assert_eq!(tick(&ctx).await, DeliveryReport::default());
}

#[tokio::test]
async fn a_move_that_failed_is_failed_and_the_next_tick_makes_it() {
    let ctx = TestContext::new().await;
    let order = paid_orders(&ctx, 1).await.remove(0);
    ctx.clock.advance(dwell(&ctx) + Duration::from_secs(1));
    // DynamoDB answers 500 before writing anything, for every attempt.
    ctx.faults.inject(Some("TransactWriteItems"), Fault::InternalServerError, Timing::Instead, 1, u32::MAX);
    let report = tick(&ctx).await;
    ctx.faults.clear();
    assert_eq!(report, DeliveryReport { advanced: 0, skipped: 0, failed: 1, more: false });
    assert_eq!(status_of(&ctx, &order).await, "paid");
    assert_eq!(tick(&ctx).await.advanced, 1, "still due, and moved by the next tick");
    assert_eq!(status_of(&ctx, &order).await, "preparing");
}

/// The template's four schedules, as the function receives them: each invocation moves the
/// due orders of its own shards only, and the four together move every one exactly once.
/// A schedule that names a group wrongly fails the run rather than sweep nothing.
#[tokio::test]
async fn the_four_scheduled_shard_groups_each_move_only_their_shards_and_together_move_every_order() {
    const DUE: usize = 120;
    let ctx = TestContext::new().await;
    let shards = ctx.app.store.due_shards();
    let ids = local::seed::paid_orders(&ctx.app.store, DUE, dwell(&ctx) * 5).await.unwrap();
    let status = |id: shared::domain::OrderId| {
        let ctx = &ctx;
        async move { ctx.app.store.order(&id).await.unwrap().unwrap().status }
    };
    let mut total = 0;
    for group in 0..4u16 {
        let event = json!({"shard_group": group, "shard_groups": 4});
        let own = shared::store::ShardGroup::of_event(&event).unwrap().shards(shards);
        let report = delivery_simulator::handle(&ctx.app, event).await.unwrap();
        let expected = ids.iter().filter(|id| own.contains(&shared::store::due_shard(id, shards))).count();
        assert_eq!(report["advanced"], json!(expected), "group {group} ({own:?}): {report}");
        total += expected;
        for id in &ids {
            let moved = status(id.clone()).await == shared::domain::OrderStatus::Preparing;
            let done = shared::store::due_shard(id, shards) < own.end;
            assert_eq!(moved, done, "after group {group}: {}", id.as_str());
        }
    }
    assert_eq!(total, DUE);
    let bad = delivery_simulator::handle(&ctx.app, json!({"shard_group": 4, "shard_groups": 4})).await;
    assert!(bad.is_err());
}
