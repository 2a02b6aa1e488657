//! POST /products/{id}/photos/{photo_id}/confirm: its maker attaches an uploaded photo once
//! the object passed its checks; a bad file is deleted and refused with the reason.

use lambda_http::{Body, Request, Response};
use shared::domain::{PhotoId, ProductId};
use shared::{App, Error, Result, http, photos};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let [id, photo_id] = http::path_params(&req, "/products/{id}/photos/{photo_id}/confirm")?[..] else {
        return Err(Error::not_found("No such photo."));
    };
    let id = ProductId::parse(id).ok_or_else(|| Error::not_found("No such product."))?;
    let photo_id = PhotoId::parse(photo_id).ok_or_else(|| Error::not_found("No such photo."))?;
    let product = photos::confirm(app, &who, &id, &photo_id).await?;
    http::json(200, &product)
}
