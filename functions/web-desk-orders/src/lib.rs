//! The desk's orders (admins only, from the caller's current groups):
//! - `GET /desk/orders?q=`: an order by its id (straight to it), or a customer's orders by
//!   their email address (Cognito's `ListUsers`, filtered on it) or user id, newest first;
//! - `GET /desk/orders/{id}`: the whole order (every maker's lines), its payment, refund
//!   and timeline;
//! - `POST /desk/orders/{id}` with `action=cancel`: `orders::cancel` as an admin, the API's
//!   use case: a paid order is refunded, a shipped one cannot be cancelled.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::order::legal_move;
use shared::domain::{Actor, Order, OrderId, OrderStatus, RefundStatus, UserId};
use shared::web::timeline::{self, Step};
use shared::web::{self, Form, Layout, Visit, filters, layout::url_encode, staff};
use shared::{App, Error, Result, http, orders};

const PER_PAGE: usize = 20;

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    layout: Layout,
    q: String,
    orders: Vec<Order>,
    /// What was searched found nothing, or could not be read: said next to the field.
    error: String,
    next_href: Option<String>,
}

impl OrdersPage {
    fn label(&self, status: &OrderStatus) -> &'static str {
        web::layout::status_label(*status)
    }
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    layout: Layout,
    order: Order,
    steps: Vec<Step>,
    cancellable: bool,
}

impl OrderPage {
    fn label(&self) -> &'static str {
        web::layout::status_label(self.order.status)
    }
    fn tone(&self) -> &'static str {
        timeline::tone(self.order.status)
    }
    fn refund(&self) -> &'static str {
        match self.order.payment.refund_status {
            Some(RefundStatus::Pending) => "Refund under way",
            Some(RefundStatus::Succeeded) => "Refunded",
            Some(RefundStatus::Failed) => "Refund failed: refund by hand in Stripe's dashboard",
            None => "",
        }
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    staff::desk(&who)?;
    let path = http::path(&req).to_owned();
    if path == "/desk/orders" {
        return find(visit, &req).await;
    }
    let id = path
        .strip_prefix("/desk/orders/")
        .filter(|id| !id.contains('/'))
        .ok_or_else(|| Error::not_found("No such page."))?
        .to_owned();
    let order = orders::visible_order(app, &who, &id).await?.ok_or_else(|| Error::not_found("No such order."))?;
    if req.method() == Method::POST {
        let form = Form::read(&req, &visit)?;
        if form.get("action") != Some("cancel") {
            return Err(Error::bad_request("This form asks for nothing the desk does."));
        }
        match orders::cancel(app, &who, &id).await {
            Ok(order) if order.payment.refund_status.is_some() => {
                visit.flash("The order is cancelled and its refund is under way.")
            }
            Ok(_) => visit.flash("The order is cancelled."),
            Err(Error::Conflict { detail, .. }) => visit.flash(format!("The order could not be cancelled: {detail}")),
            Err(other) => return Err(other),
        }
        return Ok(visit.respond(web::see_other(&format!("/desk/orders/{id}"))));
    }
    let steps = timeline::steps(order.status, &order.history);
    let cancellable = legal_move(order.status, OrderStatus::Cancelled, Actor::Admin).is_some();
    let layout = visit.private_layout(format!("Order {id}"), "The admins' desk.");
    let body = web::render(&OrderPage { layout, order, steps, cancellable })?;
    Ok(visit.respond(web::html(200, body)))
}

async fn find(mut visit: Visit<'_>, req: &Request) -> Result<Response<Body>> {
    let app = visit.app();
    let q = http::query(req, "q").unwrap_or_default().trim().to_owned();
    let mut error = String::new();
    let mut refused = false;
    let mut found = Vec::new();
    let mut next_href = None;
    if let Some(id) = OrderId::parse(&q) {
        if app.store.order(&id).await?.is_some() {
            return Ok(visit.respond(web::see_other(&format!("/desk/orders/{}", id.as_str()))));
        }
        error = "No order has this id.".to_owned();
    } else if let Some(customer) = customer(app, &q, &mut error).await? {
        let secret = app.cursor_secret().await?;
        let scope = format!("orders|{}", customer.as_str());
        match http::query(req, "cursor").map(|c| http::cursor::decode(secret, &scope, c)).transpose() {
            Ok(start) => {
                let page = app.store.list_customer_orders(&customer, PER_PAGE, start).await?;
                found = page.items;
                next_href = page.next.map(|k| {
                    let cursor = http::cursor::encode(secret, &scope, &k);
                    format!("/desk/orders?q={}&cursor={}", url_encode(&q), url_encode(&cursor))
                });
                if found.is_empty() {
                    error = "This customer has no orders.".to_owned();
                }
            }
            Err(Error::Validation(_)) => {
                error = "That page of results has expired; search again.".to_owned();
                refused = true;
            }
            Err(other) => return Err(other),
        }
    } else if !q.is_empty() && error.is_empty() {
        error = "Enter an order id (ord_…), a customer's email address or their user id.".to_owned();
        refused = true;
    }
    let layout = visit.private_layout("Orders", "The admins' desk.");
    let status = if refused { 400 } else { 200 };
    let body = web::render(&OrdersPage { layout, q, orders: found, error, next_href })?;
    Ok(visit.respond(web::html(status, body)))
}

/// The customer `q` names: a user id, or an email address found in Cognito (with `error`
/// saying so when nobody has it).
async fn customer(app: &shared::App, q: &str, error: &mut String) -> Result<Option<UserId>> {
    if !q.contains('@') {
        return Ok(UserId::parse(q));
    }
    let found = app.directory().await.user_by_email(q).await?;
    if found.is_none() {
        *error = "No customer has this email address.".to_owned();
    }
    Ok(found)
}
