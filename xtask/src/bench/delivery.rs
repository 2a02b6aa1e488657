//! The delivery tick: how many orders one run of the release `delivery-simulator` binary
//! moves a step on per second when [`DUE`] orders are due, on DynamoDB Local, against the
//! target of 1,000 orders a minute per invocation.
//!
//! The due orders are written through the store as the functions write them (placed with
//! their stock reserved, then moved to `paid` ten minutes in the past), straight to DynamoDB
//! Local: this measures the tick, not placing. The binary then serves one scheduled event in
//! a fresh process under the fake Runtime API, reaching DynamoDB Local directly (no counting
//! proxy), and every order is read back to check it moved exactly one step.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde::Serialize;
use shared::domain::order::legal_move;
use shared::domain::{
    Actor, Address, Category, Currency, HistoryEntry, Order, OrderId, OrderLine, OrderStatus, Payment, Product,
    ProductId, ProductStatus, Timestamp, UserId,
};
use shared::store::{MoveOutcome, Placement, Store};

use super::proc::{self, Program};
use super::stack::Stack;

/// Orders due when the tick runs.
pub const DUE: usize = 1_000;
/// The target: orders moved per minute by one invocation.
pub const TARGET_PER_MINUTE: f64 = 1_000.0;
/// Products the due orders are spread over (placing them queues less on one item).
const PRODUCTS: usize = 20;
/// Writes in flight while setting up.
const SETUP_CONCURRENCY: usize = 16;
/// The function's `DELIVERY_DWELL_SECONDS` in this run; the orders were paid 10 minutes ago.
const DWELL_SECS: u64 = 60;

#[derive(Debug, Default, Serialize)]
pub struct DeliveryTick {
    pub due: usize,
    /// What the function answered: `advanced`, `skipped`, `failed`, `more`.
    pub response: serde_json::Value,
    pub advanced: u64,
    /// Process spawn → first `next` poll, ms.
    pub init_ms: f64,
    /// First `next` poll → response posted: the tick itself, ms.
    pub tick_ms: f64,
    pub peak_rss_kib: Option<u64>,
    /// Orders found one step on (`preparing`, history `pending_payment, paid, preparing`).
    pub one_step: usize,
    /// Orders found in any other state.
    pub wrong: usize,
    /// Setting up the due orders (placing and paying through the store), s.
    pub setup_s: f64,
}

impl DeliveryTick {
    pub fn per_second(&self) -> Option<f64> {
        (self.tick_ms > 0.0).then(|| self.advanced as f64 / (self.tick_ms / 1e3))
    }

    pub fn met(&self) -> bool {
        self.advanced as usize == self.due
            && self.one_step == self.due
            && self.wrong == 0
            && self.per_second().is_some_and(|r| r * 60.0 >= TARGET_PER_MINUTE)
    }

    /// The row of the targets table.
    pub fn target_row(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "| delivery tick: {} due orders moved one step each by one invocation at ≥ {TARGET_PER_MINUTE:.0} a minute | {} | {} |",
            self.due,
            self.measured(),
            if self.met() { "met" } else { "**missed**" }
        );
    }

    fn measured(&self) -> String {
        match self.per_second() {
            Some(rate) => {
                format!("{rate:.0} orders/s ({:.0}/min); {} of {} one step on", rate * 60.0, self.one_step, self.due)
            }
            None => "not measured".to_owned(),
        }
    }

    /// The section of `BENCHMARKS.md`.
    pub fn markdown(&self, md: &mut String) {
        let _ = writeln!(md, "## The delivery tick: {} due orders, one invocation\n", self.due);
        let _ = writeln!(
            md,
            "| advanced | tick (poll → response) | orders/s | orders/min | target/min | init | peak RSS | checked one step on | wrong |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let rate = self.per_second().unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {:.0} ms | {rate:.0} | {:.0} | {TARGET_PER_MINUTE:.0} | {:.1} ms | {} | {} | {} |\n",
            self.advanced,
            self.tick_ms,
            rate * 60.0,
            self.init_ms,
            self.peak_rss_kib.map_or_else(|| "–".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            self.one_step,
            self.wrong,
        );
        let _ = writeln!(
            md,
            "The release `delivery-simulator` binary serves one `events/delivery-simulator.json` in a fresh process \
             (DynamoDB Local directly, `DELIVERY_DWELL_SECONDS={DWELL_SECS}`). The {} orders were written through \
             `shared::store` first ({:.1} s: placed with their stock reserved, then moved to `paid` ten minutes \
             earlier), so all are due. The tick reads them from the `DUE#DELIVERY` index in pages of 100 and makes \
             16 compare-and-set moves at once (`shared::delivery::TickLimits::default()`); each move is one \
             `TransactWriteItems` (the order and its maker's index item). Afterwards every order is read back. \
             Response: `{}`.\n",
            self.due, self.setup_s, self.response
        );
    }
}

/// Sets up [`DUE`] due orders on the bench table, runs `program` (the release
/// `delivery-simulator`) once, and checks every order.
pub async fn tick(stack: &Stack, program: &Program, event: &serde_json::Value) -> anyhow::Result<DeliveryTick> {
    let aws = stack.sdk_config().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), stack.provisioned.table_name.clone());
    eprintln!("bench: the delivery tick: writing {DUE} due orders");
    let started = Instant::now();
    let ids = due_orders(&store, DUE).await?;
    let setup_s = started.elapsed().as_secs_f64();

    let mut program = program.clone();
    program.env.push(("DELIVERY_DWELL_SECONDS".to_owned(), DWELL_SECS.to_string()));
    eprintln!("bench: the delivery tick: one run of delivery-simulator");
    let served = proc::serve_once(&program, event).await.context("running delivery-simulator")?;
    let advanced = served.response["advanced"].as_u64().unwrap_or_default();

    let (mut one_step, mut wrong) = (0, 0);
    let checks: Vec<anyhow::Result<bool>> = futures::stream::iter(&ids)
        .map(|id| {
            let store = &store;
            async move {
                let order = store.order(id).await?.with_context(|| format!("order {} vanished", id.as_str()))?;
                let steps: Vec<OrderStatus> = order.history.iter().map(|e| e.status).collect();
                Ok(order.status == OrderStatus::Preparing
                    && steps == [OrderStatus::PendingPayment, OrderStatus::Paid, OrderStatus::Preparing])
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    for check in checks {
        if check? {
            one_step += 1;
        } else {
            wrong += 1;
        }
    }
    let init = served.init.as_secs_f64() * 1e3;
    Ok(DeliveryTick {
        due: DUE,
        response: served.response,
        advanced,
        init_ms: init,
        tick_ms: served.total.as_secs_f64() * 1e3 - init,
        peak_rss_kib: served.peak_rss_kib,
        one_step,
        wrong,
        setup_s,
    })
}

/// `n` orders of one unit, placed 10 minutes ago and paid a second later, through the
/// store's own writes.
async fn due_orders(store: &Store, n: usize) -> anyhow::Result<Vec<OrderId>> {
    let now = SystemTime::now();
    let placed_at = Timestamp::at(now - Duration::from_secs(600));
    let paid_at = placed_at.plus(Duration::from_secs(1));
    let maker = UserId::new(format!("bench-delivery-maker-{}", ulid::Ulid::new()));
    let mut catalogue = HashMap::new();
    for i in 0..PRODUCTS {
        let product = Product {
            id: ProductId::generate(),
            maker_id: maker.clone(),
            title: format!("Bench delivery mug {i}"),
            description: "For the delivery tick.".to_owned(),
            price_cents: 1_500,
            currency: Currency::Eur,
            stock: n as u64,
            category: Category::parse("ceramics").map_err(anyhow::Error::msg)?,
            images: Vec::new(),
            photos: Vec::new(),
            status: ProductStatus::Active,
            moderation_note: None,
            created_at: placed_at.clone(),
            updated_at: placed_at.clone(),
            version: 1,
        };
        store.create_product(&product, "bench-delivery-maker").await?;
        catalogue.insert(product.id.clone(), product);
    }
    let products: Vec<&Product> = catalogue.values().collect();
    let pay = legal_move(OrderStatus::PendingPayment, OrderStatus::Paid, Actor::Stripe)
        .context("the state machine no longer lets Stripe mark an order paid")?;
    let results: Vec<anyhow::Result<OrderId>> = futures::stream::iter(0..n)
        .map(|i| {
            let (product, catalogue, placed_at, paid_at) =
                (products[i % products.len()], &catalogue, &placed_at, &paid_at);
            async move {
                let order = Order {
                    id: OrderId::generate(),
                    customer_id: UserId::new(format!("bench-delivery-customer-{}", i % 4)),
                    status: OrderStatus::PendingPayment,
                    items: vec![OrderLine {
                        product_id: product.id.clone(),
                        maker_id: product.maker_id.clone(),
                        title: product.title.clone(),
                        unit_price_cents: product.price_cents,
                        quantity: 1,
                        subtotal_cents: product.price_cents,
                    }],
                    total_cents: product.price_cents,
                    currency: Currency::Eur,
                    shipping_address: Address {
                        name: "Ada Lovelace".to_owned(),
                        line1: "Rua das Flores 12".to_owned(),
                        line2: None,
                        city: "Porto".to_owned(),
                        postal_code: "4050-262".to_owned(),
                        country: "PT".to_owned(),
                    },
                    payment: Payment::stripe(format!("pi_bench_delivery_{i}"), format!("pi_bench_delivery_{i}_secret")),
                    history: vec![HistoryEntry {
                        status: OrderStatus::PendingPayment,
                        at: placed_at.clone(),
                        note: None,
                    }],
                    created_at: placed_at.clone(),
                    updated_at: placed_at.clone(),
                };
                let due = placed_at.plus(Duration::from_secs(1800));
                match store.place_order(&order, &due, None, catalogue, now).await? {
                    Placement::Placed => {}
                    Placement::KeyTaken(_) => anyhow::bail!("placing without a key found a key taken"),
                }
                match store.apply_move(&order, pay, paid_at, None).await? {
                    MoveOutcome::Moved(_) => Ok(order.id),
                    other => anyhow::bail!("paying a bench order: {other:?}"),
                }
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}
