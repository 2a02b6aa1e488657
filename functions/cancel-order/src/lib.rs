//! POST /orders/{id}/cancel: the customer or an admin cancels; stock released, payment
//! cancelled or refunded.

use lambda_http::{Body, Request, Response};
use shared::{App, Error, Result, http, orders};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let id = cancel_path_id(&req)?;
    let who = app.auth.authenticate(&req).await?;
    let order = orders::cancel(app, &who, id).await?;
    if order.customer_id == who.user_id {
        http::json(200, &order.for_customer())
    } else {
        http::json(200, &order.for_admin())
    }
}

/// `{id}` of `/orders/{id}/cancel`.
fn cancel_path_id(req: &Request) -> Result<&str> {
    http::path(req)
        .strip_prefix("/orders/")
        .and_then(|p| p.strip_suffix("/cancel"))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| Error::not_found("No such resource."))
}
