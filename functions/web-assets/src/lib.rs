//! GET /assets/{file} and /robots.txt: the shop's static files, embedded in this binary at
//! build time under fingerprinted names (`shared::web::assets`), so each is cached for a
//! year (`immutable`) and a new build is a new URL. Compressed once per cold start.

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use shared::web::{self, assets};
use shared::{App, Error, Result, http};
use std::sync::OnceLock;

const YEAR: &str = "public, max-age=31536000, immutable";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let path = http::path(&req);
    if path == "/robots.txt" {
        let origin = web::site_origin(app, &req);
        let body = format!("User-agent: *\nAllow: /\nDisallow: /checkout\nSitemap: {origin}/sitemap.xml\n");
        let mut response = Response::new(Body::Text(body));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
        return Ok(response);
    }
    let (index, asset) = assets::ASSETS
        .iter()
        .enumerate()
        .find(|(_, a)| a.path == path)
        .ok_or_else(|| Error::not_found("No such file."))?;
    let mut response = match compressed(index).filter(|_| web::takes_gzip(&req)) {
        Some(gz) => {
            let mut response = Response::new(Body::Binary(gz.to_vec()));
            response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        None => Response::new(Body::Binary(asset.bytes.to_vec())),
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(YEAR));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Ok(response)
}

/// The gzip of asset `index`, when that is smaller (made on first use, kept for the life of
/// the process).
fn compressed(index: usize) -> Option<&'static [u8]> {
    static GZIPPED: OnceLock<Vec<Option<Vec<u8>>>> = OnceLock::new();
    let all = GZIPPED.get_or_init(|| {
        assets::ASSETS.iter().map(|a| web::gzip(a.bytes).filter(|gz| gz.len() + 64 < a.bytes.len())).collect()
    });
    all.get(index).and_then(Option::as_deref)
}
