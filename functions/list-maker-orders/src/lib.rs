//! GET /maker/orders: orders with this maker's lines, only those lines, newest first,
//! optionally filtered by `status`.

use lambda_http::{Body, Request, Response};
use shared::domain::OrderStatus;
use shared::{App, Error, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    who.require_maker()?;
    let status = http::query(&req, "status")
        .map(|s| {
            OrderStatus::parse(s).ok_or_else(|| {
                let names: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                Error::invalid("status", format!("must be one of {}", names.join(", ")))
            })
        })
        .transpose()?;
    let limit = http::page_limit(&req)?;
    let secret = app.cursor_secret().await?;
    let scope = format!(
        "maker-orders|maker={}|status={}",
        who.user_id.as_str(),
        status.map(OrderStatus::as_str).unwrap_or_default()
    );
    let start = http::query(&req, "cursor").map(|c| http::cursor::decode(secret, &scope, c)).transpose()?;
    let page = app.store.list_maker_orders(&who.user_id, status, limit, start).await?;
    http::cursor::page(secret, &scope, page)
}
