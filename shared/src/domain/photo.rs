//! Product photos: what a maker may upload, where each object lives in the bucket, and the
//! renditions made of an attached photo. Pure: the checks of the bytes are in
//! [`crate::imaging`], the S3 and DynamoDB calls in [`crate::photos`] and the store.
//!
//! A photo is recorded on its product's item (`photos`, in display order) from the moment
//! its upload is granted: `pending` until `confirm` checked the uploaded object, then
//! `attached` with its pixel size. Keeping it on the product item means one versioned write
//! covers the 8-photo limit, the order and the product's other fields, and a product read
//! needs no second query.

use super::{ProductId, Timestamp, UserId};
use crate::{Error, FieldError};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use std::time::Duration;

super::ulid_id!(
    /// `pho_` + a ULID.
    PhotoId,
    "pho_"
);

/// Photos per product, pending uploads included.
pub const MAX_PHOTOS: usize = 8;
/// The largest upload: 5 MiB.
pub const MAX_PHOTO_BYTES: u64 = 5 * 1024 * 1024;
/// The largest width and height of an uploaded image, in pixels.
pub const MAX_PHOTO_SIDE: u32 = 6000;
/// How long a presigned upload is valid.
pub const UPLOAD_WINDOW: Duration = Duration::from_secs(10 * 60);
/// A pending photo not confirmed this long after its upload was granted no longer counts
/// towards [`MAX_PHOTOS`]: the next upload request drops it (S3's lifecycle rule removes its
/// object, if any, from `uploads/`).
pub const PENDING_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// The widths of the WebP renditions, in pixels (never wider than the original).
pub const RENDITION_WIDTHS: [u32; 2] = [400, 800];

/// An accepted image type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoType {
    Jpeg,
    Png,
    Webp,
}

impl PhotoType {
    pub fn parse(mime: &str) -> Option<Self> {
        match mime {
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    /// Whether `bytes` start as a file of this type does (its magic bytes).
    pub fn matches(self, bytes: &[u8]) -> bool {
        match self {
            Self::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            Self::Webp => bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP",
        }
    }
}

/// `POST /products/{id}/photos` as the client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoUploadInput {
    pub content_type: String,
    pub size_bytes: i64,
}

/// An upload request, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoUpload {
    pub content_type: PhotoType,
    pub size_bytes: u64,
}

impl PhotoUpload {
    pub fn parse(input: &PhotoUploadInput) -> crate::Result<Self> {
        let mut errors = Vec::new();
        let content_type = PhotoType::parse(&input.content_type);
        if content_type.is_none() {
            errors.push(FieldError::new("content_type", "must be \"image/jpeg\", \"image/png\" or \"image/webp\""));
        }
        let size_bytes = u64::try_from(input.size_bytes).ok().filter(|n| (1..=MAX_PHOTO_BYTES).contains(n));
        if size_bytes.is_none() {
            errors.push(FieldError::new(
                "size_bytes",
                format!("must be from 1 to {MAX_PHOTO_BYTES} bytes (a photo is at most 5 MiB)"),
            ));
        }
        match (content_type, size_bytes) {
            (Some(content_type), Some(size_bytes)) if errors.is_empty() => Ok(Self { content_type, size_bytes }),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// Where a photo is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhotoState {
    /// An upload was granted; nothing checked yet.
    Pending,
    /// Confirmed: the original decoded at this size (after its EXIF orientation), and its
    /// renditions are public under `base_url` (`<base_url>400.webp`, …) once `ready`.
    Attached { width: u32, height: u32, base_url: String },
}

/// One photo of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub id: PhotoId,
    pub content_type: PhotoType,
    pub created_at: Timestamp,
    pub state: PhotoState,
    /// Whether the image function has written the renditions. It may do so before the
    /// confirmation is recorded (it runs on the original's creation), so this is kept apart
    /// from the state.
    pub ready: bool,
}

impl Photo {
    pub fn pending(id: PhotoId, content_type: PhotoType, now: Timestamp) -> Self {
        Self { id, content_type, created_at: now, state: PhotoState::Pending, ready: false }
    }

    pub fn is_attached(&self) -> bool {
        matches!(self.state, PhotoState::Attached { .. })
    }

    /// A pending photo whose upload was granted more than [`PENDING_LIFETIME`] before `now`.
    pub fn is_stale(&self, now: &Timestamp) -> bool {
        !self.is_attached() && self.created_at.plus(PENDING_LIFETIME) < *now
    }
}

/// The object a maker's browser uploads to: under the maker's and the product's prefix, so
/// that the presigned policy can pin it.
pub fn upload_key(maker: &UserId, product: &ProductId, photo: &PhotoId) -> String {
    format!("uploads/{}/{}/{}", maker.as_str(), product.as_str(), photo.as_str())
}

/// The private copy of a confirmed upload. Its creation starts the image function.
pub fn original_key(product: &ProductId, photo: &PhotoId) -> String {
    format!("originals/{}/{}", product.as_str(), photo.as_str())
}

/// The prefix of the objects the image function is started for.
pub const ORIGINALS_PREFIX: &str = "originals/";
/// The prefix of the public renditions (the CDN's origin path in the cloud).
pub const PUBLIC_PREFIX: &str = "public/";
/// The prefix of the uploads, which a lifecycle rule expires.
pub const UPLOADS_PREFIX: &str = "uploads/";

/// The folder of a photo's renditions, relative to the bucket (and to the public URL).
pub fn renditions_prefix(product: &ProductId, photo: &PhotoId) -> String {
    format!("{PUBLIC_PREFIX}{}/{}/", product.as_str(), photo.as_str())
}

/// One rendition's object name inside [`renditions_prefix`].
pub fn rendition_name(width: u32) -> String {
    format!("{width}.webp")
}

/// The product and photo an original's key names.
pub fn parse_original_key(key: &str) -> Option<(ProductId, PhotoId)> {
    let rest = key.strip_prefix(ORIGINALS_PREFIX)?;
    let (product, photo) = rest.split_once('/')?;
    Some((ProductId::parse(product)?, PhotoId::parse(photo)?))
}

/// The size of the rendition of a `width`×`height` image at `target` px wide: the aspect
/// kept, never upscaled.
pub fn rendition_size(width: u32, height: u32, target: u32) -> (u32, u32) {
    if width <= target || width == 0 {
        return (width, height);
    }
    let h = (u64::from(height) * u64::from(target) + u64::from(width) / 2) / u64::from(width);
    (target, u32::try_from(h.max(1)).unwrap_or(u32::MAX))
}

/// Whether `order` names each of `current` exactly once.
pub fn is_permutation(order: &[String], current: &[&PhotoId]) -> bool {
    order.len() == current.len() && current.iter().all(|id| order.iter().filter(|o| *o == id.as_str()).count() == 1)
}

/// A product's `photos` as clients see them: attached photos only, in order.
pub(crate) fn serialize_photos<S: Serializer>(photos: &[Photo], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(photos.iter().filter_map(PhotoView::of))
}

/// One photo in a product response: `url` is the widest rendition, `sizes` maps each
/// rendition width to its URL, and both appear only once `ready` (until then `url` is null
/// and `sizes` empty: a page shows no image rather than a broken one).
#[derive(Debug)]
pub struct PhotoView<'p> {
    pub photo: &'p Photo,
    pub width: u32,
    pub height: u32,
    pub base_url: &'p str,
}

impl<'p> PhotoView<'p> {
    pub fn of(photo: &'p Photo) -> Option<Self> {
        match &photo.state {
            PhotoState::Attached { width, height, base_url } => {
                Some(Self { photo, width: *width, height: *height, base_url })
            }
            PhotoState::Pending => None,
        }
    }

    /// The URL of the rendition `target` px wide (or narrower, for a smaller original).
    pub fn rendition_url(&self, target: u32) -> String {
        format!("{}{}", self.base_url, rendition_name(target))
    }

    /// Each rendition: its URL and its real width and height.
    pub fn renditions(&self) -> Vec<(String, u32, u32)> {
        RENDITION_WIDTHS
            .iter()
            .map(|&w| {
                let (rw, rh) = rendition_size(self.width, self.height, w);
                (self.rendition_url(w), rw, rh)
            })
            .collect()
    }

    /// An `<img srcset>`: each rendition with its real width (one entry per distinct width,
    /// so a small original is listed once).
    pub fn srcset(&self) -> String {
        let mut seen = Vec::new();
        let mut parts = Vec::new();
        for (url, width, _) in self.renditions() {
            if !seen.contains(&width) {
                seen.push(width);
                parts.push(format!("{url} {width}w"));
            }
        }
        parts.join(", ")
    }

    /// The widest rendition's size: what an `<img>`'s width and height say.
    pub fn display_size(&self) -> (u32, u32) {
        let widest = RENDITION_WIDTHS.iter().copied().max().unwrap_or(800);
        rendition_size(self.width, self.height, widest)
    }
}

impl Serialize for PhotoView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ready = self.photo.ready;
        let widest = RENDITION_WIDTHS.iter().copied().max().unwrap_or(800);
        let sizes: std::collections::BTreeMap<String, String> = if ready {
            RENDITION_WIDTHS.iter().map(|&w| (w.to_string(), self.rendition_url(w))).collect()
        } else {
            std::collections::BTreeMap::new()
        };
        let mut s = serializer.serialize_struct("Photo", 6)?;
        s.serialize_field("id", &self.photo.id)?;
        s.serialize_field("url", &ready.then(|| self.rendition_url(widest)))?;
        s.serialize_field("width", &self.width)?;
        s.serialize_field("height", &self.height)?;
        s.serialize_field("ready", &ready)?;
        s.serialize_field("sizes", &sizes)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_refused_naming_the_type_and_the_size() {
        let parse = |ct: &str, n: i64| {
            PhotoUpload::parse(&PhotoUploadInput { content_type: ct.into(), size_bytes: n }).map_err(|e| match e {
                Error::Validation(errors) => errors.into_iter().map(|e| e.field).collect::<Vec<_>>(),
                other => vec![other.to_string()],
            })
        };
        assert!(parse("image/webp", MAX_PHOTO_BYTES as i64).is_ok());
        assert_eq!(
            parse("image/gif", MAX_PHOTO_BYTES as i64 + 1),
            Err(vec!["content_type".into(), "size_bytes".into()])
        );
        assert_eq!(parse("image/png", 0), Err(vec!["size_bytes".into()]));
    }

    #[test]
    fn magic_bytes_tell_the_types_apart() {
        assert!(PhotoType::Jpeg.matches(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(PhotoType::Png.matches(b"\x89PNG\r\n\x1a\n...."));
        assert!(PhotoType::Webp.matches(b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(!PhotoType::Jpeg.matches(b"hello, I am text"));
        assert!(!PhotoType::Webp.matches(b"RIFF\0\0\0\0WAVE"));
    }

    #[test]
    fn renditions_keep_the_aspect_and_never_upscale() {
        assert_eq!(rendition_size(4000, 3000, 800), (800, 600));
        assert_eq!(rendition_size(4000, 3000, 400), (400, 300));
        assert_eq!(rendition_size(300, 200, 400), (300, 200));
        assert_eq!(rendition_size(10_000, 1, 400), (400, 1));
    }

    #[test]
    fn original_keys_name_their_product_and_photo() {
        let (product, photo) = (ProductId::generate(), PhotoId::generate());
        assert_eq!(parse_original_key(&original_key(&product, &photo)), Some((product, photo)));
        assert_eq!(parse_original_key("uploads/x/y"), None);
        assert_eq!(parse_original_key("originals/prd_x/pho_y"), None);
    }

    #[test]
    fn an_order_is_a_permutation_of_the_current_photos() {
        let (a, b) = (PhotoId::generate(), PhotoId::generate());
        let current = [&a, &b];
        let order = |ids: &[&PhotoId]| ids.iter().map(|i| i.as_str().to_owned()).collect::<Vec<_>>();
        assert!(is_permutation(&order(&[&b, &a]), &current));
        assert!(!is_permutation(&order(&[&a, &a]), &current));
        assert!(!is_permutation(&order(&[&a]), &current));
        assert!(!is_permutation(&order(&[&a, &b, &b]), &current));
    }
}
