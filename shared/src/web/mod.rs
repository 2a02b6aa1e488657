//! The web shop's pages: what a page adds to the API's shape, in one place, so that the
//! API's handlers do not change. A page is a function whose `lib.rs` handler starts a
//! [`Visit`] (the cookie: who is here, their cart, the form token), calls the same `shared`
//! use cases as the API, and renders an askama template that extends
//! `shared/templates/web/base.html`.
//!
//! Every page answer goes through [`serve`]: errors become HTML error pages in the shop's
//! look (internals to the log only, as for the API), and every answer gets the security
//! headers (a Content-Security-Policy with no inline script, scripts only from the shop and
//! Stripe.js's origin, frames only Stripe's; `frame-ancestors 'none'`; a referrer policy;
//! HSTS on https) and is gzip-compressed when the browser takes it.
//!
//! Forms post, then redirect (303) to a page ([`see_other`]); a flash message rides in the
//! cookie to the next page. Every form that changes state is checked by [`form::Form`]:
//! same-site (`Origin` / `Sec-Fetch-Site`) and the visit's form token.

pub mod account;
pub mod assets;
pub mod cart;
pub mod form;
pub mod layout;
pub mod staff;
pub mod timeline;
pub mod visit;

pub use form::{AddressView, FieldErrors, Form};
pub use layout::{Layout, MakerNames, filters, render};
pub use visit::Visit;

use crate::config::WebConfig;
use crate::{App, Error, Result, http};
use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderName, HeaderValue};
use lambda_http::{Body, Request, Response, service_fn};
use std::convert::Infallible;
use std::future::Future;
use std::io::Write as _;

/// Runs a page handler as this process's Lambda function (as [`http::run`] for the API).
pub async fn run<F, Fut>(app: App, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<Response<Body>>> + Send + 'static,
{
    let app: &'static App = Box::leak(Box::new(app));
    lambda_http::run(service_fn(move |req: Request| async move { Ok::<_, Infallible>(serve(app, req, handler).await) }))
        .await
}

/// One page request: the request id and access log of [`http::serve_rendering`], errors as
/// HTML pages, then the security headers and compression.
pub async fn serve<'a, F, Fut>(app: &'a App, req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(&'a App, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>>> + 'a,
{
    let https = is_https(&req);
    let gzip = accepts_gzip(&req);
    let response = http::serve_rendering(app, req, handler, error_page).await;
    finish(response, &app.config.web, https, gzip)
}

/// Whether the client reached us over https (the ALB says so in `X-Forwarded-Proto`).
pub fn is_https(req: &Request) -> bool {
    http::header(req, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn accepts_gzip(req: &Request) -> bool {
    http::header(req, "accept-encoding").is_some_and(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or_default().trim();
            let refused = it.any(|p| p.trim().replace(' ', "") == "q=0");
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

/// `status` with an HTML body.
pub fn html(status: u16, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// 303 See Other to `location` (a same-site path): the answer to every form post that
/// worked, so that a reload does not post again.
pub fn see_other(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::SEE_OTHER;
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// A same-site path to return to (`?next=`), or `/`: only a path on this site (`/…`, not
/// `//host` or `/\host`, no scheme, no control characters), so that no link can send a
/// user elsewhere after signing in.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 512
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The HTML error page for `err`, in the shop's look, with the same client-safe text as
/// the API's problem details.
pub fn error_page(err: &Error) -> Response<Body> {
    let status = err.status();
    let problem = err.problem();
    let (title, detail) = match status {
        404 => (
            "Page not found".to_owned(),
            "We could not find that page. It may have moved, or the product may no longer be for sale.".to_owned(),
        ),
        403 => ("Not allowed".to_owned(), problem.detail.clone().unwrap_or_else(|| "You may not do this.".to_owned())),
        500.. => (
            "Something went wrong".to_owned(),
            problem.detail.clone().filter(|_| status != 500).unwrap_or_else(|| {
                "Something went wrong on our side. Nothing was changed; please try again in a moment.".to_owned()
            }),
        ),
        _ => (problem.title.to_string(), problem.detail.clone().unwrap_or_default()),
    };
    let page = layout::ErrorPage { layout: Layout::bare(&title), status, detail };
    let mut response = match render(&page) {
        Ok(body) => html(status, body),
        Err(_) => html(status, format!("<!doctype html><title>{status}</title><h1>{status}</h1>")),
    };
    if let Error::MethodNotAllowed { allow } = err
        && let Ok(value) = HeaderValue::from_str(&allow.join(", "))
    {
        response.headers_mut().insert(header::ALLOW, value);
    }
    if let Some(secs) = err.retry_after_secs() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The HTML error page for `err` with every page's headers, for a function that is not a
/// page itself (the ALB's default action answering a browser).
pub fn html_error(app: &App, req: &Request, err: &Error) -> Response<Body> {
    finish(error_page(err), &app.config.web, is_https(req), accepts_gzip(req))
}

/// Whether `req` is a browser asking for a page (not an API client): it takes HTML and its
/// path is none of the API's collections.
pub fn wants_page(req: &Request) -> bool {
    let takes_html = http::header(req, "accept").is_some_and(|a| a.contains("text/html"));
    takes_html && !crate::routes::is_api_path(http::path(req))
}

/// The Content-Security-Policy of every page: nothing inline, scripts from the shop and
/// Stripe.js's origin only, frames only Stripe's, no framing of the shop.
pub fn content_security_policy(web: &WebConfig) -> String {
    let stripe = origin(&web.stripe_js_url).unwrap_or_else(|| "https://js.stripe.com".to_owned());
    // Stripe.js talks to api.stripe.com and frames hooks.stripe.com (3-D Secure); a local
    // Stripe.js (localstripe) serves all of that from its own origin.
    let (api, hooks) = if stripe == "https://js.stripe.com" {
        ("https://api.stripe.com".to_owned(), " https://hooks.stripe.com".to_owned())
    } else {
        (stripe.clone(), String::new())
    };
    let photos = web.photos_origin.as_deref().map(|o| format!(" {o}")).unwrap_or_default();
    // The studio's script posts photos straight to the bucket.
    let uploads = web.photos_upload_origin.as_deref().map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' {stripe}; style-src 'self'; img-src 'self' https: data:{photos}; \
         font-src 'self'; connect-src 'self' {api}{uploads}; frame-src {stripe}{hooks}; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
}

/// `scheme://host[:port]` of an absolute URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

const COMPRESSIBLE: [&str; 6] =
    ["text/html", "text/css", "text/javascript", "image/svg+xml", "application/xml", "text/plain"];
/// Below this a gzip header costs more than it saves.
const MIN_COMPRESS_BYTES: usize = 512;

/// The headers every page answer carries, and gzip when the client takes it.
fn finish(mut response: Response<Body>, web: &WebConfig, https: bool, takes_gzip: bool) -> Response<Body> {
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.entry(name).or_insert(value);
        }
    };
    if content_type.starts_with("text/html") {
        set(header::CONTENT_SECURITY_POLICY, &content_security_policy(web));
        set(header::X_FRAME_OPTIONS, "DENY");
        // Pages show who is signed in and carry their form token: no shared cache.
        set(header::CACHE_CONTROL, "private, no-cache");
    }
    set(header::REFERRER_POLICY, "strict-origin-when-cross-origin");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    if https {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    }
    let compressible = COMPRESSIBLE.iter().any(|t| content_type.starts_with(t));
    if compressible {
        set(header::VARY, "Accept-Encoding");
    }
    if !(takes_gzip && compressible) || response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    let bytes: &[u8] = response.body().as_ref();
    if bytes.len() < MIN_COMPRESS_BYTES {
        return response;
    }
    let Some(compressed) = gzip(bytes) else { return response };
    *response.body_mut() = Body::Binary(compressed);
    response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    response
}

/// `bytes` gzip-compressed (default level), `None` should the encoder fail.
pub fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::default());
    encoder.write_all(bytes).and_then(|()| encoder.finish()).ok()
}

/// Whether the request's client takes gzip (`Accept-Encoding`).
pub fn takes_gzip(req: &Request) -> bool {
    accepts_gzip(req)
}

/// The shop's public origin: `SITE_URL`, else the request's scheme and host.
pub fn site_origin(app: &App, req: &Request) -> String {
    match &app.config.web.site_url {
        Some(url) => url.clone(),
        None => format!(
            "{}://{}",
            if is_https(req) { "https" } else { "http" },
            http::header(req, "host").unwrap_or("localhost")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_returned_to() {
        assert_eq!(safe_next(Some("/cart")), "/cart");
        assert_eq!(safe_next(Some("/search?q=bowl&category=ceramics")), "/search?q=bowl&category=ceramics");
        for bad in
            ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "", "cart", "/a\nb"]
        {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_policy_allows_scripts_only_from_the_shop_and_stripe() {
        let cloud = content_security_policy(&WebConfig::default());
        assert!(cloud.contains("script-src 'self' https://js.stripe.com;"), "{cloud}");
        assert!(cloud.contains("frame-src https://js.stripe.com https://hooks.stripe.com;"), "{cloud}");
        assert!(cloud.contains("connect-src 'self' https://api.stripe.com;"), "{cloud}");
        assert!(cloud.contains("frame-ancestors 'none'"), "{cloud}");
        assert!(!cloud.contains("unsafe-inline") && !cloud.contains("unsafe-eval"), "{cloud}");
        let local = content_security_policy(&WebConfig {
            stripe_js_url: "http://127.0.0.1:8420/js.stripe.com/v3/".into(),
            ..WebConfig::default()
        });
        assert!(local.contains("script-src 'self' http://127.0.0.1:8420;"), "{local}");
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        let mut req = Request::new(Body::Empty);
        req.headers_mut().insert("accept-encoding", HeaderValue::from_static("br, gzip;q=0.8"));
        assert!(accepts_gzip(&req));
        req.headers_mut().insert("accept-encoding", HeaderValue::from_static("gzip;q=0, br"));
        assert!(!accepts_gzip(&req));
        let page = html(200, "<p>hello</p>".repeat(200));
        let compressed = finish(page, &WebConfig::default(), false, true);
        assert_eq!(compressed.headers().get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()), Some("gzip"));
        assert!(compressed.body().as_ref().len() < 200, "{}", compressed.body().as_ref().len());
        let plain = finish(html(200, "<p>hello</p>".repeat(200)), &WebConfig::default(), true, false);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert!(plain.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));
    }
}
