//! An order's lifecycle on the whole local stack (`crate::stack::Stack::up`, what
//! `cargo xtask dev` runs, on free ports with the bench's release binaries): how long the
//! customer waits for the `payment received` email after paying, and how many emails each
//! status sends.
//!
//! The path of a payment: localstripe sends the signed webhook to `POST /webhooks/stripe`
//! (`stripe-webhook` marks the order paid) → the table's stream, read by the stream pump
//! every [`local::streams::DEFAULT_POLL_EVERY`] → `order-events` → the bus on moto → the
//! rule → the notifier's SQS queue, long-polled by the notifier pump → `notifier` → SES
//! (moto). Every time here is on this machine's clock: the client's, and the stamps the
//! functions write (the order's history, the email markers), at millisecond resolution.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use local::notifications::SentEmail;
use local::stripe::TestCard;
use serde::Serialize;
use serde_json::{Value, json};
use shared::domain::{OrderStatus, RefundStatus, Timestamp};

use super::orders::Api;
use super::report::{median, percentile};
use crate::stack::{Stack, StackOptions};

/// The functions the lifecycle needs in the bin dir: the API calls it makes, the stream's
/// and the queue's functions, and the scheduled ones. The stack runs whatever else is built
/// there too; a route whose function is not built answers 502, and none is called here.
pub const FUNCTIONS: &[&str] = &[
    "create-order",
    "get-order",
    "cancel-order",
    "stripe-webhook",
    "order-events",
    "notifier",
    "delivery-simulator",
    "payment-expirer",
];
/// `DELIVERY_DWELL_SECONDS` on this stack: a paid order is delivered in about 4 dwells.
pub const DWELL: Duration = Duration::from_secs(2);
/// How often the client looks for the email in moto's mailbox (plus the read itself).
const POLL: Duration = Duration::from_millis(20);
/// How long one email may take before the run gives up on it.
const EMAIL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the counted orders may take to reach their last status and send its emails.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);
/// After every expected email is there, how long the run still waits for extra ones.
const GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Default, Serialize)]
pub struct Lifecycle {
    /// Orders timed (after one untimed warm-up order).
    pub orders: Vec<PaidEmail>,
    /// The orders whose emails were counted.
    pub counted: Vec<OrderEmails>,
    /// One read of moto's mailbox (`/moto-api/data.json`), ms: the client's poll resolution
    /// is this plus [`POLL`].
    pub mailbox_read_ms: Vec<f64>,
    pub load_before: String,
    pub load_after: String,
    pub errors: Vec<String>,
}

/// One order paid and its customer's `payment received` email, as times in ms.
#[derive(Debug, Default, Serialize)]
pub struct PaidEmail {
    pub order_id: String,
    /// The confirmation at localstripe returned → the email is in moto's mailbox (client).
    pub confirm_to_email_ms: f64,
    /// The confirmation returned → the order's `paid` history entry (stamped by
    /// `stripe-webhook` handling localstripe's webhook).
    pub confirm_to_paid_ms: Option<f64>,
    /// The order's `paid` stamp → the notifier claimed the email (its marker's `claimed_at`).
    pub paid_to_claimed_ms: Option<f64>,
    /// Claimed → SES answered (the marker's `sent_at`).
    pub claimed_to_sent_ms: Option<f64>,
    /// `sent_at` → the client saw the email in moto's mailbox.
    pub sent_to_seen_ms: Option<f64>,
    /// The order's `paid` stamp (the webhook handled) → the client saw the email.
    pub paid_to_email_ms: Option<f64>,
    /// The client's GET /orders/{id} after the email: `paid` (or later).
    pub status_after: String,
}

/// Emails of one order, by status and recipient kind.
#[derive(Debug, Default, Clone, Serialize)]
pub struct OrderEmails {
    pub scenario: String,
    pub order_id: String,
    pub makers: usize,
    pub final_status: String,
    /// status → [customer, maker], from moto's mailbox (subjects naming the order).
    pub counted: BTreeMap<String, [u64; 2]>,
    pub expected: BTreeMap<String, [u64; 2]>,
    /// status → [customer, maker], the notifier's markers in `sent` state.
    pub markers: BTreeMap<String, [u64; 2]>,
    /// Emails naming the order whose subject is neither the customer's nor a maker's.
    pub unrecognised: Vec<String>,
    pub error: Option<String>,
}

impl OrderEmails {
    pub fn matches(&self) -> bool {
        self.error.is_none() && self.unrecognised.is_empty() && self.counted == self.expected
    }
}

impl Lifecycle {
    fn confirm_to_email(&self) -> Vec<f64> {
        self.orders.iter().map(|o| o.confirm_to_email_ms).collect()
    }

    fn paid_to_email(&self) -> Vec<f64> {
        self.orders.iter().filter_map(|o| o.paid_to_email_ms).collect()
    }

    /// The rows of the targets table.
    pub fn target_rows(&self, md: &mut String) {
        if !self.counted.is_empty() {
            let wrong = self.counted.iter().filter(|c| !c.matches()).count();
            let _ = writeln!(
                md,
                "| order emails: on `paid` 1 to the customer and 1 per maker, 1 to the customer on every later status and after a declined card | {} of {} orders as expected | {} |",
                self.counted.len() - wrong,
                self.counted.len(),
                if wrong == 0 { "met" } else { "**MISSED**" }
            );
        }
    }

    /// The section of `BENCHMARKS.md`.
    pub fn markdown(&self, md: &mut String) {
        let _ = writeln!(md, "## An order's lifecycle on the local stack: the paid email, and emails per status\n");
        let _ = writeln!(
            md,
            "The whole local stack of `cargo xtask dev` (`xtask/src/stack.rs`: DynamoDB Local, moto, localstripe, the \
             release binaries behind the local ALB, the scheduler with the delivery simulator every second and \
             `DELIVERY_DWELL_SECONDS={}`, the stream pump polling every {} ms → `order-events` → the bus on moto → \
             rule → SQS, long-polled by the notifier pump → `notifier` → SES on moto), on free ports, with its own \
             emulators, started after the other sections' emulators were stopped. Load average before / after: {} / \
             {}.\n",
            DWELL.as_secs(),
            local::streams::DEFAULT_POLL_EVERY.as_millis(),
            self.load_before,
            self.load_after,
        );
        for e in &self.errors {
            let _ = writeln!(md, "- **Problem:** {}", e.replace('\n', " "));
        }
        if !self.errors.is_empty() {
            md.push('\n');
        }

        let _ = writeln!(md, "### Payment → the customer's `payment received` email\n");
        if self.orders.is_empty() {
            let _ = writeln!(md, "Not measured in this run.\n");
        } else {
            let _ = writeln!(
                md,
                "{} orders, one at a time, after one untimed warm-up order. Each: `POST /orders` as the demo customer \
                 (one unit of the seeded product with the most stock), a random pause of 0–{} ms (so that the payments \
                 do not all meet the stream pump at the same point of its cycle), then the PaymentIntent confirmed \
                 at localstripe with `pm_card_visa` (as `cargo xtask pay`); the client then reads moto's mailbox every {} ms (plus the read, median {} ms) \
                 until the customer's `payment received` email is there. localstripe sends the webhook **1 s after** \
                 the confirmation (`asyncio.sleep(1)` in its `_send_webhook`), so the first row includes that second; \
                 the second row starts at the order's `paid` history entry, stamped by `stripe-webhook` while handling \
                 the webhook (read with `GET /orders/{{id}}` afterwards, not polled), and is the webhook → email \
                 latency of the stack. The other rows split it with the notifier's marker of the email \
                 (`MAIL#paid#<sub>`: `claimed_at`, `sent_at`).\n",
                self.orders.len(),
                local::streams::DEFAULT_POLL_EVERY.as_millis(),
                POLL.as_millis(),
                ms(median(&self.mailbox_read_ms)),
            );
            let _ = writeln!(md, "| interval | median ms | p90 ms | max ms | min ms |\n|---|---:|---:|---:|---:|");
            let rows: [(&str, Vec<f64>); 6] = [
                ("confirmation returned → email in moto's mailbox", self.confirm_to_email()),
                ("**webhook handled (`paid` stamp) → email in moto's mailbox**", self.paid_to_email()),
                (
                    "confirmation returned → `paid` stamp (localstripe's 1 s + the webhook)",
                    self.orders.iter().filter_map(|o| o.confirm_to_paid_ms).collect(),
                ),
                (
                    "`paid` stamp → notifier claims the email (stream pump, `order-events`, bus, SQS, notifier's reads)",
                    self.orders.iter().filter_map(|o| o.paid_to_claimed_ms).collect(),
                ),
                (
                    "claimed → sent (SES on moto answered)",
                    self.orders.iter().filter_map(|o| o.claimed_to_sent_ms).collect(),
                ),
                (
                    "sent → seen by the client (poll resolution)",
                    self.orders.iter().filter_map(|o| o.sent_to_seen_ms).collect(),
                ),
            ];
            for (label, values) in rows {
                let _ = writeln!(
                    md,
                    "| {label} | {} | {} | {} | {} |",
                    ms(median(&values)),
                    ms(percentile(&values, 90.0)),
                    ms(values.iter().copied().max_by(f64::total_cmp)),
                    ms(values.iter().copied().min_by(f64::total_cmp)),
                );
            }
            md.push('\n');
            let claimed: Vec<f64> = self.orders.iter().filter_map(|o| o.paid_to_claimed_ms).collect();
            let poll = local::streams::DEFAULT_POLL_EVERY.as_millis();
            let _ = writeln!(
                md,
                "Where the time goes: of the webhook → email time, almost all is between the `paid` stamp and the notifier's claim, and \
                 most of that is the stream pump's wait: it reads the table's stream every {poll} ms \
                 (`local::streams::DEFAULT_POLL_EVERY`), so a change waits 0–{poll} ms (half on average) before \
                 `order-events` runs. Here that interval ran from {} to {} ms: the least is close to the work \
                 alone (an upper bound on it: the stream read, `order-events` and its `PutEvents`, the rule's delivery to SQS, the notifier pump's \
                 long poll, which moto answers as soon as a message arrives, and the notifier's reads), the spread \
                 above it is the pump's wait. The SES send and the client's polling add a few tens of ms. The \
                 interval was left as it is: it is not wasteful (Lambda's event source mapping polls a stream's \
                 shard about 4 times a second too), and shortening it would only flatter this figure.\n",
                ms(claimed.iter().copied().min_by(f64::total_cmp)),
                ms(claimed.iter().copied().max_by(f64::total_cmp)),
            );
        }

        let _ = writeln!(md, "### Emails per status for one order's whole lifecycle\n");
        if self.counted.is_empty() {
            let _ = writeln!(md, "Not measured in this run.\n");
            return;
        }
        let _ = writeln!(
            md,
            "Counted in moto's mailbox by subject (each names the order: the customer's `Your Makers Market order \
             <id>: <status>`, or `…: your payment didn't go through — try again` after a declined card (column \
             `declined`), a maker's `Makers Market order <id> is paid: …`) once every order reached its last \
             status, every expected email was there and {} s more had passed; cross-checked with the notifier's \
             markers (`pk=ORDER#<id>`, `sk=MAIL#<status>#<sub>` or `MAIL#ATTEMPT#<n>#<sub>`, state `sent`). Cells: \
             customer + maker emails (expected in brackets when different).\n",
            GRACE.as_secs()
        );
        let statuses: Vec<&str> = OrderStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .chain([DECLINED])
            .filter(|s| self.counted.iter().any(|c| c.counted.contains_key(*s) || c.expected.contains_key(*s)))
            .collect();
        let _ = write!(md, "| order | final status |");
        for s in &statuses {
            let _ = write!(md, " `{s}` |");
        }
        let _ = writeln!(md, " total | as expected |");
        let _ = write!(md, "|---|---|");
        for _ in &statuses {
            md.push_str("---:|");
        }
        md.push_str("---:|---|\n");
        for c in &self.counted {
            let _ = write!(md, "| {} (`{}`) | {} |", c.scenario, c.order_id, c.final_status);
            for s in &statuses {
                let got = c.counted.get(*s).copied().unwrap_or_default();
                let want = c.expected.get(*s).copied().unwrap_or_default();
                let cell = if got == [0, 0] && want == [0, 0] {
                    "–".to_owned()
                } else if got == want {
                    format!("{} + {}", got[0], got[1])
                } else {
                    format!("**{} + {}** ({} + {})", got[0], got[1], want[0], want[1])
                };
                let _ = write!(md, " {cell} |");
            }
            let total: u64 = c.counted.values().map(|[a, b]| a + b).sum();
            let _ = writeln!(md, " {total} | {} |", if c.matches() { "yes" } else { "**NO**" });
        }
        md.push('\n');
        for c in &self.counted {
            if !c.matches() {
                let _ = writeln!(
                    md,
                    "- **MISMATCH** for {} (`{}`): counted {:?}, expected {:?}{}{}",
                    c.scenario,
                    c.order_id,
                    c.counted,
                    c.expected,
                    c.error.as_ref().map(|e| format!("; {e}")).unwrap_or_default(),
                    if c.unrecognised.is_empty() {
                        String::new()
                    } else {
                        format!("; unrecognised subjects: {:?}", c.unrecognised)
                    }
                );
            }
            if c.markers != c.counted {
                let _ = writeln!(
                    md,
                    "- the notifier's `sent` markers of {} differ from the mailbox: {:?}",
                    c.order_id, c.markers
                );
            }
        }
        md.push('\n');
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

/// Brings up the whole stack from `bin_dir` (logs under `log_dir`), times `timed` paid
/// emails and counts the emails of three more orders.
pub async fn run(root: &Path, bin_dir: &Path, log_dir: &Path, timed: usize) -> anyhow::Result<Lifecycle> {
    let missing: Vec<&str> = FUNCTIONS.iter().copied().filter(|f| !bin_dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!("not built in {}: {}", bin_dir.display(), missing.join(", "));
    }
    let root_owned = root.to_owned();
    let venv = tokio::task::spawn_blocking(move || {
        local::dynamodb_local::ensure_installed()?;
        local::venv::ensure_emulators(&root_owned)
    })
    .await
    .context("the venv task panicked")??;
    let opts = StackOptions { delivery_dwell: Some(DWELL), ..StackOptions::on_free_ports(bin_dir, log_dir) };
    eprintln!("bench: the lifecycle: starting the whole local stack");
    let stack = Stack::up(&venv, &opts).await.context("starting the whole local stack")?;
    let mut result = Lifecycle { load_before: super::loadavg(), ..Lifecycle::default() };
    let outcome = measure(&stack, timed, &mut result).await;
    result.load_after = super::loadavg();
    stack.down().await;
    if let Err(e) = outcome {
        result.errors.push(format!("{e:#}"));
    }
    Ok(result)
}

/// What the run needs from the stack.
struct Run<'a> {
    stack: &'a Stack,
    api: Api,
    customer: String,
    /// The seeded product with the most stock of each maker, most stock first:
    /// (maker id, product id).
    products: Vec<(String, String)>,
    dynamodb: aws_sdk_dynamodb::Client,
}

async fn measure(stack: &Stack, timed: usize, out: &mut Lifecycle) -> anyhow::Result<()> {
    let info = &stack.info;
    let customer = &info.users.customer;
    let customer = local::cognito::access_token(&stack.aws, &info.cognito, &customer.username, &customer.password)
        .await
        .context("signing in as the demo customer")?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.aws);
    let products = products_by_maker(&dynamodb, &info.table_name).await?;
    anyhow::ensure!(products.len() >= 2, "the seed has products of {} maker(s); 2 are needed", products.len());
    let run = Run { stack, api: Api::new(&info.api_url), customer, products, dynamodb };

    eprintln!("bench: the lifecycle: one warm-up order, then {timed} timed paid emails");
    run.paid_email(&mut Vec::new()).await.context("the warm-up order")?;
    for i in 0..timed {
        match run.paid_email(&mut out.mailbox_read_ms).await {
            Ok(sample) => out.orders.push(sample),
            Err(e) => {
                out.errors.push(format!("timed order {} of {timed}: {e:#}", i + 1));
                break;
            }
        }
    }

    eprintln!("bench: the lifecycle: counting the emails of three orders");
    let product_of = |i: usize| run.products[i].1.clone();
    // Two makers, paid, left to reach `delivered`.
    let mut lifecycle = OrderEmails {
        scenario: "paid, two makers, left to be delivered".to_owned(),
        makers: 2,
        expected: expected(&[
            (OrderStatus::Paid, [1, 2]),
            (OrderStatus::Preparing, [1, 0]),
            (OrderStatus::Shipped, [1, 0]),
            (OrderStatus::OutForDelivery, [1, 0]),
            (OrderStatus::Delivered, [1, 0]),
        ]),
        ..Default::default()
    };
    let mut want = vec![OrderStatus::Delivered];
    match run.place(&[product_of(0), product_of(1)]).await {
        Ok((id, intent)) => {
            lifecycle.order_id = id;
            if let Err(e) = run.confirm(&intent, TestCard::Visa).await {
                lifecycle.error = Some(format!("{e:#}"));
            }
        }
        Err(e) => lifecycle.error = Some(format!("{e:#}")),
    }
    // One maker, paid, then cancelled by the customer (a refund at localstripe).
    let mut cancelled = OrderEmails {
        scenario: "paid, one maker, cancelled by the customer".to_owned(),
        makers: 1,
        expected: expected(&[(OrderStatus::Paid, [1, 1]), (OrderStatus::Cancelled, [1, 0])]),
        ..Default::default()
    };
    want.push(OrderStatus::Cancelled);
    if let Err(e) = run.paid_then_cancelled(&product_of(0), &mut cancelled).await {
        cancelled.error = Some(format!("{e:#}"));
    }
    // One maker, the card declined: the order stays payable, the customer is asked to try
    // again. (localstripe declines an intent once only, so the fifth decline that fails an
    // order is not played here.)
    let mut failed = OrderEmails {
        scenario: "card declined once (`pm_card_chargeCustomerFail`)".to_owned(),
        makers: 1,
        expected: BTreeMap::from([(DECLINED.to_owned(), [1, 0])]),
        ..Default::default()
    };
    want.push(OrderStatus::PendingPayment);
    match run.place(&[product_of(1)]).await {
        Ok((id, intent)) => {
            failed.order_id = id;
            if let Err(e) = run.confirm(&intent, TestCard::Declined).await {
                failed.error = Some(format!("{e:#}"));
            }
        }
        Err(e) => failed.error = Some(format!("{e:#}")),
    }
    let mut counted = vec![lifecycle, cancelled, failed];
    run.settle(&mut counted, &want).await;
    out.counted = counted;
    Ok(())
}

/// The key, beside the statuses, of the customer's "try again" emails after a declined card.
const DECLINED: &str = "declined";

fn expected(rows: &[(OrderStatus, [u64; 2])]) -> BTreeMap<String, [u64; 2]> {
    rows.iter().map(|(s, n)| (s.as_str().to_owned(), *n)).collect()
}

impl Run<'_> {
    /// `POST /orders` as the demo customer, one unit of each product; the order and its
    /// PaymentIntent.
    async fn place(&self, products: &[String]) -> anyhow::Result<(String, String)> {
        let body = json!({
            "items": products.iter().map(|p| json!({"product_id": p, "quantity": 1})).collect::<Vec<_>>(),
            "shipping_address": {
                "name": "Ada Lovelace", "line1": "Rua das Flores 12", "city": "Porto",
                "postal_code": "4050-262", "country": "PT"
            },
        });
        let key = ulid::Ulid::new().to_string();
        let reply = self
            .api
            .send("POST", "/orders", Some(&self.customer), Some(&body), &[("idempotency-key", &key)])
            .await?
            .expect(201, "placing an order")?;
        let intent = reply.body["payment"]["payment_intent_id"]
            .as_str()
            .with_context(|| format!("no payment intent in {}", reply.body))?
            .to_owned();
        Ok((reply.str("id")?, intent))
    }

    /// Confirms the intent at localstripe with `card`, which then sends the webhook.
    async fn confirm(&self, intent: &str, card: TestCard) -> anyhow::Result<()> {
        let stripe = &self.stack.info.stripe;
        let paid = local::stripe::confirm_with_test_card(&stripe.api_base, &stripe.secret_key, intent, card).await?;
        let want = if card == TestCard::Visa { "succeeded" } else { "requires_payment_method" };
        anyhow::ensure!(paid["status"] == want, "localstripe left {intent} {}, not {want}", paid["status"]);
        Ok(())
    }

    async fn order(&self, id: &str) -> anyhow::Result<Value> {
        Ok(self
            .api
            .send("GET", &format!("/orders/{id}"), Some(&self.customer), None, &[])
            .await?
            .expect(200, "reading an order")?
            .body)
    }

    /// One order placed and paid, timed until its customer's `payment received` email.
    async fn paid_email(&self, reads: &mut Vec<f64>) -> anyhow::Result<PaidEmail> {
        let (id, intent) = self.place(std::slice::from_ref(&self.products[0].1)).await?;
        let subject = shared::email::subject_for(&id, OrderStatus::Paid, None);
        // Orders paid one after another in a steady rhythm would meet the stream pump at
        // the same point of its cycle every time: a random pause spreads them over it, as
        // webhooks arriving at any moment are.
        let poll = local::streams::DEFAULT_POLL_EVERY.as_millis() as u64;
        let pause = (ulid::Ulid::new().random() % u128::from(poll.max(1))) as u64;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        self.confirm(&intent, TestCard::Visa).await?;
        let confirmed = epoch_ms(SystemTime::now());
        let started = Instant::now();
        let seen = loop {
            let read = Instant::now();
            let emails = local::notifications::sent_emails(&self.stack.info.aws_endpoint_url).await?;
            reads.push(read.elapsed().as_secs_f64() * 1e3);
            if emails.iter().any(|e| e.subject == subject) {
                break epoch_ms(SystemTime::now());
            }
            if started.elapsed() > EMAIL_TIMEOUT {
                bail!("order {id}: no `payment received` email {} s after the payment", EMAIL_TIMEOUT.as_secs());
            }
            tokio::time::sleep(POLL).await;
        };
        let order = self.order(&id).await?;
        let paid = order["history"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| h["status"] == "paid")
            .and_then(|h| h["at"].as_str())
            .and_then(stamp_ms);
        let customer = order["customer_id"].as_str().unwrap_or_default().to_owned();
        let marker = self.markers(&id).await?.into_iter().find(|m| m.status == "paid" && m.recipient == customer);
        let (claimed, sent) = marker.map_or((None, None), |m| (m.claimed_at, m.sent_at));
        let diff = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
        Ok(PaidEmail {
            confirm_to_email_ms: seen - confirmed,
            confirm_to_paid_ms: diff(Some(confirmed), paid),
            paid_to_claimed_ms: diff(paid, claimed),
            claimed_to_sent_ms: diff(claimed, sent),
            sent_to_seen_ms: diff(sent, Some(seen)),
            paid_to_email_ms: diff(paid, Some(seen)),
            status_after: order["status"].as_str().unwrap_or_default().to_owned(),
            order_id: id,
        })
    }

    /// Placed, paid, and cancelled by the customer as soon as it shows `paid` (it stays
    /// `paid` for a dwell; a customer may cancel `preparing` too).
    async fn paid_then_cancelled(&self, product: &str, out: &mut OrderEmails) -> anyhow::Result<()> {
        let (id, intent) = self.place(&[product.to_owned()]).await?;
        out.order_id = id.clone();
        self.confirm(&intent, TestCard::Visa).await?;
        let started = Instant::now();
        loop {
            let order = self.order(&id).await?;
            match order["status"].as_str().unwrap_or_default() {
                "pending_payment" if started.elapsed() < EMAIL_TIMEOUT => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                "paid" | "preparing" => break,
                other => bail!("order {id} is `{other}` after the payment"),
            }
        }
        self.api
            .send("POST", &format!("/orders/{id}/cancel"), Some(&self.customer), None, &[])
            .await?
            .expect(200, "cancelling a paid order")?;
        Ok(())
    }

    /// Waits until each order is in its last status and every expected email is in the
    /// mailbox (then [`GRACE`] more), and counts.
    async fn settle(&self, orders: &mut [OrderEmails], last: &[OrderStatus]) {
        let started = Instant::now();
        loop {
            let mut done = true;
            for (o, want) in orders.iter_mut().zip(last) {
                if o.order_id.is_empty() {
                    continue;
                }
                match self.order(&o.order_id).await {
                    Ok(order) => o.final_status = order["status"].as_str().unwrap_or_default().to_owned(),
                    Err(e) => o.error = Some(format!("{e:#}")),
                }
                done &= o.final_status == want.as_str();
            }
            match local::notifications::sent_emails(&self.stack.info.aws_endpoint_url).await {
                Ok(emails) => {
                    for o in orders.iter_mut().filter(|o| !o.order_id.is_empty()) {
                        (o.counted, o.unrecognised) = count(&emails, &o.order_id);
                        let got: u64 = o.counted.values().map(|[a, b]| a + b).sum();
                        let want: u64 = o.expected.values().map(|[a, b]| a + b).sum();
                        done &= got >= want;
                    }
                }
                Err(e) => {
                    done = false;
                    eprintln!("bench: reading moto's mailbox: {e:#}");
                }
            }
            if done {
                break;
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                for o in orders.iter_mut().filter(|o| o.error.is_none()) {
                    o.error = Some(format!(
                        "not settled {} s after the payments (status `{}`)",
                        SETTLE_TIMEOUT.as_secs(),
                        o.final_status
                    ));
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(GRACE).await;
        let emails = local::notifications::sent_emails(&self.stack.info.aws_endpoint_url).await;
        for o in orders.iter_mut().filter(|o| !o.order_id.is_empty()) {
            match &emails {
                Ok(emails) => (o.counted, o.unrecognised) = count(emails, &o.order_id),
                Err(e) => o.error = Some(format!("reading moto's mailbox: {e:#}")),
            }
            let customer = match self.order(&o.order_id).await {
                Ok(order) => {
                    o.final_status = order["status"].as_str().unwrap_or_default().to_owned();
                    order["customer_id"].as_str().unwrap_or_default().to_owned()
                }
                Err(e) => {
                    o.error.get_or_insert(format!("{e:#}"));
                    continue;
                }
            };
            match self.markers(&o.order_id).await {
                Ok(markers) => {
                    for m in markers.iter().filter(|m| m.state == "sent") {
                        let kind = usize::from(m.recipient != customer);
                        o.markers.entry(m.status.clone()).or_default()[kind] += 1;
                    }
                }
                Err(e) => {
                    o.error.get_or_insert(format!("{e:#}"));
                }
            }
        }
    }

    /// The notifier's email markers of an order.
    async fn markers(&self, order_id: &str) -> anyhow::Result<Vec<Marker>> {
        let out = self
            .dynamodb
            .query()
            .table_name(&self.stack.info.table_name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :mail)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("ORDER#{order_id}")))
            .expression_attribute_values(":mail", AttributeValue::S("MAIL#".to_owned()))
            .consistent_read(true)
            .send()
            .await
            .context("reading the email markers")?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                let sk = text("sk")?;
                let (status, recipient) = match sk.strip_prefix("MAIL#ATTEMPT#") {
                    // `MAIL#ATTEMPT#<n>#<sub>`: a declined attempt's email.
                    Some(rest) => (DECLINED.to_owned(), rest.split_once('#')?.1.to_owned()),
                    None => {
                        let mut parts = sk.splitn(3, '#').skip(1);
                        (parts.next()?.to_owned(), parts.next()?.to_owned())
                    }
                };
                Some(Marker {
                    status,
                    recipient,
                    state: text("state").unwrap_or_default(),
                    claimed_at: text("claimed_at").as_deref().and_then(stamp_ms),
                    sent_at: text("sent_at").as_deref().and_then(stamp_ms),
                })
            })
            .collect())
    }
}

struct Marker {
    status: String,
    recipient: String,
    state: String,
    claimed_at: Option<f64>,
    sent_at: Option<f64>,
}

/// The emails naming `order_id`, by status and recipient kind (customer, maker); and the
/// subjects naming it that are neither.
fn count(emails: &[SentEmail], order_id: &str) -> (BTreeMap<String, [u64; 2]>, Vec<String>) {
    let mut counts: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    let mut unrecognised = Vec::new();
    let maker_prefix = format!("Makers Market order {order_id} is paid:");
    let declined = shared::email::subject_for_declined(order_id);
    for email in emails.iter().filter(|e| e.subject.contains(order_id)) {
        if email.subject.starts_with(&maker_prefix) {
            counts.entry(OrderStatus::Paid.as_str().to_owned()).or_default()[1] += 1;
            continue;
        }
        if email.subject == declined {
            counts.entry(DECLINED.to_owned()).or_default()[0] += 1;
            continue;
        }
        let status = OrderStatus::ALL.into_iter().find(|s| {
            [None, Some(RefundStatus::Pending), Some(RefundStatus::Succeeded)]
                .into_iter()
                .any(|refund| shared::email::subject_for(order_id, *s, refund) == email.subject)
        });
        match status {
            Some(s) => counts.entry(s.as_str().to_owned()).or_default()[0] += 1,
            None => unrecognised.push(email.subject.clone()),
        }
    }
    (counts, unrecognised)
}

/// Of each maker, the active product with the most stock; most stock first. The stock is
/// on each product's stock item (`sk = STOCK`), the maker on the product item.
async fn products_by_maker(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut makers: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut stocks: BTreeMap<String, i64> = BTreeMap::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .filter_expression("(sk = :product OR sk = :stock) AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":product", AttributeValue::S("PRODUCT".to_owned()))
            .expression_attribute_values(":stock", AttributeValue::S("STOCK".to_owned()))
            .expression_attribute_values(":active", AttributeValue::S("active".to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("scanning for the seeded products")?;
        for item in out.items() {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let (Some(pk), Some(sk)) = (text("pk"), text("sk")) else { continue };
            if sk == "STOCK" {
                if let Some(stock) = item.get("stock").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok()) {
                    stocks.insert(pk, stock);
                }
            } else if let (Some(maker), Some(id)) = (text("maker_id"), text("id")) {
                makers.insert(pk, (maker, id));
            }
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let mut best: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for (pk, (maker, id)) in makers {
        let Some(&stock) = stocks.get(&pk) else { continue };
        if best.get(&maker).is_none_or(|(s, _)| stock > *s) {
            best.insert(maker, (stock, id));
        }
    }
    let mut best: Vec<(String, (i64, String))> = best.into_iter().collect();
    best.sort_by_key(|(_, (stock, _))| std::cmp::Reverse(*stock));
    Ok(best.into_iter().map(|(maker, (_, id))| (maker, id)).collect())
}

fn epoch_ms(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// A stored timestamp (RFC 3339, milliseconds) as ms since the epoch.
fn stamp_ms(text: &str) -> Option<f64> {
    Timestamp::from_stored(text.to_owned()).to_system_time().map(epoch_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(subject: String) -> SentEmail {
        SentEmail {
            id: ulid::Ulid::new().to_string(),
            from: "shop@makers-market.test".to_owned(),
            to: vec!["ada@makers-market.test".to_owned()],
            subject,
            body: String::new(),
        }
    }

    #[test]
    fn emails_are_counted_by_status_and_recipient_kind() {
        let id = "ord_01TEST";
        let emails = vec![
            email(shared::email::subject_for(id, OrderStatus::Paid, None)),
            email(format!("Makers Market order {id} is paid: 1 item of yours to ship")),
            email(format!("Makers Market order {id} is paid: 2 items of yours to ship")),
            email(shared::email::subject_for(id, OrderStatus::Cancelled, Some(RefundStatus::Pending))),
            email(shared::email::subject_for_declined(id)),
            email(shared::email::subject_for("ord_OTHER", OrderStatus::Paid, None)),
            email(format!("Something else about {id}")),
        ];
        let (counts, unrecognised) = count(&emails, id);
        let mut want = expected(&[(OrderStatus::Paid, [1, 2]), (OrderStatus::Cancelled, [1, 0])]);
        want.insert(DECLINED.to_owned(), [1, 0]);
        assert_eq!(counts, want);
        assert_eq!(unrecognised, vec![format!("Something else about {id}")]);
        assert_eq!(stamp_ms("1970-01-01T00:00:01.250Z"), Some(1250.0));
    }

    #[test]
    fn a_mismatch_is_reported_loudly() {
        let right = OrderEmails {
            scenario: "paid".to_owned(),
            order_id: "ord_A".to_owned(),
            final_status: "delivered".to_owned(),
            counted: expected(&[(OrderStatus::Paid, [1, 2]), (OrderStatus::Delivered, [1, 0])]),
            expected: expected(&[(OrderStatus::Paid, [1, 2]), (OrderStatus::Delivered, [1, 0])]),
            markers: expected(&[(OrderStatus::Paid, [1, 2]), (OrderStatus::Delivered, [1, 0])]),
            ..Default::default()
        };
        let wrong = OrderEmails {
            order_id: "ord_B".to_owned(),
            counted: expected(&[(OrderStatus::Paid, [2, 2]), (OrderStatus::Delivered, [1, 0])]),
            ..right.clone()
        };
        let lifecycle = Lifecycle {
            orders: vec![PaidEmail {
                confirm_to_email_ms: 1500.0,
                paid_to_email_ms: Some(400.0),
                ..Default::default()
            }],
            counted: vec![right, wrong],
            ..Default::default()
        };
        let mut md = String::new();
        lifecycle.markdown(&mut md);
        lifecycle.target_rows(&mut md);
        assert!(md.contains("| paid (`ord_A`) | delivered | 1 + 2 | 1 + 0 | 4 | yes |"), "{md}");
        assert!(md.contains("**2 + 2** (1 + 2)"), "{md}");
        assert!(md.contains("**MISMATCH** for paid (`ord_B`)"), "{md}");
        assert!(md.contains("1 of 2 orders as expected | **MISSED** |"), "{md}");
        assert!(md.contains("| 400 | 400 | 400 | 400 |"), "{md}");
    }

    #[test]
    fn the_lifecycle_needs_only_function_crates() {
        let root = crate::project_root();
        for f in FUNCTIONS {
            assert!(root.join("functions").join(f).join("Cargo.toml").is_file(), "{f}");
        }
    }
}
