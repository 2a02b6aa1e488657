//! GET /shop/{maker_id}: a maker's shop: their name, where they work, their story, and their
//! products for sale, newest first, a page at a time.

use askama::Template;
use lambda_http::{Body, Request, Response};
use shared::catalogue;
use shared::domain::{MakerShop, Product, UserId};
use shared::store::ProductFilter;
use shared::web::{self, Layout, MakerNames, Visit, filters, layout::url_encode};
use shared::{App, Error, Result, http};

const PER_PAGE: usize = 24;

#[derive(Template)]
#[template(path = "shop.html")]
struct Shop {
    layout: Layout,
    shop: MakerShop,
    products: Vec<Product>,
    makers: MakerNames,
    next_href: Option<String>,
    first_href: Option<String>,
    expired: bool,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let not_found = || Error::not_found("No such shop.");
    let id = UserId::parse(http::path_id(&req, "shop")?).ok_or_else(not_found)?;
    let mut visit = Visit::start(app, &req).await?;
    let shop = app.store.maker_shop(&id).await?.ok_or_else(not_found)?;
    let filter = ProductFilter { maker_id: Some(id.clone()), ..ProductFilter::default() };
    let cursor = http::query(&req, "cursor");
    let (products, next, expired) = match catalogue::list_products(app, &filter, PER_PAGE, cursor).await {
        Ok((products, next)) => (products, next, false),
        Err(Error::Validation(_)) => (Vec::new(), None, true),
        Err(other) => return Err(other),
    };
    // Every card is this maker's: no other names to read.
    let makers = MakerNames([(id.clone(), shop.display_name.clone())].into());
    let path = format!("/shop/{}", id.as_str());
    let next_href = next.map(|c| format!("{path}?cursor={}", url_encode(&c)));
    let first_href = cursor.map(|_| path.clone());
    let about = match &shop.location {
        Some(location) => format!("Handmade goods by {}, from {location}.", shop.display_name),
        None => format!("Handmade goods by {}.", shop.display_name),
    };
    let mut layout = visit.layout(shop.display_name.clone(), about);
    layout.canonical = Some(visit.absolute(&path));
    layout.noindex = cursor.is_some();
    let status = if expired { 400 } else { 200 };
    let body = web::render(&Shop { layout, shop, products, makers, next_href, first_href, expired })?;
    Ok(visit.respond(web::html(status, body)))
}
