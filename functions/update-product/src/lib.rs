//! PATCH /products/{id}: its maker or an admin changes a product.

use lambda_http::{Body, Request, Response};
use shared::domain::{ProductId, ProductPatch, ProductPatchInput};
use shared::{App, Error, Result, catalogue, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let id = ProductId::parse(http::path_id(&req, "products")?).ok_or_else(|| Error::not_found("No such product."))?;
    let patch = ProductPatch::parse(http::json_body::<ProductPatchInput>(&req)?)?;
    let product = catalogue::moderate_product(app, &who, &id, &patch).await?;
    http::json(200, &product)
}
