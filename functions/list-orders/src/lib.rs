//! GET /orders: the caller's own orders, newest first.

use lambda_http::{Body, Request, Response};
use shared::domain::Order;
use shared::{App, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let limit = http::page_limit(&req)?;
    let secret = app.cursor_secret().await?;
    // Bound to the customer: a cursor from another customer's list does not open here.
    let scope = format!("orders|customer={}", who.user_id.as_str());
    let start = http::query(&req, "cursor").map(|c| http::cursor::decode(secret, &scope, c)).transpose()?;
    let mut page = app.store.list_customer_orders(&who.user_id, limit, start).await?;
    page.items = page.items.iter().map(Order::for_customer).collect();
    http::cursor::page(secret, &scope, page)
}
