//! GET /search: active products by words in the title, category and price range (euros),
//! newest first, a page at a time. The query lives in the URL, so a search can be shared
//! and the back button works; the filters are the API's (`shared::catalogue`).

use askama::Template;
use lambda_http::{Body, Request, Response};
use shared::catalogue::{self, MAX_QUERY_CHARS};
use shared::domain::{Category, Product, parse_euros};
use shared::store::ProductFilter;
use shared::web::{self, Layout, MakerNames, Visit, filters, layout::url_encode};
use shared::{App, Error, FieldError, Result, http};
use std::collections::HashMap;

const PER_PAGE: usize = 24;

/// The search form as the shopper filled it in.
#[derive(Debug, Default)]
struct Query {
    q: String,
    category: String,
    min: String,
    max: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct Search {
    layout: Layout,
    query: Query,
    errors: HashMap<String, String>,
    products: Vec<Product>,
    makers: MakerNames,
    next_href: Option<String>,
    first_href: Option<String>,
    heading: String,
}

impl Search {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let param = |name: &str| http::query(&req, name).map(str::trim).unwrap_or_default().to_owned();
    let query = Query { q: param("q"), category: param("category"), min: param("min"), max: param("max") };
    let cursor = http::query(&req, "cursor");
    let mut errors = HashMap::new();
    let (products, next) = match filter(&query) {
        Ok(filter) => match catalogue::list_products(app, &filter, PER_PAGE, cursor).await {
            Ok(page) => page,
            Err(Error::Validation(invalid)) => {
                collect(&mut errors, invalid);
                (Vec::new(), None)
            }
            Err(other) => return Err(other),
        },
        Err(invalid) => {
            collect(&mut errors, invalid);
            (Vec::new(), None)
        }
    };
    let makers = MakerNames::of_products(app, &products).await?;
    let base = query_string(&query);
    let next_href =
        next.map(|c| format!("/search?{base}{}cursor={}", if base.is_empty() { "" } else { "&" }, url_encode(&c)));
    let first_href = cursor.map(|_| if base.is_empty() { "/search".to_owned() } else { format!("/search?{base}") });
    let heading = heading(&query);
    let mut layout =
        visit.layout(heading.clone(), "Search handmade goods by name, category and price, from independent makers.");
    layout.query = query.q.clone();
    layout.canonical =
        Some(visit.absolute(&if base.is_empty() { "/search".to_owned() } else { format!("/search?{base}") }));
    // A later page of a search is not worth indexing on its own.
    layout.noindex = cursor.is_some() || !errors.is_empty();
    let status = if errors.is_empty() { 200 } else { 400 };
    let body = web::render(&Search { layout, query, errors, products, makers, next_href, first_href, heading })?;
    Ok(visit.respond(web::html(status, body)))
}

/// The API's filter for what the shopper typed; the price range in euros.
fn filter(query: &Query) -> Result<ProductFilter, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut cents = |field: &str, text: &str| -> Option<String> {
        if text.is_empty() {
            return None;
        }
        match parse_euros(text) {
            Some(c) => Some(c.to_string()),
            None => {
                errors.push(FieldError::new(field, "Enter an amount in euros, like 25 or 12.50."));
                None
            }
        }
    };
    let min = cents("min", &query.min);
    let max = cents("max", &query.max);
    if !query.category.is_empty() && Category::parse(&query.category).is_err() {
        errors.push(FieldError::new("category", "Use a category from the list, like ceramics."));
    }
    if query.q.chars().count() > MAX_QUERY_CHARS {
        errors.push(FieldError::new("q", format!("Use at most {MAX_QUERY_CHARS} characters.")));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let lookup = |name: &str| -> Option<&str> {
        match name {
            "q" => Some(query.q.as_str()).filter(|q| !q.is_empty()),
            "category" => Some(query.category.as_str()).filter(|c| !c.is_empty()),
            "min_price_cents" => min.as_deref(),
            "max_price_cents" => max.as_deref(),
            _ => None,
        }
    };
    catalogue::product_filter(lookup).map_err(|e| match e {
        Error::Validation(errors) => errors,
        other => vec![FieldError::new("q", other.to_string())],
    })
}

fn collect(errors: &mut HashMap<String, String>, invalid: Vec<FieldError>) {
    for e in invalid {
        let field = match e.field.as_str() {
            "cursor" => "cursor".to_owned(),
            "min_price_cents" => "min".to_owned(),
            "max_price_cents" => "max".to_owned(),
            other => other.to_owned(),
        };
        let message = if field == "cursor" {
            "This results page has expired. Start the search again.".to_owned()
        } else {
            e.message
        };
        errors.entry(field).or_insert(message);
    }
}

/// The filters as a query string (no cursor), in a fixed order.
fn query_string(query: &Query) -> String {
    [("q", &query.q), ("category", &query.category), ("min", &query.min), ("max", &query.max)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn heading(query: &Query) -> String {
    match (query.q.is_empty(), query.category.is_empty()) {
        (true, true) => "All products".to_owned(),
        (false, _) => format!("Results for \u{201c}{}\u{201d}", query.q),
        (true, false) => format!("{} products", filters_title(&query.category)),
    }
}

fn filters_title(slug: &str) -> String {
    let text = slug.replace('-', " ");
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
