//! GET /products/{id}: one product; archived ones only to their maker and admins.
//!
//! A product page under a rush: the read is eventually consistent (half the read units,
//! any replica) and an active product may be cached for [`CACHE_SECONDS`] by anyone, since
//! the stock shown is only a hint: checkout reads it again, consistently, and the placing
//! transaction never sells a unit that is not there.

use lambda_http::{Body, Request, Response};
use shared::domain::{ProductId, ProductStatus};
use shared::store::Read;
use shared::{App, Error, Result, http};

/// How long an active product's answer may be kept by browsers and shared caches.
pub const CACHE_SECONDS: u32 = 5;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let not_found = || Error::not_found("No such product.");
    let id = ProductId::parse(http::path_id(&req, "products")?).ok_or_else(not_found)?;
    let viewer = app.auth.authenticate_optional(&req).await?;
    let product = app.store.get_product(&id, Read::Recent).await?.ok_or_else(not_found)?;
    let visible = product.status == ProductStatus::Active || viewer.is_some_and(|v| v.may_manage(&product.maker_id));
    if !visible {
        return Err(not_found());
    }
    let mut response = http::json(200, &product)?;
    if product.status == ProductStatus::Active {
        let value = format!("public, max-age={CACHE_SECONDS}");
        if let Ok(value) = lambda_http::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(lambda_http::http::header::CACHE_CONTROL, value);
        }
    }
    Ok(response)
}
