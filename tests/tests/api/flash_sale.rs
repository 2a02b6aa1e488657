//! A flash sale through the API: many customers at once on one product with few units.
//! Requests run 50 at a time, as 50 Lambda instances of `create-order` would take them in
//! the cloud (the local ALB's `--max-instances 50`; here the handlers run in-process).
//!
//! DynamoDB Local serialises every transaction under one table lock and never answers
//! `TransactionConflict`, so the rush here also gets what real DynamoDB does to one hot
//! item: every other placing transaction is cancelled for a conflict (injected,
//! [`e2e::faults`]). A reservation that keeps losing is a 503 with `Retry-After`, never a 500.
//! The test runs alone (`.config/nextest.toml`): beside the rest of the suite DynamoDB
//! Local's lock queue outlasts the functions' timeouts.

use e2e::faults::{Fault, Timing};
use e2e::{TestContext, order_body, unique_price};
use futures::StreamExt as _;
use serde_json::json;
use std::collections::BTreeMap;

const UNITS: u64 = 20;
const CUSTOMERS: usize = 40;
const ATTEMPTS: usize = 400;
/// `create-order` instances at once.
const CONCURRENCY: usize = 50;

#[tokio::test]
async fn a_flash_sale_of_twenty_units_to_four_hundred_attempts_sells_exactly_twenty_and_calls_stripe_only_for_them() {
    let ctx = TestContext::new().await;
    let price = unique_price();
    let mug = ctx.create_product(&ctx.maker, json!({"stock": UNITS, "price_cents": price})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let people = ctx.customers(CUSTOMERS).await;
    let body = order_body(&[(&mug, 1)]);

    ctx.faults.inject(Some("TransactWriteItems"), Fault::Conflict, Timing::Instead, 2, u32::MAX);
    let answers: Vec<(u16, Option<String>)> = futures::stream::iter(0..ATTEMPTS)
        .map(|i| {
            let (who, body, ctx) = (&people[i % CUSTOMERS], &body, &ctx);
            async move {
                let answer = ctx.place_order(who, body).await;
                let detail = match answer.status {
                    201 => None,
                    503 => answer.header("retry-after").map(str::to_owned),
                    status => Some(answer.problem(status)["type"].as_str().unwrap_or_default().to_owned()),
                };
                (answer.status, detail)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    ctx.faults.clear();

    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (status, _) in &answers {
        *by_status.entry(*status).or_default() += 1;
    }
    eprintln!("flash sale: {by_status:?}, {} conflicts injected", ctx.faults.injected("TransactWriteItems"));
    assert!(by_status.keys().all(|s| [201, 409, 503].contains(s)), "only sold, refused, or busy: {by_status:?}");
    for (status, detail) in &answers {
        if *status == 503 {
            // 1 s after a lost race; 5 s when DynamoDB Local, queueing 50 transactions on
            // its one lock, did not answer within the functions' timeout.
            let wait = detail.as_deref().and_then(|w| w.parse::<u32>().ok());
            assert!(wait.is_some_and(|w| w >= 1), "a busy answer says when to retry: {detail:?}");
        }
        if *status == 409 {
            let kind = detail.as_deref().unwrap_or_default();
            assert!(kind.ends_with("/conflict") || kind.ends_with("/unpaid-orders-limit"), "{kind}");
        }
    }
    assert!(ctx.faults.injected("TransactWriteItems") > 0, "the rush met conflicts");
    assert_eq!(ctx.stock(&mug).await, 0, "sold out, not oversold");

    // Exactly 20 orders hold the 20 units. Each sale (201) is one of them with its intent;
    // an order whose answer timed out after its units were held (a 503 above) may be
    // waiting for its intent, as a retry with its key would give it.
    let mut orders = Vec::new();
    for who in &people {
        let mine = ctx.get("/orders").auth(who).send().await.expect(200).json();
        orders.extend(mine["items"].as_array().cloned().unwrap_or_default());
    }
    assert_eq!(orders.len(), UNITS as usize, "the units are held by exactly {UNITS} orders");
    let with_intent = orders.iter().filter(|o| o["payment"]["payment_intent_id"] != "").count();
    let sold = by_status.get(&201).copied().unwrap_or_default();
    assert_eq!(sold, with_intent, "every sale has its intent");
    assert!(UNITS as usize - with_intent <= by_status.get(&503).copied().unwrap_or_default());
    assert!(sold >= UNITS as usize - 5, "nearly every unit sold at once: {by_status:?}");

    // Stripe saw the held units only: one intent per sale, at most 20 + 5.
    let intents = ctx.intents_of_amount(price).await;
    assert!(intents.len() <= UNITS as usize + 5, "{} intents", intents.len());
    assert_eq!(intents.len(), with_intent, "one intent per order that holds its unit");
}
