//! POST /products: a maker lists a new product.

use lambda_http::{Body, Request, Response};
use shared::domain::ProductInput;
use shared::{App, Result, catalogue, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    // Only makers, before the body is read: a customer's 403 never depends on its body.
    who.require_maker()?;
    let input: ProductInput = http::json_body(&req)?;
    let product = catalogue::create_product(app, &who, input).await?;
    http::created(&format!("/products/{}", product.id.as_str()), &product)
}
