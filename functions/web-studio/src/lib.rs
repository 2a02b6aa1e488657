//! The makers' studio (makers only, checked on every request from the caller's current
//! groups):
//! - `GET /studio`: the maker's products by status (active, archived, taken down with the
//!   admin's note), a page at a time;
//! - `GET /studio/products/new`, `POST`: list a new product (`catalogue::create_product`,
//!   as `POST /products`);
//! - `GET /studio/products/{id}`, `POST` with `action` `save` (title, description, price,
//!   stock, category), `archive` or `restore`. A save names the version the form showed, so
//!   a second tab's save over a newer edit is refused and says so
//!   (`catalogue::edit_seen_product`); nothing is lost silently;
//! - `GET /studio/shop`, `POST`: the shop's display name, bio and location (`PUT /me`'s
//!   rules).
//! - Photos are listed on a product's page; their forms post to
//!   `/studio/products/{id}/photos`, the function `web-studio-photos` (which alone carries
//!   the image decoders).

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::auth::Principal;
use shared::domain::{Product, ProductId, ProductInput, ProductPatch, ProductPatchInput, ProductStatus};
use shared::domain::{ProfileInput, ProfileUpdate};
use shared::store::{ProductFilter, Read, StatusFilter};
use shared::web::staff::{self, euros_input, typed_price, typed_stock};
use shared::web::{self, FieldErrors, Form, Layout, Visit, filters, layout::url_encode};
use shared::{App, Error, Result, catalogue, http, notify};

const PER_PAGE: usize = 20;

#[derive(Template)]
#[template(path = "products.html")]
struct ProductsPage {
    layout: Layout,
    tab: &'static str,
    products: Vec<Product>,
    next_href: Option<String>,
    expired: bool,
}

/// A product's form as typed (or as stored), every field text.
#[derive(Debug, Clone, Default)]
struct Fields {
    title: String,
    description: String,
    price: String,
    stock: String,
    category: String,
}

impl Fields {
    fn of(p: &Product) -> Self {
        Self {
            title: p.title.clone(),
            description: p.description.clone(),
            price: euros_input(p.price_cents),
            stock: p.stock.to_string(),
            category: p.category.as_str().to_owned(),
        }
    }

    fn typed(form: &Form) -> Self {
        Self {
            title: form.text("title"),
            description: form.text("description"),
            price: form.text("price"),
            stock: form.text("stock"),
            category: form.text("category"),
        }
    }

    /// The fields as the API reads a product, with the messages for what a person typed
    /// that is not even a number (then a stand-in value, so every other field is checked).
    fn input(&self) -> (ProductInput, FieldErrors) {
        let mut errors = FieldErrors::default();
        let price_cents = typed_price(&self.price).unwrap_or_else(|m| {
            errors.insert("price", m);
            1
        });
        let stock = typed_stock(&self.stock).unwrap_or_else(|m| {
            errors.insert("stock", m);
            0
        });
        let input = ProductInput {
            title: self.title.clone(),
            description: self.description.clone(),
            price_cents: i64::try_from(price_cents).unwrap_or(i64::MAX),
            currency: None,
            stock,
            category: self.category.clone(),
            images: Vec::new(),
        };
        (input, errors)
    }
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    layout: Layout,
    /// `None` for a new product.
    product: Option<Product>,
    fields: Fields,
    errors: FieldErrors,
    /// Why the save was refused as a whole (a newer edit).
    conflict: Option<String>,
}

/// A photo of the product as the studio lists it.
struct PhotoRow {
    id: String,
    /// The 400 px rendition once it is made.
    thumb: Option<String>,
    width: u32,
    height: u32,
}

impl ProductPage {
    /// The product's attached photos, in order.
    fn photo_rows(&self) -> Vec<PhotoRow> {
        let Some(product) = &self.product else { return Vec::new() };
        product
            .photos
            .iter()
            .filter_map(|photo| {
                let view = shared::domain::PhotoView::of(photo)?;
                let (width, height) = shared::domain::photo::rendition_size(view.width, view.height, 400);
                Some(PhotoRow {
                    id: photo.id.as_str().to_owned(),
                    thumb: photo.ready.then(|| view.rendition_url(400)),
                    width,
                    height,
                })
            })
            .collect()
    }

    fn action(&self) -> String {
        match &self.product {
            Some(p) => format!("/studio/products/{}", p.id.as_str()),
            None => "/studio/products/new".to_owned(),
        }
    }

    /// Where the photo forms post (`web-studio-photos`).
    fn photos_action(&self) -> String {
        format!("{}/photos", self.action())
    }

    fn editable(&self) -> bool {
        self.product.as_ref().is_none_or(|p| !p.is_removed())
    }
}

#[derive(Template)]
#[template(path = "shop.html")]
struct ShopPage {
    layout: Layout,
    maker_id: String,
    display_name: String,
    bio: String,
    location: String,
    errors: FieldErrors,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    staff::studio(&who)?;
    let path = http::path(&req).to_owned();
    let post = req.method() == Method::POST;
    match path.as_str() {
        "/studio" | "/studio/" => products(visit, &who, &req).await,
        "/studio/shop" if post => save_shop(visit, &who, &req).await,
        "/studio/shop" => shop(visit, &who).await,
        "/studio/products/new" if post => create(visit, &who, &req).await,
        "/studio/products/new" => product_page(visit, None, Fields::default(), FieldErrors::default(), None, 200),
        other => {
            let id = other
                .strip_prefix("/studio/products/")
                .filter(|id| !id.contains('/'))
                .and_then(ProductId::parse)
                .ok_or_else(|| Error::not_found("No such page."))?;
            let product = staff::own_product(app, &who, &id).await?;
            if post {
                edit(visit, &who, &req, product).await
            } else {
                let fields = Fields::of(&product);
                product_page(visit, Some(product), fields, FieldErrors::default(), None, 200)
            }
        }
    }
}

async fn products(mut visit: Visit<'_>, who: &Principal, req: &Request) -> Result<Response<Body>> {
    let app = visit.app();
    let (tab, status) = match http::query(req, "status") {
        Some("archived") => ("archived", StatusFilter::Archived),
        Some("removed") => ("removed", StatusFilter::Removed),
        _ => ("active", StatusFilter::Active),
    };
    let filter = ProductFilter { maker_id: Some(who.user_id.clone()), status, ..ProductFilter::default() };
    let (products, next, expired) =
        match catalogue::list_products(app, &filter, PER_PAGE, http::query(req, "cursor")).await {
            Ok((products, next)) => (products, next, false),
            // A cursor that does not open (old, or edited by hand): start again, and say so.
            Err(Error::Validation(_)) => (Vec::new(), None, true),
            Err(other) => return Err(other),
        };
    let next_href = next.map(|c| format!("/studio?status={tab}&cursor={}", url_encode(&c)));
    let layout = visit.private_layout("Your products", "Your products in the studio.");
    let body = web::render(&ProductsPage { layout, tab, products, next_href, expired })?;
    let status = if expired { 400 } else { 200 };
    Ok(visit.respond(web::html(status, body)))
}

async fn create(mut visit: Visit<'_>, who: &Principal, req: &Request) -> Result<Response<Body>> {
    let form = Form::read(req, &visit)?;
    let fields = Fields::typed(&form);
    let (input, typed_errors) = fields.input();
    let parsed = shared::domain::NewProduct::parse(input);
    match (parsed, typed_errors.is_empty()) {
        (Ok(_), true) => {
            let (input, _) = fields.input();
            let product = catalogue::create_product(visit.app(), who, input).await?;
            visit.flash("Your product is listed and on sale now.");
            Ok(visit.respond(web::see_other(&format!("/studio/products/{}", product.id.as_str()))))
        }
        (Ok(_), false) => product_page(visit, None, fields, typed_errors, None, 400),
        (Err(err), _) => {
            let errors = merged(err, typed_errors)?;
            product_page(visit, None, fields, errors, None, 400)
        }
    }
}

async fn edit(mut visit: Visit<'_>, who: &Principal, req: &Request, product: Product) -> Result<Response<Body>> {
    let app = visit.app();
    let form = Form::read(req, &visit)?;
    let here = format!("/studio/products/{}", product.id.as_str());
    let status_patch = |status| ProductPatch { status: Some(status), ..ProductPatch::default() };
    match form.get("action") {
        Some("archive") => {
            catalogue::edit_product(app, who, &product.id, &status_patch(ProductStatus::Archived)).await?;
            visit.flash("Archived: it is no longer in the shop. Restore it to sell it again.");
            return Ok(visit.respond(web::see_other(&here)));
        }
        Some("restore") => {
            catalogue::edit_product(app, who, &product.id, &status_patch(ProductStatus::Active)).await?;
            visit.flash("Restored: it is in the shop again.");
            return Ok(visit.respond(web::see_other(&here)));
        }
        Some("save") => {}
        _ => return Err(Error::bad_request("This form asks for nothing the product page does.")),
    }
    let fields = Fields::typed(&form);
    let (input, typed_errors) = fields.input();
    let patch_input = ProductPatchInput {
        title: Some(input.title),
        description: Some(input.description),
        price_cents: Some(input.price_cents),
        stock: Some(input.stock),
        category: Some(input.category),
        ..ProductPatchInput::default()
    };
    let mut patch = match (ProductPatch::parse(patch_input), typed_errors.is_empty()) {
        (Ok(patch), true) => patch,
        (Ok(_), false) => return product_page(visit, Some(product), fields, typed_errors, None, 400),
        (Err(err), _) => {
            let errors = merged(err, typed_errors)?;
            return product_page(visit, Some(product), fields, errors, None, 400);
        }
    };
    // Orders take and give back units without touching the product's version, so a stock
    // left as the form showed it is no change: the units sold meanwhile stay sold.
    if patch.stock.is_some() && form.get("seen_stock").and_then(|v| v.parse::<u64>().ok()) == patch.stock {
        patch.stock = None;
    }
    let seen = form.get("version").and_then(|v| v.parse::<u64>().ok()).unwrap_or_default();
    match catalogue::edit_seen_product(app, who, &product.id, &patch, seen).await {
        Ok(_) => {
            visit.flash("Your changes are saved.");
            Ok(visit.respond(web::see_other(&here)))
        }
        Err(Error::Conflict { detail, .. }) => {
            // The form again, as the product is now: the person sees the newer edit.
            let current = app.store.get_product(&product.id, Read::Latest).await?.unwrap_or(product);
            let fields = Fields::of(&current);
            product_page(visit, Some(current), fields, FieldErrors::default(), Some(detail.into_owned()), 409)
        }
        Err(other) => Err(other),
    }
}

/// The API's refusals of a product, named as the form names its fields, with what the
/// form refused itself (which wins: it says what was typed).
fn merged(err: Error, typed: FieldErrors) -> Result<FieldErrors> {
    let mut errors = FieldErrors::from_error(err)?.rename("price_cents", "price");
    for field in ["price", "stock"] {
        let message = typed.get(field);
        if !message.is_empty() {
            errors.insert(field, message);
        }
    }
    Ok(errors)
}

fn product_page(
    mut visit: Visit<'_>,
    product: Option<Product>,
    fields: Fields,
    errors: FieldErrors,
    conflict: Option<String>,
    status: u16,
) -> Result<Response<Body>> {
    let title = match &product {
        Some(p) => format!("Edit {}", p.title),
        None => "New product".to_owned(),
    };
    let layout = visit.private_layout(title, "A product in your studio.");
    let body = web::render(&ProductPage { layout, product, fields, errors, conflict })?;
    Ok(visit.respond(web::html(status, body)))
}

async fn shop(mut visit: Visit<'_>, who: &Principal) -> Result<Response<Body>> {
    let app = visit.app();
    let profile = app.store.profile(who, &app.now()).await?;
    let display_name = if profile.display_name == who.username { String::new() } else { profile.display_name };
    let page = ShopPage {
        layout: shop_layout(&mut visit),
        maker_id: who.user_id.as_str().to_owned(),
        display_name,
        bio: profile.bio.unwrap_or_default(),
        location: profile.location.unwrap_or_default(),
        errors: FieldErrors::default(),
    };
    Ok(visit.respond(web::html(200, web::render(&page)?)))
}

async fn save_shop(mut visit: Visit<'_>, who: &Principal, req: &Request) -> Result<Response<Body>> {
    let app = visit.app();
    let form = Form::read(req, &visit)?;
    let profile = app.store.profile(who, &app.now()).await?;
    let optional = |name: &str| form.get(name).filter(|v| !v.is_empty()).map(str::to_owned);
    let input = ProfileInput {
        display_name: form.text("display_name"),
        // The shop's form leaves the shipping address as it is.
        shipping_address: profile.shipping_address,
        bio: optional("bio"),
        location: optional("location"),
    };
    match ProfileUpdate::parse(input, true) {
        Ok(update) => {
            let saved = app.store.put_profile(who, &update, &app.now()).await?;
            notify::remember_address(app, &saved).await;
            visit.flash("Your shop profile is saved.");
            Ok(visit.respond(web::see_other("/studio/shop")))
        }
        Err(err @ Error::Validation(_)) => {
            let page = ShopPage {
                layout: shop_layout(&mut visit),
                maker_id: who.user_id.as_str().to_owned(),
                display_name: form.text("display_name"),
                bio: form.text("bio"),
                location: form.text("location"),
                errors: FieldErrors::from_error(err)?,
            };
            Ok(visit.respond(web::html(400, web::render(&page)?)))
        }
        Err(other) => Err(other),
    }
}

fn shop_layout(visit: &mut Visit<'_>) -> Layout {
    visit.private_layout("Shop profile", "Your shop as customers see it.")
}
