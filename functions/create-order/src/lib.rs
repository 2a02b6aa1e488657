//! POST /orders: a customer places an order; stock is reserved and a PaymentIntent created.

use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, Response};
use shared::{App, Result, http, orders};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let key = orders::idempotency_key(http::header(&req, "idempotency-key"))?;
    let body = http::json_object(&req)?;
    let placed = orders::place(app, &who, body, key).await?;
    let mut response = http::created(&format!("/orders/{}", placed.order.id.as_str()), &placed.order)?;
    if placed.replayed {
        // The IETF idempotency-key draft's hint that this is the first response, again.
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
