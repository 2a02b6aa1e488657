//! `cargo xtask pay ORDER_ID [--fail]`: what the storefront does after `POST /orders`, on the
//! running `dev` stack. Reads the order's PaymentIntent through the API (as the demo
//! customer; as the admin for another user's order), confirms it at localstripe with a
//! test card (`pm_card_visa`, or a declined one with `--fail`), then waits for localstripe's
//! webhook to reach `POST /webhooks/stripe` and the order to show `paid`, or, declined, one
//! more declined attempt (the order stays `pending_payment`: a declined card does not end
//! it).
//!
//! localstripe declines an intent once and then refuses to confirm it again (after a failed
//! charge its intent stays `requires_payment_method` whatever card is set), where Stripe
//! lets the customer try another card: an order with a declined attempt is refused here.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use local::stripe::TestCard;
use serde_json::Value;

use crate::cli::Options;
use crate::stack::{self, StackInfo};
use crate::token;

/// How long the webhook may take to change the order (localstripe sends it about a second
/// after the confirmation).
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(250);
const PENDING: &str = "pending_payment";

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut opts = Options::new("pay", args);
    let fail = opts.flag("--fail");
    let positional = opts.positional();
    opts.finish()?;
    let [order_id] = positional.as_slice() else {
        bail!("usage: cargo xtask pay <order id> [--fail]");
    };
    let card = if fail { TestCard::Declined } else { TestCard::Visa };
    let info = stack::read_stack_file(&crate::project_root())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(pay(&info, order_id, card))
}

async fn pay(info: &StackInfo, order_id: &str, card: TestCard) -> anyhow::Result<()> {
    let (token, order) = find_order(info, order_id).await?;
    let status = order["status"].as_str().unwrap_or_default();
    if status != PENDING {
        bail!("order {order_id} is `{status}`: only a `{PENDING}` order can be paid");
    }
    let declined_before = order["payment"]["failed_attempts"].as_u64().unwrap_or_default();
    if declined_before > 0 {
        bail!(
            "order {order_id} already has a declined attempt: localstripe declines an intent once and then \
             refuses to confirm it again (Stripe would let the customer try another card); place another order"
        );
    }
    let intent_id = order["payment"]["payment_intent_id"]
        .as_str()
        .with_context(|| format!("order {order_id} has no payment.payment_intent_id: {order}"))?;
    println!(
        "{order_id}: paying {intent_id} ({} {}) with {} at localstripe …",
        order["total_cents"],
        order["currency"].as_str().unwrap_or_default(),
        card.payment_method()
    );

    let intent =
        local::stripe::confirm_with_test_card(&info.stripe.api_base, &info.stripe.secret_key, intent_id, card).await?;
    let intent_status = intent["status"].as_str().unwrap_or_default();
    match intent["last_payment_error"]["code"].as_str() {
        Some(code) => println!("{intent_id}: {intent_status} ({code})"),
        None => println!("{intent_id}: {intent_status}"),
    }

    let started = Instant::now();
    loop {
        let (code, order) =
            local::api::request(&info.api_url, "GET", &format!("orders/{order_id}"), Some(&token), None).await?;
        if code != 200 {
            bail!("GET /orders/{order_id} answered {code}: {order}");
        }
        let status = order["status"].as_str().unwrap_or_default();
        let declined = order["payment"]["failed_attempts"].as_u64().unwrap_or_default();
        if card == TestCard::Declined && status == PENDING && declined > declined_before {
            let error = &order["payment"]["last_error"];
            println!(
                "{order_id}: still {PENDING}, payment attempt {declined} declined ({}): {} (after {:.1} s)",
                error["code"].as_str().unwrap_or_default(),
                error["message"].as_str().unwrap_or_default(),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if status != PENDING {
            let want = match card {
                TestCard::Visa | TestCard::PendingRefund | TestCard::RefundFails => "paid",
                TestCard::Declined => "payment_failed",
            };
            println!("{order_id}: {status} (after {:.1} s)", started.elapsed().as_secs_f64());
            if status != want {
                bail!("order {order_id} is `{status}`, not `{want}`");
            }
            return Ok(());
        }
        if started.elapsed() >= WAIT {
            bail!(
                "order {order_id} is still `{PENDING}` {} s after the payment: did localstripe's webhook reach \
                 POST /webhooks/stripe? (see .local/logs/stripe-webhook.log and the stack's output)",
                WAIT.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The order and a token that may read it: the demo customer's, or for an order of another
/// user, the admin's.
async fn find_order(info: &StackInfo, order_id: &str) -> anyhow::Result<(String, Value)> {
    if order_id.is_empty() || order_id.contains('/') {
        bail!("`{order_id}` is not an order id");
    }
    let path = format!("orders/{order_id}");
    let mut last = (0, Value::Null);
    for role in ["customer", "admin"] {
        let token = token::access_token(info, role).await?;
        let (code, body) = local::api::request(&info.api_url, "GET", &path, Some(&token), None)
            .await
            .with_context(|| format!("reading the order: is `cargo xtask dev` still running at {}?", info.api_url))?;
        if code == 200 {
            return Ok((token, body));
        }
        last = (code, body);
        if code != 404 {
            break;
        }
    }
    let (code, body) = last;
    if code == 404 {
        bail!(
            "no order {order_id} on the running stack (GET /orders/{order_id} is 404 for the demo customer and admin)"
        );
    }
    bail!("GET /orders/{order_id} answered {code}: {body}")
}
