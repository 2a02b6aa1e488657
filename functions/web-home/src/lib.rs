//! GET /: the shop's front page: the newest products, the categories and makers they come
//! from. GET /sitemap.xml: every active product page, for search engines.

use askama::Template;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use shared::domain::Product;
use shared::store::ProductFilter;
use shared::web::{self, Layout, MakerNames, Visit, filters};
use shared::{App, Result, http};

/// Products on the front page.
const NEWEST: usize = 12;
/// Product pages listed in the sitemap (a sitemap file takes up to 50,000).
const SITEMAP_MAX: usize = 5_000;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
    products: Vec<Product>,
    makers: MakerNames,
    categories: Vec<String>,
    shops: Vec<(String, String)>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    if http::path(&req) == "/sitemap.xml" {
        return sitemap(app, &req).await;
    }
    let mut visit = Visit::start(app, &req).await?;
    let page = app.store.list_products(&ProductFilter::default(), NEWEST, None).await?;
    let makers = MakerNames::of_products(app, &page.items).await?;
    let mut categories: Vec<String> = page.items.iter().map(|p| p.category.as_str().to_owned()).collect();
    categories.sort();
    categories.dedup();
    let mut layout = visit.layout(
        "Handmade goods from independent makers",
        "Buy handmade ceramics, woodwork, textiles and more directly from independent makers. Secure card payment, tracked delivery.",
    );
    layout.canonical = Some(visit.absolute("/"));
    let shops = makers.sorted();
    let body = web::render(&Home { layout, products: page.items, makers, categories, shops })?;
    Ok(visit.respond(web::html(200, body)))
}

async fn sitemap(app: &App, req: &Request) -> Result<Response<Body>> {
    let origin = web::site_origin(app, req);
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for path in ["/", "/search"] {
        xml.push_str(&format!("<url><loc>{origin}{path}</loc></url>\n"));
    }
    let mut makers = std::collections::BTreeSet::new();
    let (mut start, mut listed) = (None, 0);
    loop {
        let page = app.store.list_products(&ProductFilter::default(), 100, start).await?;
        for product in &page.items {
            xml.push_str(&format!(
                "<url><loc>{origin}/listing/{}</loc><lastmod>{}</lastmod></url>\n",
                product.id.as_str(),
                product.updated_at.as_str().get(..10).unwrap_or_default()
            ));
            makers.insert(product.maker_id.as_str().to_owned());
        }
        listed += page.items.len();
        start = page.next;
        if start.is_none() || listed >= SITEMAP_MAX {
            break;
        }
    }
    for maker in makers {
        xml.push_str(&format!("<url><loc>{origin}/shop/{maker}</loc></url>\n"));
    }
    xml.push_str("</urlset>\n");
    let mut response = Response::new(Body::Text(xml));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Ok(response)
}
