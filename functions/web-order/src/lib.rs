//! GET /account/orders/{id}: one of the customer's orders: its lines, total, address, a
//! status timeline from its history, and — while it waits for payment — the payment step
//! (Stripe's card field; a declined card can be followed by another on the same order).
//! The status part (`?part=live`) refreshes itself every 2 s through htmx until the order
//! reaches a final status; without JavaScript a link reloads it. POST (`action=cancel`):
//! cancels through `orders::cancel`, the API's use case, while the state machine allows.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::order::{MAX_FAILED_ATTEMPTS, legal_move};
use shared::domain::{Actor, Order, OrderStatus, RefundStatus};
use shared::web::{self, Form, Layout, Visit, filters};
use shared::{App, Error, Result, http, orders};

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    layout: Layout,
    live: Live,
    order: Order,
    /// The payment step: (publishable key, client secret), while payment is awaited.
    pay: Option<(String, String)>,
    /// Declined attempts the order may still take.
    attempts_left: u32,
}

/// The part that follows the order's progress.
#[derive(Template)]
#[template(path = "live.html")]
struct Live {
    id: String,
    status: OrderStatus,
    steps: Vec<Step>,
    refund: Option<&'static str>,
    cancellable: bool,
    form_token: String,
    /// Still moving: the part asks for itself again.
    polling: bool,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    let not_found = || Error::not_found("No such order.");
    let id = http::path(&req)
        .strip_prefix("/account/orders/")
        .filter(|id| !id.contains('/'))
        .ok_or_else(not_found)?
        .to_owned();
    // This page is the customer's: makers and admins have their own desks.
    let order =
        orders::visible_order(app, &who, &id).await?.filter(|o| o.customer_id == who.user_id).ok_or_else(not_found)?;
    if req.method() == Method::POST {
        let form = Form::read(&req, &visit)?;
        if form.get("action") != Some("cancel") {
            return Err(Error::bad_request("This form asks for nothing an order page does."));
        }
        match orders::cancel(app, &who, &id).await {
            Ok(order) if order.payment.refund_status.is_some() => {
                visit.flash("Your order is cancelled. Your refund is on its way to your card.")
            }
            Ok(_) => visit.flash("Your order is cancelled."),
            Err(Error::Conflict { detail, .. }) => visit.flash(format!("The order could not be cancelled: {detail}")),
            Err(other) => return Err(other),
        }
        return Ok(visit.respond(web::see_other(&format!("/account/orders/{id}"))));
    }
    let live = live(&order, visit.form_token());
    if http::query(&req, "part") == Some("live") {
        // The htmx fragment: only the part that changes.
        return Ok(visit.respond(web::html(200, web::render(&live)?)));
    }
    let web_config = &app.config.web;
    let pay = match (&order.status, &order.payment.client_secret) {
        (OrderStatus::PendingPayment, Some(secret)) => {
            Some((web_config.stripe_publishable_key.clone(), secret.clone()))
        }
        _ => None,
    };
    let mut layout = visit.layout(format!("Order {}", order.id.as_str()), "Your order at Makers Market.");
    layout.htmx = live.polling;
    if pay.is_some() {
        layout.stripe_js = Some(web_config.stripe_js_url.clone());
    }
    let attempts_left = MAX_FAILED_ATTEMPTS.saturating_sub(order.payment.failed_attempts);
    let body = web::render(&OrderPage { layout, live, order, pay, attempts_left })?;
    Ok(visit.respond(web::html(200, body)))
}

use shared::web::layout::status_label as label;
use shared::web::timeline::{self, Step};

fn live(order: &Order, form_token: String) -> Live {
    let refund = match order.payment.refund_status {
        Some(RefundStatus::Pending) => Some("Refund on its way to your card"),
        Some(RefundStatus::Succeeded) => Some("Refunded to your card"),
        Some(RefundStatus::Failed) => Some("Refund delayed: our team will refund you and get in touch"),
        None => None,
    };
    Live {
        id: order.id.as_str().to_owned(),
        status: order.status,
        steps: timeline::steps(order.status, &order.history),
        refund,
        cancellable: legal_move(order.status, OrderStatus::Cancelled, Actor::Customer).is_some(),
        form_token,
        polling: !timeline::settled(order.status, order.payment.refund_status),
    }
}

impl Live {
    fn label(&self) -> &'static str {
        label(self.status)
    }

    fn tone(&self) -> &'static str {
        timeline::tone(self.status)
    }
}
