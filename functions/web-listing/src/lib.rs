//! GET /listing/{id}: a product page: photos (a placeholder when there are none), the price
//! in euros, the stock as a shopper reads it, the maker with a link to their shop, and the
//! form that adds it to the cart (POST to the same path: then to the cart, or the page again
//! with the message next to the quantity). For search engines: a canonical URL, a description, and
//! schema.org `Product` data with its price and availability.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::cart::MAX_QUANTITY;
use shared::domain::{Product, ProductId, ProductStatus};
use shared::store::Read;
use shared::web::{self, Form, Layout, Visit, filters};
use shared::{App, Error, Result, http};

#[derive(Template)]
#[template(path = "listing.html")]
struct Listing {
    layout: Layout,
    product: Product,
    maker: Option<String>,
    json_ld: String,
    max_quantity: u64,
    /// A refused quantity, and what was typed.
    quantity_error: Option<String>,
    quantity: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let not_found = || Error::not_found("No such product.");
    let id = ProductId::parse(http::path_id(&req, "listing")?).ok_or_else(not_found)?;
    let mut visit = Visit::start(app, &req).await?;
    let form = if req.method() == Method::POST { Some(Form::read(&req, &visit)?) } else { None };
    let product = app.store.get_product(&id, Read::Recent).await?.ok_or_else(not_found)?;
    let may_manage = visit.principal().is_some_and(|p| p.may_manage(&product.maker_id));
    if product.status != ProductStatus::Active && !may_manage {
        return Err(not_found());
    }
    let mut refused = None;
    if let Some(form) = &form {
        match add_to_cart(&mut visit, &product, form).await? {
            Ok(()) => return Ok(visit.respond(web::see_other("/cart"))),
            Err(message) => refused = Some((message, form.text("quantity"))),
        }
    }
    let maker = app.store.maker_names(std::slice::from_ref(&product.maker_id)).await?.remove(&product.maker_id);
    let canonical = visit.absolute(&format!("/listing/{}", product.id.as_str()));
    let mut layout = visit.layout(product.title.clone(), description(&product, maker.as_deref()));
    layout.canonical = Some(canonical.clone());
    layout.noindex = product.status != ProductStatus::Active;
    let json_ld = json_ld(&product, maker.as_deref(), &canonical);
    let max_quantity = product.stock.min(u64::from(MAX_QUANTITY));
    let status = if refused.is_some() { 400 } else { 200 };
    let (quantity_error, quantity) = match refused {
        Some((message, typed)) => (Some(message), typed),
        None => (None, "1".to_owned()),
    };
    let page = Listing { layout, product, maker, json_ld, max_quantity, quantity_error, quantity };
    Ok(visit.respond(web::html(status, web::render(&page)?)))
}

/// Puts `product` in the cart; the message for the shopper when the quantity is refused.
async fn add_to_cart(visit: &mut Visit<'_>, product: &Product, form: &Form) -> Result<Result<(), String>> {
    if product.status != ProductStatus::Active || product.stock == 0 {
        return Ok(Err("This product is not for sale right now.".to_owned()));
    }
    let quantity = match form.number("quantity", 1..=MAX_QUANTITY) {
        Ok(q) => q,
        Err(e) => return Ok(Err(e.message)),
    };
    let mut cart = visit.cart();
    let in_cart = cart.lines().iter().find(|l| l.product_id() == &product.id).map_or(0, |l| u64::from(l.quantity()));
    if in_cart + u64::from(quantity) > product.stock {
        return Ok(Err(match in_cart {
            0 => format!("Only {} left: choose {} or fewer.", product.stock, product.stock),
            n => format!("Only {} left, and your cart holds {n} already.", product.stock),
        }));
    }
    if let Err(refusal) = cart.add(&product.id, quantity, product.price_cents) {
        return Ok(Err(refusal.message()));
    }
    visit.save_cart(cart).await?;
    visit.flash(format!("Added to your cart: {}.", product.title));
    Ok(Ok(()))
}

/// The meta description: the product's own words, cut at a word near 155 characters.
fn description(product: &Product, maker: Option<&str>) -> String {
    let text = if product.description.trim().is_empty() {
        format!("{}, handmade by {}.", product.title, maker.unwrap_or("an independent maker"))
    } else {
        product.description.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    if text.chars().count() <= 155 {
        return text;
    }
    let cut: String = text.chars().take(152).collect();
    match cut.rfind(' ') {
        Some(i) => format!("{}…", &cut[..i]),
        None => format!("{cut}…"),
    }
}

/// schema.org `Product` with its offer, as JSON safe inside a `<script>` element.
fn json_ld(product: &Product, maker: Option<&str>, url: &str) -> String {
    let availability = if product.stock > 0 { "https://schema.org/InStock" } else { "https://schema.org/OutOfStock" };
    let mut value = serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "sku": product.id.as_str(),
        "category": product.category.as_str(),
        "url": url,
        "offers": {
            "@type": "Offer",
            "price": format!("{}.{:02}", product.price_cents / 100, product.price_cents % 100),
            "priceCurrency": "EUR",
            "availability": availability,
            "url": url,
        },
    });
    if !product.description.trim().is_empty() {
        value["description"] = product.description.clone().into();
    }
    if !product.images.is_empty() {
        value["image"] = product.images.clone().into();
    }
    if let Some(maker) = maker {
        value["brand"] = serde_json::json!({"@type": "Brand", "name": maker});
    }
    // Nothing in it can close the script element or start markup.
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{NewProduct, ProductInput, Timestamp, UserId};

    fn sample() -> Product {
        let input: ProductInput = serde_json::from_value(
            serde_json::json!({"title": "Bowl", "price_cents": 1250, "stock": 3, "category": "ceramics"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let new = NewProduct::parse(input).unwrap_or_else(|e| panic!("{e}"));
        new.into_product(ProductId::generate(), UserId::new("maker-1"), Timestamp::at(std::time::SystemTime::now()))
    }

    #[test]
    fn structured_data_cannot_break_out_of_its_script_element() {
        let mut product = sample();
        product.title = "</script><script>alert(1)</script>".into();
        let ld = json_ld(&product, Some("A & B"), "https://shop.example/listing/x");
        assert!(!ld.contains('<') && !ld.contains('>') && !ld.contains('&'), "{ld}");
        let parsed: serde_json::Value = serde_json::from_str(&ld).unwrap_or_default();
        assert_eq!(parsed["name"], "</script><script>alert(1)</script>");
        assert_eq!(parsed["brand"]["name"], "A & B");
        assert_eq!(parsed["offers"]["priceCurrency"], "EUR");
    }

    #[test]
    fn the_description_is_cut_at_a_word() {
        let mut product = sample();
        product.description = "word ".repeat(60);
        let d = description(&product, None);
        assert!(d.chars().count() <= 156 && d.ends_with("word…"), "{d}");
    }
}
