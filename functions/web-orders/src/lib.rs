//! GET /account/orders: the customer's orders, newest first, a page at a time.

use askama::Template;
use lambda_http::{Body, Request, Response};
use shared::domain::{Order, OrderStatus};
use shared::web::{self, Layout, Visit, filters, layout::url_encode};
use shared::{App, Error, Result, http};

const PER_PAGE: usize = 20;

#[derive(Template)]
#[template(path = "orders.html")]
struct Orders {
    layout: Layout,
    orders: Vec<Order>,
    next_href: Option<String>,
    expired: bool,
}

impl Orders {
    /// The day an order was placed (UTC).
    fn day<'o>(&self, order: &'o Order) -> &'o str {
        order.created_at.as_str().get(..10).unwrap_or_default()
    }

    fn label(&self, status: &OrderStatus) -> &'static str {
        shared::web::layout::status_label(*status)
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    let secret = app.cursor_secret().await?;
    let scope = format!("orders|{}", who.user_id.as_str());
    let (orders, next, expired) = match http::query(&req, "cursor").map(|c| http::cursor::decode(secret, &scope, c)) {
        Some(Err(Error::Validation(_))) => (Vec::new(), None, true),
        Some(Err(other)) => return Err(other),
        start => {
            let start = start.transpose()?;
            let page = app.store.list_customer_orders(&who.user_id, PER_PAGE, start).await?;
            (page.items, page.next.map(|k| http::cursor::encode(secret, &scope, &k)), false)
        }
    };
    let next_href = next.map(|c| format!("/account/orders?cursor={}", url_encode(&c)));
    let layout = visit.layout("Your orders", "Your orders at Makers Market.");
    let status = if expired { 400 } else { 200 };
    let body = web::render(&Orders { layout, orders, next_href, expired })?;
    Ok(visit.respond(web::html(status, body)))
}
