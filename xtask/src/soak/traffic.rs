//! The soak's customers: closed-loop workers, each serving a few customers in turn. One
//! round of a worker: browse (a list and a product), place an order with an
//! `Idempotency-Key` (sometimes sent twice, in a row or at once), then play one ending:
//! pay, get declined then pay, get declined and leave, cancel unpaid, pay then cancel, or
//! leave it to expire. Payments are confirmed at localstripe, as the storefront's Stripe.js
//! does. Every answer of the stack is kept as a [`Sample`], marked with whether the
//! contract allows it there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use local::stripe::TestCard;
use serde_json::{Value, json};

use super::check::Sample;
use crate::bench::orders::Api;

/// How a customer ends an order, with its share of orders (in 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Pay,
    DeclinedThenPay,
    DeclinedThenLeave,
    CancelUnpaid,
    PayThenCancel,
    Leave,
}

const ENDINGS: [(Ending, u32); 6] = [
    (Ending::Pay, 42),
    (Ending::DeclinedThenPay, 10),
    (Ending::DeclinedThenLeave, 5),
    (Ending::CancelUnpaid, 10),
    (Ending::PayThenCancel, 13),
    (Ending::Leave, 20),
];

/// A signed-in customer of the soak.
#[derive(Debug, Clone)]
pub struct Customer {
    pub sub: String,
    pub email: String,
    pub token: String,
}

/// What the workers share: where to go, who they are, and what they saw.
pub struct Traffic {
    pub api: Api,
    pub stripe_api_base: String,
    pub stripe_secret_key: String,
    pub customers: Vec<Customer>,
    pub products: Vec<String>,
    pub started: Instant,
    pub stop_at: Instant,
    /// Each worker starts a round at most this often (so that the load is a rate, and a
    /// slow stack shows as a lower rate).
    pub round_every: Duration,
    pub samples: Mutex<Vec<Sample>>,
    /// Orders the API answered 201 for, by id.
    pub placed: Mutex<BTreeSet<String>>,
    /// Idempotency-Key → order ids answered, for keys sent more than once.
    pub replays: Mutex<BTreeMap<String, BTreeSet<String>>>,
    pub endings: Mutex<BTreeMap<String, usize>>,
}

/// A small pseudo-random generator per worker (xorshift), seeded from a ULID: reproducible
/// enough, and no dependency.
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        Self((ulid::Ulid::new().random() as u64) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An answer, or none (`status` 0) when the request failed on the way.
struct Answer {
    status: u16,
    body: Value,
}

impl Traffic {
    /// One worker: rounds until the stop time, each round as one of `customers` (indexes),
    /// in turn.
    pub async fn worker(&self, customers: Vec<usize>) {
        let mut dice = Dice::new();
        let mut turn = 0;
        while Instant::now() < self.stop_at {
            let round_started = Instant::now();
            let customer = &self.customers[customers[turn % customers.len()]];
            turn += 1;
            self.round(customer, &mut dice).await;
            let rest = self.round_every.saturating_sub(round_started.elapsed());
            let jitter = Duration::from_millis(dice.below(300));
            tokio::time::sleep(rest + jitter).await;
        }
    }

    async fn round(&self, customer: &Customer, dice: &mut Dice) {
        let product = &self.products[usize::try_from(dice.below(self.products.len() as u64)).unwrap_or(0)];
        self.call("GET /products", "GET", "/products?limit=12", None, None, &[], &[200]).await;
        self.call("GET /products/{id}", "GET", &format!("/products/{product}"), None, None, &[], &[200]).await;

        let mut lines = vec![json!({"product_id": product, "quantity": 1 + dice.below(2)})];
        let second = &self.products[usize::try_from(dice.below(self.products.len() as u64)).unwrap_or(0)];
        if second != product && dice.below(3) == 0 {
            lines.push(json!({"product_id": second, "quantity": 1}));
        }
        let body = json!({
            "items": lines,
            "shipping_address": {"name": "Soak Customer", "line1": "Rua do Teste 1", "city": "Porto",
                                 "postal_code": "4000-001", "country": "PT"},
        });
        let key = format!("soak-{}", ulid::Ulid::new());
        let Some((order, intent)) = self.place(customer, &body, &key, dice).await else { return };
        let roll = u32::try_from(dice.below(100)).unwrap_or(0);
        let mut ending = Ending::Leave;
        let mut acc = 0;
        for (e, share) in ENDINGS {
            acc += share;
            if roll < acc {
                ending = e;
                break;
            }
        }
        *lock(&self.endings).entry(format!("{ending:?}")).or_default() += 1;
        match ending {
            Ending::Pay => {
                self.pay(&intent, TestCard::Visa).await;
            }
            Ending::DeclinedThenPay => {
                self.pay(&intent, TestCard::Declined).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.pay(&intent, TestCard::Visa).await;
            }
            Ending::DeclinedThenLeave => {
                self.pay(&intent, TestCard::Declined).await;
            }
            Ending::CancelUnpaid => self.cancel(customer, &order).await,
            Ending::PayThenCancel => {
                if self.pay(&intent, TestCard::Visa).await && self.wait_until_paid(customer, &order).await {
                    self.cancel(customer, &order).await;
                }
            }
            Ending::Leave => {}
        }
    }

    /// `POST /orders`; sometimes the same request again with the same key, right after or
    /// at the same time. The order id and its intent, if one was placed.
    async fn place(&self, customer: &Customer, body: &Value, key: &str, dice: &mut Dice) -> Option<(String, String)> {
        // 201 placed (or replayed); 409: out of stock, the unpaid-orders limit, or the same
        // key still in flight; 422 would mean the key was taken as another body.
        const PLACE_OK: &[u16] = &[201, 409];
        let headers = [("idempotency-key", key)];
        let token = Some(customer.token.as_str());
        let answers = match dice.below(100) {
            0..10 => {
                let first = self.call("POST /orders", "POST", "/orders", token, Some(body), &headers, PLACE_OK).await;
                let again = self.call("POST /orders", "POST", "/orders", token, Some(body), &headers, PLACE_OK).await;
                vec![first, again]
            }
            10..15 => {
                let (a, b) = tokio::join!(
                    self.call("POST /orders", "POST", "/orders", token, Some(body), &headers, PLACE_OK),
                    self.call("POST /orders", "POST", "/orders", token, Some(body), &headers, PLACE_OK)
                );
                vec![a, b]
            }
            _ => vec![self.call("POST /orders", "POST", "/orders", token, Some(body), &headers, PLACE_OK).await],
        };
        let placed: Vec<(String, String)> = answers
            .iter()
            .filter(|a| a.status == 201)
            .filter_map(|a| {
                let id = a.body["id"].as_str()?.to_owned();
                let intent = a.body["payment"]["payment_intent_id"].as_str()?.to_owned();
                Some((id, intent))
            })
            .collect();
        if answers.len() > 1 {
            let ids: BTreeSet<String> = placed.iter().map(|(id, _)| id.clone()).collect();
            lock(&self.replays).insert(key.to_owned(), ids);
        }
        let first = placed.into_iter().next()?;
        lock(&self.placed).insert(first.0.clone());
        Some(first)
    }

    /// Confirms the intent at localstripe with `card`, retrying while Stripe is down (the
    /// storefront's customer clicks "pay" again). Whether the payment went through.
    async fn pay(&self, intent: &str, card: TestCard) -> bool {
        for attempt in 0..4 {
            match local::stripe::confirm_with_test_card(&self.stripe_api_base, &self.stripe_secret_key, intent, card)
                .await
            {
                Ok(paid) => return paid["status"] == "succeeded",
                // Refused for good (the intent was cancelled meanwhile): nothing to retry.
                Err(e) if format!("{e:#}").contains("answered 4") => return false,
                Err(_) => tokio::time::sleep(Duration::from_secs(1 + attempt)).await,
            }
        }
        false
    }

    /// Polls the order until the webhook (or the expirer) marked it paid; false after 10 s.
    async fn wait_until_paid(&self, customer: &Customer, order: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let path = format!("/orders/{order}");
        while Instant::now() < deadline {
            let answer = self.call("GET /orders/{id}", "GET", &path, Some(&customer.token), None, &[], &[200]).await;
            match answer.body["status"].as_str() {
                Some("paid" | "preparing") => return true,
                Some("pending_payment") | None => tokio::time::sleep(Duration::from_millis(300)).await,
                Some(_) => return false,
            }
        }
        false
    }

    /// `POST /orders/{id}/cancel`: 200, or 409 if it moved past cancelling meanwhile.
    async fn cancel(&self, customer: &Customer, order: &str) {
        let path = format!("/orders/{order}/cancel");
        self.call("POST /orders/{id}/cancel", "POST", &path, Some(&customer.token), None, &[], &[200, 409]).await;
    }

    /// One request to the stack, kept as a sample.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        route: &'static str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        allowed: &[u16],
    ) -> Answer {
        let sent = self.started.elapsed();
        let answer = match self.api.send(method, path, token, body, headers).await {
            Ok(reply) => Answer { status: reply.status, body: reply.body },
            Err(_) => Answer { status: 0, body: Value::Null },
        };
        let took = self.started.elapsed().saturating_sub(sent);
        let expected = allowed.contains(&answer.status);
        lock(&self.samples).push(Sample { route, sent, took, status: answer.status, expected });
        answer
    }
}
