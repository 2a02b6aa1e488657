//! DELETE /products/{id}: its maker or an admin archives a product.

use lambda_http::{Body, Request, Response};
use shared::domain::{ProductId, ProductPatch};
use shared::{App, Error, Result, catalogue, http};

/// Archives rather than deletes: past orders keep their lines. Archiving twice is fine.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let id = ProductId::parse(http::path_id(&req, "products")?).ok_or_else(|| Error::not_found("No such product."))?;
    catalogue::edit_product(app, &who, &id, &ProductPatch::archive()).await?;
    Ok(http::no_content())
}
