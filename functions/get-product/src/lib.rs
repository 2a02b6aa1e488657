//! GET /products/{id}: one product; archived ones only to their maker and admins.

use lambda_http::{Body, Request, Response};
use shared::domain::{ProductId, ProductStatus};
use shared::{App, Error, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let not_found = || Error::not_found("No such product.");
    let id = ProductId::parse(http::path_id(&req, "products")?).ok_or_else(not_found)?;
    let viewer = app.auth.authenticate_optional(&req).await?;
    let product = app.store.get_product(&id).await?.ok_or_else(not_found)?;
    let visible = product.status == ProductStatus::Active || viewer.is_some_and(|v| v.may_manage(&product.maker_id));
    if !visible {
        return Err(not_found());
    }
    http::json(200, &product)
}
