//! The admins' desk (admins only, from the caller's current groups):
//! - `GET /desk`: where the desk's work is;
//! - `GET /desk/products?q=&maker_id=&status=`: any product: by id, by words in its title
//!   (on sale), or a maker's in any status;
//! - `GET /desk/products/{id}`, `POST` with `action` `remove` (and a `moderation_note` the
//!   maker reads) or `lift`: a takedown and its lifting, through
//!   `catalogue::moderate_product` as `PATCH /products/{id}` does them (the maker is
//!   emailed).

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::{Product, ProductId, ProductPatch, ProductPatchInput};
use shared::store::{Read, StatusFilter};
use shared::web::{self, FieldErrors, Form, Layout, Visit, filters, layout::url_encode, staff};
use shared::{App, Error, Result, catalogue, http};

const PER_PAGE: usize = 20;

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage {
    layout: Layout,
}

#[derive(Template)]
#[template(path = "products.html")]
struct ProductsPage {
    layout: Layout,
    q: String,
    maker_id: String,
    status: String,
    products: Vec<Product>,
    makers: web::MakerNames,
    next_href: Option<String>,
    errors: FieldErrors,
    searched: bool,
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    layout: Layout,
    product: Product,
    maker: String,
    note: String,
    errors: FieldErrors,
}

impl ProductPage {
    fn removed(&self) -> bool {
        self.product.is_removed()
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    staff::desk(&who)?;
    let path = http::path(&req).to_owned();
    match path.as_str() {
        "/desk" | "/desk/" => {
            let layout = visit.private_layout("The desk", "The admins' desk.");
            Ok(visit.respond(web::html(200, web::render(&DeskPage { layout })?)))
        }
        "/desk/products" => search(visit, &req).await,
        other => {
            let id = other
                .strip_prefix("/desk/products/")
                .filter(|id| !id.contains('/'))
                .and_then(ProductId::parse)
                .ok_or_else(|| Error::not_found("No such page."))?;
            let product =
                app.store.get_product(&id, Read::Latest).await?.ok_or_else(|| Error::not_found("No such product."))?;
            if req.method() != Method::POST {
                return product_page(visit, product, String::new(), FieldErrors::default(), 200).await;
            }
            let form = Form::read(&req, &visit)?;
            let here = format!("/desk/products/{}", id.as_str());
            let input = match form.get("action") {
                Some("remove") => ProductPatchInput {
                    status: Some("removed".into()),
                    moderation_note: Some(form.text("moderation_note")),
                    ..ProductPatchInput::default()
                },
                Some("lift") => ProductPatchInput { status: Some("active".into()), ..ProductPatchInput::default() },
                _ => return Err(Error::bad_request("This form asks for nothing the desk does.")),
            };
            let patch = match ProductPatch::parse(input) {
                Ok(patch) => patch,
                Err(err @ Error::Validation(_)) => {
                    let errors = FieldErrors::from_error(err)?;
                    return product_page(visit, product, form.text("moderation_note"), errors, 400).await;
                }
                Err(other) => return Err(other),
            };
            let removing = patch.removes();
            catalogue::moderate_product(app, &who, &id, &patch).await?;
            visit.flash(if removing {
                "Taken down: the product is hidden from the shop, and its maker is emailed your note."
            } else {
                "The takedown is lifted: the product is on sale again, and its maker is told."
            });
            Ok(visit.respond(web::see_other(&here)))
        }
    }
}

async fn search(mut visit: Visit<'_>, req: &Request) -> Result<Response<Body>> {
    let app = visit.app();
    let q = http::query(req, "q").unwrap_or_default().trim().to_owned();
    // A product's id goes straight to it.
    if let Some(id) = ProductId::parse(&q)
        && app.store.get_product(&id, Read::Latest).await?.is_some()
    {
        return Ok(visit.respond(web::see_other(&format!("/desk/products/{}", id.as_str()))));
    }
    let maker_id = http::query(req, "maker_id").unwrap_or_default().trim().to_owned();
    let status = http::query(req, "status").unwrap_or("active").to_owned();
    let searched = !q.is_empty() || !maker_id.is_empty();
    let mut errors = FieldErrors::default();
    let filter = catalogue::product_filter(|name| match name {
        "q" => Some(q.as_str()).filter(|q| !q.is_empty()),
        "maker_id" => Some(maker_id.as_str()).filter(|m| !m.is_empty()),
        "status" => Some(status.as_str()),
        _ => None,
    });
    let filter = match filter {
        Ok(filter) if filter.status != StatusFilter::Active && filter.maker_id.is_none() => {
            errors.insert("status", "Choose a maker to see products that are not on sale.");
            None
        }
        Ok(filter) => Some(filter),
        Err(err @ Error::Validation(_)) => {
            errors = FieldErrors::from_error(err)?;
            None
        }
        Err(other) => return Err(other),
    };
    let (products, next) = match (&filter, searched) {
        (Some(filter), true) => match catalogue::list_products(app, filter, PER_PAGE, http::query(req, "cursor")).await
        {
            Ok(found) => found,
            Err(Error::Validation(_)) => {
                errors.insert("q", "That page of results has expired; search again.");
                (Vec::new(), None)
            }
            Err(other) => return Err(other),
        },
        _ => (Vec::new(), None),
    };
    let makers = web::MakerNames::of_products(app, &products).await?;
    let next_href = next.map(|c| {
        format!(
            "/desk/products?q={}&maker_id={}&status={}&cursor={}",
            url_encode(&q),
            url_encode(&maker_id),
            url_encode(&status),
            url_encode(&c)
        )
    });
    let layout = visit.private_layout("Products", "The admins' desk.");
    let status_code = if errors.is_empty() { 200 } else { 400 };
    let page = ProductsPage { layout, q, maker_id, status, products, makers, next_href, errors, searched };
    Ok(visit.respond(web::html(status_code, web::render(&page)?)))
}

async fn product_page(
    mut visit: Visit<'_>,
    product: Product,
    note: String,
    errors: FieldErrors,
    status: u16,
) -> Result<Response<Body>> {
    let names = visit.app().store.maker_names(std::slice::from_ref(&product.maker_id)).await?;
    let maker = names.get(&product.maker_id).cloned().unwrap_or_else(|| product.maker_id.as_str().to_owned());
    let layout = visit.private_layout(&product.title, "The admins' desk.");
    let body = web::render(&ProductPage { layout, product, maker, note, errors })?;
    Ok(visit.respond(web::html(status, body)))
}
