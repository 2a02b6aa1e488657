//! Reading and resizing photos with the `image` crate, pure Rust (JPEG, PNG and WebP
//! decoders, the WebP encoder; no system libraries). Every decode goes through [`limits`], so
//! a file that claims more pixels than a photo may have is refused from its header, before
//! its pixels are decoded.

use crate::domain::photo::{MAX_PHOTO_SIDE, PhotoType, RENDITION_WIDTHS, rendition_size};
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// What a decoder may allocate at once: a 6000×6000 RGBA image and working room. A
/// decompression bomb (a small file that decodes to a huge image) stops at this bound.
pub const MAX_DECODE_ALLOC: u64 = 200 * 1024 * 1024;

/// The limits of every decode: at most [`MAX_PHOTO_SIDE`] on each side, [`MAX_DECODE_ALLOC`]
/// bytes.
pub fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_PHOTO_SIDE);
    limits.max_image_height = Some(MAX_PHOTO_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

fn format(kind: PhotoType) -> ImageFormat {
    match kind {
        PhotoType::Jpeg => ImageFormat::Jpeg,
        PhotoType::Png => ImageFormat::Png,
        PhotoType::Webp => ImageFormat::WebP,
    }
}

fn label(kind: PhotoType) -> &'static str {
    match kind {
        PhotoType::Jpeg => "JPEG",
        PhotoType::Png => "PNG",
        PhotoType::Webp => "WebP",
    }
}

/// Why `bytes` are no acceptable photo of the declared `kind`, in words for the maker; or
/// its size as shown (width, height: turned as its EXIF orientation says). Every pixel is
/// decoded (a file whose header is fine but whose data is not is refused), into a plain
/// buffer: the studio and `confirm-photo` link the decoders, not the image operations.
pub fn check(bytes: &[u8], kind: PhotoType) -> Result<(u32, u32), String> {
    if !kind.matches(bytes) {
        return Err(format!("The file is not a {} image: its first bytes are not those of one.", label(kind)));
    }
    // The header alone first: an oversized image is refused with its size, not a decoder error.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format(kind))
        .into_dimensions()
        .map_err(|_| format!("The file could not be read as a {} image.", label(kind)))?;
    if width > MAX_PHOTO_SIDE || height > MAX_PHOTO_SIDE {
        return Err(format!(
            "The image is {width}×{height} pixels; a photo may be at most {MAX_PHOTO_SIDE}×{MAX_PHOTO_SIDE}."
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format(kind));
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(unreadable(kind))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let size = decoder.total_bytes();
    if size > MAX_DECODE_ALLOC {
        return Err(too_large());
    }
    let mut pixels = vec![0u8; usize::try_from(size).map_err(|_| too_large())?];
    decoder.read_image(&mut pixels).map_err(unreadable(kind))?;
    let turned = matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    );
    Ok(if turned { (height, width) } else { (width, height) })
}

fn too_large() -> String {
    format!(
        "The image would take too much memory to decode; a photo may be at most {MAX_PHOTO_SIDE}×{MAX_PHOTO_SIDE} pixels."
    )
}

/// The maker's words for a decoder's refusal of a `kind` file.
fn unreadable(kind: PhotoType) -> impl Fn(image::ImageError) -> String {
    move |e| match e {
        image::ImageError::Limits(_) => too_large(),
        _ => format!("The file could not be decoded as a {} image.", label(kind)),
    }
}

/// Decodes `bytes` as `kind` within [`limits`], turned as its EXIF orientation says.
pub fn decode(bytes: &[u8], kind: PhotoType) -> Result<DynamicImage, String> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format(kind));
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(unreadable(kind))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable(kind))?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// One WebP rendition.
#[derive(Debug, Clone)]
pub struct Rendition {
    /// The nominal width it is named after (`400`, `800`).
    pub target: u32,
    pub width: u32,
    pub height: u32,
    pub webp: Vec<u8>,
}

/// The WebP renditions of `image` at [`RENDITION_WIDTHS`], widest first. Each is resized
/// from the previous (smaller) one, and the full-size image is dropped after the first
/// resize, so the peak is the original plus one rendition.
pub fn renditions(image: DynamicImage) -> Result<Vec<Rendition>, String> {
    let (width, height) = (image.width(), image.height());
    let mut targets = RENDITION_WIDTHS;
    targets.sort_unstable_by(|a, b| b.cmp(a));
    let mut current = image;
    let mut out = Vec::with_capacity(targets.len());
    for target in targets {
        let (w, h) = rendition_size(width, height, target);
        if (current.width(), current.height()) != (w, h) {
            current = current.resize_exact(w, h, FilterType::Triangle);
        }
        out.push(Rendition { target, width: w, height: h, webp: webp(&current)? });
    }
    Ok(out)
}

/// `image` as a (lossless: the only WebP encoder in pure Rust) WebP file.
fn webp(image: &DynamicImage) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let encoder = WebPEncoder::new_lossless(&mut bytes);
    let result = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.to_rgba8()).write_with_encoder(encoder)
    } else {
        DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder)
    };
    result.map_err(|e| format!("encoding a WebP rendition: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        let written = image.write_to(&mut bytes, format);
        assert!(written.is_ok(), "{written:?}");
        bytes.into_inner()
    }

    #[test]
    fn a_png_is_read_and_its_renditions_keep_the_aspect() {
        let png = encoded(&DynamicImage::new_rgb8(1000, 500), ImageFormat::Png);
        assert_eq!(check(&png, PhotoType::Png), Ok((1000, 500)));
        let Ok(image) = decode(&png, PhotoType::Png) else { return };
        let sizes: Vec<(u32, u32, u32)> =
            renditions(image).unwrap_or_default().iter().map(|r| (r.target, r.width, r.height)).collect();
        assert_eq!(sizes, [(800, 800, 400), (400, 400, 200)]);
    }

    #[test]
    fn a_file_of_another_type_or_no_image_is_refused() {
        let png = encoded(&DynamicImage::new_rgb8(10, 10), ImageFormat::Png);
        assert!(check(&png, PhotoType::Jpeg).is_err_and(|e| e.contains("not a JPEG")));
        assert!(check(b"just some text", PhotoType::Png).is_err());
        let mut truncated = png.clone();
        truncated.truncate(40);
        assert!(check(&truncated, PhotoType::Png).is_err());
    }
}
