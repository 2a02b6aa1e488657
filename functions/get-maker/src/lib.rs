//! GET /makers/{id}: a maker's public shop.

use lambda_http::{Body, Request, Response};
use shared::domain::UserId;
use shared::{App, Error, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let not_found = || Error::not_found("No such maker.");
    let id = UserId::parse(http::path_id(&req, "makers")?).ok_or_else(not_found)?;
    let shop = app.store.maker_shop(&id).await?.ok_or_else(not_found)?;
    http::json(200, &shop)
}
