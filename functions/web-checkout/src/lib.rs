//! GET /checkout: the shipping address (prefilled from the profile) and the order review.
//! POST /checkout: "Place order" — `orders::place`, the API's use case, with the form's
//! idempotency key, so a double click or a form sent again makes one order; then to the
//! order page, where the customer pays. Signed-in users only.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::web::cart::{CartView, view};
use shared::web::{self, AddressView, FieldErrors, Form, Layout, Visit, filters};
use shared::{App, Error, Result, orders};

#[derive(Template)]
#[template(path = "checkout.html")]
struct Checkout {
    layout: Layout,
    cart: CartView,
    address: AddressView,
    errors: FieldErrors,
    /// A problem with the order as a whole (stock, the payment provider).
    problem: Option<String>,
    key: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    if req.method() != Method::POST {
        let profile = app.store.profile(&who, &app.now()).await?;
        let address = profile
            .shipping_address
            .as_ref()
            .map(AddressView::of)
            .unwrap_or_else(|| AddressView { name: profile.display_name.clone(), ..AddressView::default() });
        return page(visit, address, FieldErrors::default(), None, 200).await;
    }
    let form = Form::read(&req, &visit)?;
    let key = form.text("key");
    let key = orders::idempotency_key(Some(&key))?.unwrap_or_default().to_owned();
    // Sent again after it worked (a double click, the back button): the same order.
    if let Some(record) = app.store.idempotency_record(&who.user_id, &key).await? {
        return Ok(visit.respond(web::see_other(&format!("/account/orders/{}", record.order_id.as_str()))));
    }
    let cart = visit.cart();
    if cart.is_empty() {
        visit.flash("Your cart is empty.");
        return Ok(visit.respond(web::see_other("/cart")));
    }
    let items: Vec<_> =
        cart.lines().iter().map(|l| json!({"product_id": l.product_id().as_str(), "quantity": l.quantity()})).collect();
    let body = json!({"items": items, "shipping_address": form.address()});
    let typed = AddressView::typed(&form);
    match orders::place(app, &who, body, Some(&key)).await {
        Ok(placed) => {
            if form.checked("save_address") {
                save_address(app, &who, &placed.order.shipping_address).await?;
            }
            visit.save_cart(shared::domain::Cart::default()).await?;
            let to = format!("/account/orders/{}", placed.order.id.as_str());
            Ok(visit.respond(web::see_other(&to)))
        }
        Err(Error::Validation(errors)) if errors.iter().all(|e| e.field.starts_with("shipping_address")) => {
            let errors = FieldErrors::from_error(Error::Validation(errors))?;
            page(visit, typed, errors, None, 400).await
        }
        Err(err @ (Error::Conflict { .. } | Error::UnpaidOrdersLimit { .. } | Error::Validation(_))) => {
            let problem = err.problem().detail.unwrap_or_default();
            page(visit, typed, FieldErrors::default(), Some(problem), 409).await
        }
        Err(err @ Error::PaymentProvider { .. }) => {
            tracing::warn!(error = %err, "placing an order from the checkout page");
            let problem = "Card payments are not available at this moment, so the order was not placed and nothing was reserved. Try again in a minute.".to_owned();
            page(visit, typed, FieldErrors::default(), Some(problem), err.status()).await
        }
        Err(other) => Err(other),
    }
}

/// Keeps the order's address as the profile's default (the "save" box).
async fn save_address(app: &App, who: &shared::auth::Principal, address: &shared::domain::Address) -> Result<()> {
    let profile = app.store.profile(who, &app.now()).await?;
    let update = shared::domain::ProfileUpdate::parse(
        shared::domain::ProfileInput {
            display_name: profile.display_name,
            shipping_address: Some(address.clone()),
            bio: profile.bio,
            location: profile.location,
        },
        who.is_maker(),
    )?;
    app.store.put_profile(who, &update, &app.now()).await?;
    Ok(())
}

async fn page(
    mut visit: Visit<'_>,
    address: AddressView,
    errors: FieldErrors,
    problem: Option<String>,
    status: u16,
) -> Result<Response<Body>> {
    let mut cart = visit.cart();
    let (cart_view, changed) = view(visit.app(), &mut cart).await?;
    if changed {
        visit.save_cart(cart).await?;
    }
    if cart_view.lines.is_empty() {
        visit.flash("Your cart is empty.");
        return Ok(visit.respond(web::see_other("/cart")));
    }
    let layout = visit.layout("Checkout", "Where to send your order, and a last look at it.");
    // A new key per form shown: the same form sent twice is one order.
    let key = format!("web-{}", ulid::Ulid::new());
    let body = web::render(&Checkout { layout, cart: cart_view, address, errors, problem, key })?;
    Ok(visit.respond(web::html(status, body)))
}
