//! Photos for the tests: small images made in memory, and a test context's photo bucket on
//! moto's S3 (with the queue of the image function).

use crate::TestContext;
use image::{DynamicImage, ImageFormat};
use local::photos::PhotoStorage;
use std::io::Cursor;

/// A `width`×`height` JPEG with a gradient (so it compresses like a photo).
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    }));
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Jpeg).expect("encoding a JPEG");
    out.into_inner()
}

/// A blank `width`×`height` PNG.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::new_rgba8(width, height).write_to(&mut out, ImageFormat::Png).expect("encoding a PNG");
    out.into_inner()
}

/// The test context's photo bucket on moto, made (with its CORS rule and its notification
/// to the image function's queue) if it is not there yet.
pub async fn storage(ctx: &TestContext) -> PhotoStorage {
    local::photos::provision(&ctx.aws, &crate::endpoint(), &ctx.app.config.photos.bucket, &["http://127.0.0.1:*"])
        .await
        .expect("provisioning the photo bucket")
}
