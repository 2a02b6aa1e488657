//! POST /products/{id}/photos: its maker asks to upload a photo and gets a presigned S3 POST.

use lambda_http::{Body, Request, Response};
use shared::domain::{PhotoUpload, PhotoUploadInput, ProductId};
use shared::{App, Error, Result, http, photos};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let [id] = http::path_params(&req, "/products/{id}/photos")?[..] else {
        return Err(Error::not_found("No such product."));
    };
    let id = ProductId::parse(id).ok_or_else(|| Error::not_found("No such product."))?;
    let upload = PhotoUpload::parse(&http::json_body::<PhotoUploadInput>(&req)?)?;
    let post = photos::request_upload(app, &who, &id, upload).await?;
    http::created(&format!("/products/{}/photos/{}", id.as_str(), post.photo_id.as_str()), &post)
}
