//! GET /orders/{id}: one order, as its customer, one of its makers or an admin may see it.
//! Anyone else gets a 404, as for an order that does not exist.

use lambda_http::{Body, Request, Response};
use shared::{App, Error, Result, http, orders};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let id = http::path_id(&req, "orders")?;
    let who = app.auth.authenticate(&req).await?;
    let order = orders::visible_order(app, &who, id).await?.ok_or_else(|| Error::not_found("No such order."))?;
    if order.customer_id == who.user_id {
        http::json(200, &order.for_customer())
    } else if who.is_admin() {
        http::json(200, &order.for_admin())
    } else {
        http::json(200, &order.for_maker(&who.user_id))
    }
}
