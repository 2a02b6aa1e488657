//! The studio's photos (makers only, from the caller's current groups): `POST
//! /studio/products/{id}/photos`, the photo forms of a product's studio page (a `GET` of
//! the address goes to that page), with `action`:
//! - `photo_request`: the presigned POST of a new photo, as JSON for the page's script
//!   (`photos.js`), which sends the file straight to S3 and then posts `photo_confirm`;
//! - `photo_confirm`: the stored file checked (type, size, pixels) and attached; a refused
//!   file is deleted and the page says why;
//! - `photo_move` (`to` earlier or later) and `photo_delete`.
//!
//! The same `shared::photos` use cases as the API. A function of its own so that the
//! studio's pages do not carry the image decoders the check needs (their size, BENCHMARKS.md).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::auth::Principal;
use shared::domain::{PhotoId, PhotoUpload, PhotoUploadInput, Product, ProductId, ProductPatch};
use shared::web::{self, Form, Visit, staff};
use shared::{App, Error, Result, catalogue, http, photos};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let id = http::path(&req)
        .strip_prefix("/studio/products/")
        .and_then(|rest| rest.strip_suffix("/photos"))
        .filter(|id| !id.contains('/'))
        .and_then(ProductId::parse)
        .ok_or_else(|| Error::not_found("No such page."))?;
    if req.method() == Method::GET {
        // Only forms post here: a person who opens the address gets the product's page.
        return Ok(web::see_other(&format!("/studio/products/{}#photos", id.as_str())));
    }
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    staff::studio(&who)?;
    let product = staff::own_product(app, &who, &id).await?;
    let form = Form::read(&req, &visit)?;
    let here = format!("/studio/products/{}", product.id.as_str());
    let who = &who;
    match form.get("action") {
        Some("photo_request") => photo_request(app, who, &product, &form).await,
        Some(action @ ("photo_confirm" | "photo_delete" | "photo_move")) => {
            let photo = form
                .get("photo_id")
                .and_then(PhotoId::parse)
                .ok_or_else(|| Error::bad_request("This form names no photo of this product."))?;
            let message = match action {
                "photo_confirm" => match photos::confirm(app, who, &product.id, &photo).await {
                    Ok(_) => {
                        "Photo added. The shop shows it as soon as its sizes are made, in a few seconds.".to_owned()
                    }
                    // A refused file is deleted; the reason is the maker's to read.
                    Err(Error::BadRequest(why)) => format!("That photo was refused and deleted: {why}"),
                    Err(other) => return Err(other),
                },
                "photo_delete" => {
                    photos::delete(app, who, &product.id, &photo).await?;
                    "Photo deleted.".to_owned()
                }
                _ => {
                    let order = moved(&product, &photo, form.get("to") == Some("earlier"));
                    let patch = ProductPatch { photo_order: Some(order), ..ProductPatch::default() };
                    catalogue::edit_product(app, who, &product.id, &patch).await?;
                    "Photos reordered.".to_owned()
                }
            };
            visit.flash(message);
            Ok(visit.respond(web::see_other(&format!("{here}#photos"))))
        }
        _ => Err(Error::bad_request("This form asks for nothing the photos do.")),
    }
}

/// The presigned POST of a new photo, as JSON for the page's script; a refusal (a type or
/// size the shop does not take, a ninth photo) as `{"error": "…"}` with its status.
async fn photo_request(app: &App, who: &Principal, product: &Product, form: &Form) -> Result<Response<Body>> {
    let size_bytes = form.get("size_bytes").and_then(|s| s.parse::<i64>().ok()).unwrap_or(-1);
    let input = PhotoUploadInput { content_type: form.text("content_type"), size_bytes };
    let granted = match PhotoUpload::parse(&input) {
        Ok(upload) => photos::request_upload(app, who, &product.id, upload).await,
        Err(err) => Err(err),
    };
    match granted {
        Ok(post) => http::json(200, &post),
        Err(Error::Validation(errors)) => {
            let why: Vec<String> = errors
                .iter()
                .map(|e| match e.field.as_str() {
                    "content_type" => "Choose a JPEG, PNG or WebP image.".to_owned(),
                    "size_bytes" => "That file is too big: a photo may be at most 5 MiB.".to_owned(),
                    _ => e.message.clone(),
                })
                .collect();
            http::json(400, &serde_json::json!({"error": why.join(" ")}))
        }
        Err(Error::Conflict { detail, .. }) => http::json(409, &serde_json::json!({"error": detail})),
        Err(other) => Err(other),
    }
}

/// The attached photos' ids with `photo` one place earlier (or later).
fn moved(product: &Product, photo: &PhotoId, earlier: bool) -> Vec<String> {
    let mut ids: Vec<String> =
        product.photos.iter().filter(|p| p.is_attached()).map(|p| p.id.as_str().to_owned()).collect();
    if let Some(at) = ids.iter().position(|id| id == photo.as_str()) {
        let to = if earlier { at.checked_sub(1) } else { Some(at + 1).filter(|t| *t < ids.len()) };
        if let Some(to) = to {
            ids.swap(at, to);
        }
    }
    ids
}
