//! POST /products: a maker lists a new product.

use lambda_http::{Body, Request, Response};
use shared::domain::{NewProduct, ProductId, ProductInput};
use shared::{App, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    who.require_maker()?;
    let input: ProductInput = http::json_body(&req)?;
    let product = NewProduct::parse(input)?.into_product(ProductId::generate(), who.user_id.clone(), app.now());
    app.store.create_product(&product, &who.username).await?;
    http::created(&format!("/products/{}", product.id.as_str()), &product)
}
