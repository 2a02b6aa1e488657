//! Orders written straight through `shared::store`, as the functions write them, for the
//! tests and benchmarks that need many of them fast: placing through the API would measure
//! placing.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use futures::StreamExt as _;
use shared::domain::order::legal_move;
use shared::domain::{
    Actor, Address, Category, Currency, HistoryEntry, Order, OrderId, OrderLine, OrderStatus, Payment, Product,
    ProductId, ProductStatus, Timestamp, UserId,
};
use shared::store::{MoveOutcome, Placement, Store};

/// Products the orders are spread over (placing them queues less on one item).
const PRODUCTS: usize = 20;
/// Writes in flight.
const CONCURRENCY: usize = 16;
/// Customers the orders are spread over: more than the writes in flight, so that none
/// holds more unpaid orders at once than a customer may (`MAX_UNPAID_ORDERS`).
const CUSTOMERS: usize = 64;

/// `n` orders of one unit, placed `ago` and paid a second later (so due a delivery step
/// once the dwell has passed since then), with their stock reserved, by the store's own
/// writes: one placing transaction and one move each.
pub async fn paid_orders(store: &Store, n: usize, ago: Duration) -> anyhow::Result<Vec<OrderId>> {
    let now = SystemTime::now();
    let placed_at = Timestamp::at(now - ago);
    let paid_at = placed_at.plus(Duration::from_secs(1));
    let maker = UserId::new(format!("seed-maker-{}", ulid::Ulid::new()));
    let mut catalogue = HashMap::new();
    for i in 0..PRODUCTS {
        let product = Product {
            id: ProductId::generate(),
            maker_id: maker.clone(),
            title: format!("Seeded mug {i}"),
            description: "For a test or benchmark.".to_owned(),
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
        store.create_product(&product, "seed-maker").await?;
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
                    customer_id: UserId::new(format!("seed-customer-{}", i % CUSTOMERS)),
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
                    payment: Payment::stripe(format!("pi_seed_{i}"), format!("pi_seed_{i}_secret")),
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
                    other => anyhow::bail!("paying a seeded order: {other:?}"),
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}
