//! The delivery tick: how many orders one run of the release `delivery-simulator` binary
//! moves a step on per second when [`DUE`] orders are due, on DynamoDB Local, against the
//! target of 1,000 orders a minute per invocation.
//!
//! The due orders are written through the store as the functions write them (placed with
//! their stock reserved, then moved to `paid` ten minutes in the past), straight to DynamoDB
//! Local: this measures the tick, not placing. The binary then serves one scheduled event in
//! a fresh process under the fake Runtime API, reaching DynamoDB Local directly (no counting
//! proxy), and every order is read back to check it moved exactly one step.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde::Serialize;
use shared::domain::OrderStatus;
use shared::store::Store;

use super::proc::{self, Program};
use super::stack::Stack;

/// Orders due when the tick runs.
pub const DUE: usize = 1_000;
/// The target: orders moved per minute by one invocation.
pub const TARGET_PER_MINUTE: f64 = 1_000.0;
/// Writes in flight while setting up.
const SETUP_CONCURRENCY: usize = 16;
/// The due index's shard counts (`DUE_SHARDS`) the tick is measured with.
pub const SHARD_COUNTS: [u16; 3] = [1, 4, 16];
/// The function's `DELIVERY_DWELL_SECONDS` in this run; the orders were paid 10 minutes ago.
const DWELL_SECS: u64 = 60;

#[derive(Debug, Default, Serialize)]
pub struct DeliveryTick {
    /// `DUE_SHARDS` of this run.
    pub shards: u16,
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
}

/// The section of `BENCHMARKS.md`: a row per shard count.
pub fn markdown(ticks: &[DeliveryTick], md: &mut String) {
    let Some(first) = ticks.first() else { return };
    let _ = writeln!(md, "## The delivery tick: {} due orders, one invocation, by due-index shards\n", first.due);
    let _ = writeln!(
        md,
        "| shards (`DUE_SHARDS`) | advanced | tick (poll → response) | orders/s | orders/min | target/min | init | peak RSS | checked one step on | wrong |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for tick in ticks {
        let rate = tick.per_second().unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} ms | {rate:.0} | {:.0} | {TARGET_PER_MINUTE:.0} | {:.1} ms | {} | {} | {} |",
            tick.shards,
            tick.advanced,
            tick.tick_ms,
            rate * 60.0,
            tick.init_ms,
            tick.peak_rss_kib.map_or_else(|| "–".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            tick.one_step,
            tick.wrong,
        );
    }
    let _ = writeln!(
        md,
        "\nThe release `delivery-simulator` binary serves one `events/delivery-simulator.json` in a fresh process \
         (DynamoDB Local directly, `DELIVERY_DWELL_SECONDS={DWELL_SECS}`, `DUE_SHARDS` as the row says). The {} \
         orders were written through `shared::store` first (`local::seed::paid_orders`: placed with their stock \
         reserved, then moved to `paid` ten minutes earlier), so all are due. The tick reads the shards of the \
         `DUE#DELIVERY#<shard>` index side by side in pages of 100 and makes 16 compare-and-set moves at once \
         (`shared::delivery::TickLimits::default()`); each move is one `TransactWriteItems` (the order and its \
         maker's index item). Afterwards every order is read back. Responses: {}.\n",
        first.due,
        ticks.iter().map(|t| format!("`{}`", t.response)).collect::<Vec<_>>().join(", ")
    );
}

/// Sets up [`DUE`] due orders on the bench table, runs `program` (the release
/// `delivery-simulator`) once, and checks every order.
pub async fn tick(
    stack: &Stack,
    program: &Program,
    event: &serde_json::Value,
    shards: u16,
) -> anyhow::Result<DeliveryTick> {
    let aws = stack.sdk_config().await;
    let store =
        Store::new(aws_sdk_dynamodb::Client::new(&aws), stack.provisioned.table_name.clone()).with_due_shards(shards);
    eprintln!("bench: the delivery tick ({shards} shards): writing {DUE} due orders");
    let started = Instant::now();
    let ids = local::seed::paid_orders(&store, DUE, Duration::from_secs(600)).await?;
    let setup_s = started.elapsed().as_secs_f64();

    let mut program = program.clone();
    program.env.push(("DELIVERY_DWELL_SECONDS".to_owned(), DWELL_SECS.to_string()));
    program.env.push(("DUE_SHARDS".to_owned(), shards.to_string()));
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
        shards,
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
