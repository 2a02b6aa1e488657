//! GET /products: active products, filtered, newest first, paginated.

use lambda_http::{Body, Request, Response};
use shared::domain::{Category, Product, UserId, search_words};
use shared::store::{Page, ProductFilter, StatusFilter};
use shared::{App, Error, FieldError, Result, http};

const MAX_QUERY_CHARS: usize = 200;
const MAX_PRICE: u64 = shared::domain::MAX_PRICE_CENTS;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let filter = filter(&req)?;
    if filter.status != StatusFilter::Active {
        // Archived products are listed only to their maker (their dashboard) and admins.
        let who = app.auth.authenticate(&req).await?;
        if !filter.maker_id.as_ref().is_some_and(|maker| who.may_manage(maker)) {
            return Err(Error::forbidden(
                "Archived products are listed only to their maker and admins: give maker_id of your own shop.",
            ));
        }
    }
    let limit = http::page_limit(&req)?;
    let secret = app.cursor_secret().await?;
    if let (Some(min), Some(max)) = (filter.min_price_cents, filter.max_price_cents)
        && min > max
    {
        // An empty price range: nothing to read.
        let empty: Page<Product> = Page { items: Vec::new(), next: None };
        return http::cursor::page(secret, &filter.scope(), empty);
    }
    let scope = filter.scope();
    let start = http::query(&req, "cursor").map(|c| http::cursor::decode(secret, &scope, c)).transpose()?;
    let page = app.store.list_products(&filter, limit, start).await?;
    http::cursor::page(secret, &scope, page)
}

/// The filters of the query string, every invalid one named.
fn filter(req: &Request) -> Result<ProductFilter> {
    let mut errors = Vec::new();
    let mut filter = ProductFilter::default();
    if let Some(category) = http::query(req, "category") {
        match Category::parse(category) {
            Ok(c) => filter.category = Some(c),
            Err(message) => errors.push(FieldError::new("category", message)),
        }
    }
    if let Some(maker) = http::query(req, "maker_id") {
        match UserId::parse(maker) {
            Some(m) => filter.maker_id = Some(m),
            None => errors.push(FieldError::new("maker_id", "is not a maker id")),
        }
    }
    if let Some(status) = http::query(req, "status") {
        match StatusFilter::parse(status) {
            Some(s) => filter.status = s,
            None => errors.push(FieldError::new("status", "must be active, archived or all")),
        }
    }
    if let Some(q) = http::query(req, "q") {
        filter.words = search_words(q);
        if q.chars().count() > MAX_QUERY_CHARS {
            errors.push(FieldError::new("q", format!("must be at most {MAX_QUERY_CHARS} characters")));
        }
    }
    for (name, slot) in
        [("min_price_cents", &mut filter.min_price_cents), ("max_price_cents", &mut filter.max_price_cents)]
    {
        match http::query_int(req, name, 0..=MAX_PRICE) {
            Ok(value) => *slot = value,
            Err(Error::Validation(mut e)) => errors.append(&mut e),
            Err(other) => return Err(other),
        }
    }
    if errors.is_empty() { Ok(filter) } else { Err(Error::Validation(errors)) }
}
