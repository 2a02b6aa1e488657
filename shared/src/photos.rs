//! Product photo use cases: grant an upload (a presigned S3 POST), confirm it (check the
//! object and attach it), make its renditions (the image function), delete one.
//!
//! The objects of one photo, all in the private photos bucket:
//!
//! | key                                        | written by                 | read by |
//! |--------------------------------------------|----------------------------|---------|
//! | `uploads/<maker>/<product>/<photo>`        | the maker's browser (presigned POST) | confirm; expired by a lifecycle rule |
//! | `originals/<product>/<photo>`              | confirm, once the upload passed its checks | the image function (its creation starts it) |
//! | `public/<product>/<photo>/{400,800}.webp`  | the image function         | browsers, through `PHOTOS_PUBLIC_URL` (CloudFront in the cloud) |
//!
//! The record of each photo is on its product's item ([`crate::domain::photo`]).

use crate::auth::Principal;
use crate::domain::photo::{
    self, MAX_PHOTO_BYTES, MAX_PHOTOS, PhotoUpload, RENDITION_WIDTHS, UPLOAD_WINDOW, original_key, rendition_name,
    renditions_prefix, upload_key,
};
use crate::domain::{Photo, PhotoId, PhotoState, Product, ProductId, Timestamp};
use crate::store::Read;
use crate::{App, Error, Result, imaging};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Optimistic-concurrency retries of one change to a product's photos.
const ATTEMPTS: usize = 5;

/// The answer to an upload request: POST `fields` and then the file (as the last field,
/// `file`) as `multipart/form-data` to `url` before `expires_at`.
#[derive(Debug, Serialize)]
pub struct PresignedPost {
    pub photo_id: PhotoId,
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub expires_at: Timestamp,
}

/// Whether `who` may manage the photos of `product`: its maker, in the `makers` group now,
/// and not while an admin has taken the product down. API.md gives photos to the maker alone.
pub fn may_manage_photos(who: &Principal, product: &Product) -> Result<()> {
    if who.user_id != product.maker_id {
        return Err(Error::forbidden("Only the product's maker manages its photos."));
    }
    who.require_maker()?;
    if product.is_removed() {
        return Err(Error::forbidden(
            "An admin took this product down; it cannot be changed. Read the moderation note, and contact us to appeal.",
        ));
    }
    Ok(())
}

fn s3_error<E: std::error::Error + Send + Sync + 'static>(context: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::internal(context, DisplayErrorContext(e).to_string())
}

async fn product_of(app: &App, id: &ProductId) -> Result<Product> {
    app.store.get_product(id, Read::Latest).await?.ok_or_else(|| Error::not_found("No such product."))
}

/// Reads the product, lets `change` edit its copy (or refuse, or say there is nothing to
/// do with `None`), and writes it if nobody wrote in between; retries on a lost race.
async fn change_product<T>(
    app: &App,
    id: &ProductId,
    mut change: impl FnMut(&Product, &mut Product) -> Result<Option<T>>,
) -> Result<(Product, Option<T>)> {
    for _ in 0..ATTEMPTS {
        let current = product_of(app, id).await?;
        let mut next = current.clone();
        let Some(out) = change(&current, &mut next)? else { return Ok((current, None)) };
        next.version = current.version + 1;
        if app.store.replace_product(&current, &next).await? {
            return Ok((next, Some(out)));
        }
    }
    Err(Error::conflict("The product kept changing while we updated its photos; try again."))
}

/// `POST /products/{id}/photos`: records a pending photo and presigns its upload.
pub async fn request_upload(app: &App, who: &Principal, id: &ProductId, upload: PhotoUpload) -> Result<PresignedPost> {
    let now = app.now();
    let photo_id = PhotoId::generate();
    let (product, _) = change_product(app, id, |current, next| {
        may_manage_photos(who, current)?;
        next.photos.retain(|p| !p.is_stale(&now));
        if next.photos.len() >= MAX_PHOTOS {
            return Err(Error::conflict(format!(
                "This product already has {MAX_PHOTOS} photos (uploads not yet confirmed count too); delete one first."
            )));
        }
        next.photos.push(Photo::pending(photo_id.clone(), upload.content_type, now.clone()));
        Ok(Some(()))
    })
    .await?;
    let key = upload_key(&product.maker_id, id, &photo_id);
    presign_post(app, photo_id, &key, upload, app.clock.now()).await
}

/// A presigned POST for `key` (SigV4, as S3 checks it): its policy pins the bucket, the key,
/// the content type and a length of 1 to `upload.size_bytes` (≤ 5 MiB), for
/// [`UPLOAD_WINDOW`] from `now`.
pub async fn presign_post(
    app: &App,
    photo_id: PhotoId,
    key: &str,
    upload: PhotoUpload,
    now: SystemTime,
) -> Result<PresignedPost> {
    let provider = app
        .aws
        .credentials_provider()
        .ok_or_else(|| Error::internal("presigning an upload", "no credentials provider"))?;
    let credentials = provider.provide_credentials().await.map_err(|e| Error::internal("presigning an upload", e))?;
    let region = app.aws.region().map(|r| r.as_ref().to_owned()).unwrap_or_else(|| "us-east-1".to_owned());
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds_since_epoch(now));
    let expires = now + UPLOAD_WINDOW;
    let amz_date = amz_date(now);
    let credential = format!("{}/{}/{region}/s3/aws4_request", credentials.access_key_id(), &amz_date[..8]);
    let bucket = &app.config.photos.bucket;
    let max = upload.size_bytes.min(MAX_PHOTO_BYTES);
    let mut conditions = vec![
        serde_json::json!({"bucket": bucket}),
        serde_json::json!(["eq", "$key", key]),
        serde_json::json!(["eq", "$Content-Type", upload.content_type.mime()]),
        serde_json::json!(["content-length-range", 1, max]),
        serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        serde_json::json!({"x-amz-credential": credential}),
        serde_json::json!({"x-amz-date": amz_date}),
    ];
    if let Some(token) = credentials.session_token() {
        conditions.push(serde_json::json!({"x-amz-security-token": token}));
    }
    let policy = serde_json::json!({"expiration": Timestamp::at(expires).as_str(), "conditions": conditions});
    let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let key_bytes = aws_sigv4::sign::v4::generate_signing_key(credentials.secret_access_key(), now, &region, "s3");
    let signature = aws_sigv4::sign::v4::calculate_signature(key_bytes, policy.as_bytes());
    let mut fields = BTreeMap::from([
        ("key".to_owned(), key.to_owned()),
        ("Content-Type".to_owned(), upload.content_type.mime().to_owned()),
        ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential".to_owned(), credential),
        ("x-amz-date".to_owned(), amz_date),
        ("policy".to_owned(), policy),
        ("x-amz-signature".to_owned(), signature),
    ]);
    if let Some(token) = credentials.session_token() {
        fields.insert("x-amz-security-token".to_owned(), token.to_owned());
    }
    Ok(PresignedPost {
        photo_id,
        url: app.config.photos.upload_url_in(&region),
        fields,
        expires_at: Timestamp::at(expires),
    })
}

fn seconds_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// SigV4's `x-amz-date`: `20261203T143500Z`.
pub fn amz_date(time: SystemTime) -> String {
    let rfc3339 = Timestamp::at(time);
    let digits: String = rfc3339.as_str().chars().take(19).filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    format!("{digits}Z")
}

/// `POST /products/{id}/photos/{photo_id}/confirm`: checks the uploaded object and attaches
/// the photo; a bad file is deleted, its record dropped, and the answer is a 400 saying why.
/// Confirming an attached photo again changes nothing.
pub async fn confirm(app: &App, who: &Principal, id: &ProductId, photo_id: &PhotoId) -> Result<Product> {
    let product = product_of(app, id).await?;
    may_manage_photos(who, &product)?;
    let photo = product.photo(photo_id).ok_or_else(|| Error::not_found("No such photo."))?;
    if photo.is_attached() {
        return Ok(product);
    }
    let kind = photo.content_type;
    let bucket = app.config.photos.bucket.as_str();
    let key = upload_key(&product.maker_id, id, photo_id);
    let head = app.s3().head_object().bucket(bucket).key(&key).send().await;
    let size = match head {
        Ok(head) => head.content_length().unwrap_or_default(),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
            return Err(Error::bad_request(
                "Nothing was uploaded for this photo yet: POST the file to the upload URL with its fields, then confirm.",
            ));
        }
        Err(e) => return Err(s3_error("checking an uploaded photo")(e)),
    };
    let refused = match u64::try_from(size) {
        Ok(n) if n > MAX_PHOTO_BYTES => Some(format!("The file is {n} bytes; a photo may be at most 5 MiB.")),
        Ok(0) | Err(_) => Some("The file is empty.".to_owned()),
        Ok(_) => None,
    };
    let checked = match refused {
        Some(reason) => Err(reason),
        None => {
            let bytes = read_object(app, &key, "reading an uploaded photo").await?;
            match bytes {
                None => Err("The upload disappeared while it was checked; upload it again.".to_owned()),
                Some(bytes) if bytes.len() as u64 > MAX_PHOTO_BYTES => Err("The file is larger than 5 MiB.".to_owned()),
                Some(bytes) => imaging::check(&bytes, kind).map(|(width, height)| (bytes, width, height)),
            }
        }
    };
    let (bytes, width, height) = match checked {
        Ok(ok) => ok,
        Err(reason) => {
            delete_objects(app, vec![key]).await?;
            forget_photo(app, id, photo_id).await?;
            return Err(Error::bad_request(format!("The photo was refused and deleted: {reason}")));
        }
    };
    // The private original; its creation starts the image function.
    app.s3()
        .put_object()
        .bucket(bucket)
        .key(original_key(id, photo_id))
        .content_type(kind.mime())
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(s3_error("storing a photo's original"))?;
    let base_url = format!(
        "{}/{}",
        app.config.photos.public_url,
        renditions_prefix(id, photo_id).trim_start_matches(photo::PUBLIC_PREFIX)
    );
    let now = app.now();
    let (product, _) = change_product(app, id, |current, next| {
        may_manage_photos(who, current)?;
        let Some(photo) = next.photos.iter_mut().find(|p| &p.id == photo_id) else {
            return Err(Error::not_found("No such photo: it was deleted meanwhile."));
        };
        if photo.is_attached() {
            return Ok(None);
        }
        photo.state = PhotoState::Attached { width, height, base_url: base_url.clone() };
        next.updated_at = now.clone();
        Ok(Some(()))
    })
    .await?;
    if let Err(e) = delete_objects(app, vec![key]).await {
        // The lifecycle rule removes it later; the photo is attached.
        tracing::warn!(error = %e, "could not delete a confirmed upload");
    }
    Ok(product)
}

/// Drops the record of `photo_id` from the product (a refused upload).
async fn forget_photo(app: &App, id: &ProductId, photo_id: &PhotoId) -> Result<()> {
    change_product(app, id, |_, next| {
        let before = next.photos.len();
        next.photos.retain(|p| &p.id != photo_id);
        Ok((next.photos.len() != before).then_some(()))
    })
    .await
    .map(|_| ())
}

/// `DELETE /products/{id}/photos/{photo_id}`: removes the record, then every object of it.
pub async fn delete(app: &App, who: &Principal, id: &ProductId, photo_id: &PhotoId) -> Result<()> {
    let now = app.now();
    let (product, removed) = change_product(app, id, |current, next| {
        may_manage_photos(who, current)?;
        if current.photo(photo_id).is_none() {
            return Err(Error::not_found("No such photo."));
        }
        next.photos.retain(|p| &p.id != photo_id);
        next.updated_at = now.clone();
        Ok(Some(()))
    })
    .await?;
    if removed.is_some() {
        delete_objects(app, photo_objects(&product, photo_id)).await?;
    }
    Ok(())
}

/// Every object a photo may have.
fn photo_objects(product: &Product, photo_id: &PhotoId) -> Vec<String> {
    let prefix = renditions_prefix(&product.id, photo_id);
    [upload_key(&product.maker_id, &product.id, photo_id), original_key(&product.id, photo_id)]
        .into_iter()
        .chain(RENDITION_WIDTHS.iter().map(|w| format!("{prefix}{}", rendition_name(*w))))
        .collect()
}

async fn delete_objects(app: &App, keys: Vec<String>) -> Result<()> {
    for key in keys {
        // S3's DeleteObject succeeds for a missing key.
        app.s3()
            .delete_object()
            .bucket(&app.config.photos.bucket)
            .key(key)
            .send()
            .await
            .map_err(s3_error("deleting a photo's object"))?;
    }
    Ok(())
}

/// The object at `key`, `None` when there is none.
async fn read_object(app: &App, key: &str, context: &'static str) -> Result<Option<Vec<u8>>> {
    let out = app.s3().get_object().bucket(&app.config.photos.bucket).key(key).send().await;
    let out = match out {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(s3_error(context)(e)),
    };
    let body = out.body.collect().await.map_err(|e| Error::internal(context, e))?;
    Ok(Some(body.into_bytes().to_vec()))
}

/// What the image function did with one original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Processed {
    /// Renditions written and the photo marked ready.
    Made,
    /// The photo was ready already (a replayed event).
    AlreadyReady,
    /// The photo or its original is gone (deleted meanwhile): its renditions, if any, removed.
    Gone,
    /// Not an original's key.
    Ignored,
}

/// The image function's work for the original at `key`: its WebP renditions, then the
/// photo marked ready. Idempotent: a replay finds the photo ready and does nothing.
pub async fn make_renditions(app: &App, key: &str) -> Result<Processed> {
    let Some((id, photo_id)) = photo::parse_original_key(key) else { return Ok(Processed::Ignored) };
    let Some(product) = app.store.get_product(&id, Read::Latest).await? else { return Ok(Processed::Gone) };
    let Some(photo) = product.photo(&photo_id) else {
        delete_objects(app, photo_objects(&product, &photo_id)).await?;
        return Ok(Processed::Gone);
    };
    if photo.ready {
        return Ok(Processed::AlreadyReady);
    }
    let kind = photo.content_type;
    let Some(bytes) = read_object(app, key, "reading a photo's original").await? else { return Ok(Processed::Gone) };
    // The original passed confirm's checks; a failure here is a fault, retried then dead-lettered.
    let image = imaging::decode(&bytes, kind).map_err(|e| Error::internal("decoding a photo's original", e))?;
    drop(bytes);
    let renditions = imaging::renditions(image).map_err(|e| Error::internal("making a photo's renditions", e))?;
    let prefix = renditions_prefix(&id, &photo_id);
    for rendition in renditions {
        app.s3()
            .put_object()
            .bucket(&app.config.photos.bucket)
            .key(format!("{prefix}{}", rendition_name(rendition.target)))
            .content_type("image/webp")
            // Each photo has its own id, so a rendition never changes once written.
            .cache_control("public, max-age=31536000, immutable")
            .body(ByteStream::from(rendition.webp))
            .send()
            .await
            .map_err(s3_error("writing a photo's rendition"))?;
    }
    let (product, marked) =
        change_product(app, &id, |current, next| match next.photos.iter_mut().find(|p| p.id == photo_id) {
            None => Ok(None),
            Some(p) if p.ready => Ok(None),
            Some(p) => {
                p.ready = true;
                if current.photo(&photo_id).is_some_and(Photo::is_attached) {
                    next.updated_at = app.now();
                }
                Ok(Some(()))
            }
        })
        .await?;
    match (marked, product.photo(&photo_id)) {
        (Some(()), _) => Ok(Processed::Made),
        (None, Some(_)) => Ok(Processed::AlreadyReady),
        (None, None) => {
            // Deleted while we worked: what we wrote goes too.
            delete_objects(app, photo_objects(&product, &photo_id)).await?;
            Ok(Processed::Gone)
        }
    }
}
