//! GET /cart: the cart, priced from the catalogue at every view, with a note when a price
//! changed or a product sold out. POST /cart: change a line's quantity (`action=update`) or
//! remove it (`action=remove`); then back to the cart (303). A visitor's cart lives in the
//! cookie; a signed-in user's in DynamoDB, so it follows them across devices.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::ProductId;
use shared::domain::cart::MAX_QUANTITY;
use shared::web::cart::{CartView, view};
use shared::web::{self, Form, Layout, Visit, filters};
use shared::{App, Error, Result};

#[derive(Template)]
#[template(path = "cart.html")]
struct CartPage {
    layout: Layout,
    cart: CartView,
    signed_in: bool,
    /// A refused change: the line's product id and the message.
    error: Option<(String, String)>,
    max_quantity: u32,
}

impl CartPage {
    fn error_for(&self, product_id: &str) -> Option<&str> {
        self.error.as_ref().filter(|(id, _)| id == product_id).map(|(_, message)| message.as_str())
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    if req.method() == Method::POST {
        let form = Form::read(&req, &visit)?;
        return match change(&mut visit, &form).await {
            Ok(response) => Ok(visit.respond(response)),
            Err(Refusal::Field(product, message)) => page(visit, Some((product, message))).await,
            Err(Refusal::Error(e)) => Err(e),
        };
    }
    page(visit, None).await
}

/// Why a change was not made: a message next to a line's field, or an error page.
enum Refusal {
    Field(String, String),
    Error(Error),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

/// Applies the posted change; a 303 back to the cart.
async fn change(visit: &mut Visit<'_>, form: &Form) -> Result<Response<Body>, Refusal> {
    let raw_id = form.text("product_id");
    let Some(id) = ProductId::parse(&raw_id) else {
        return Err(Refusal::Error(Error::bad_request("This form does not name a product.")));
    };
    let mut cart = visit.cart();
    match form.get("action") {
        Some("remove") => {
            if cart.remove(&id) {
                visit.save_cart(cart).await?;
                visit.flash("Removed from your cart.");
            }
        }
        Some("update") => {
            let quantity =
                form.number("quantity", 1..=MAX_QUANTITY).map_err(|e| Refusal::Field(raw_id.clone(), e.message))?;
            match cart.set(&id, quantity) {
                Ok(true) => {
                    visit.save_cart(cart).await?;
                    visit.flash("Your cart was updated.");
                }
                Ok(false) => visit.flash("That product is not in your cart any more."),
                Err(refusal) => return Err(Refusal::Field(raw_id, refusal.message())),
            }
        }
        _ => return Err(Refusal::Error(Error::bad_request("This form asks for nothing the cart does."))),
    }
    Ok(web::see_other("/cart"))
}

/// The cart page; with `error`, a 400 showing the refused change next to its line.
async fn page(mut visit: Visit<'_>, error: Option<(String, String)>) -> Result<Response<Body>> {
    let mut cart = visit.cart();
    let (cart_view, changed) = view(visit.app(), &mut cart).await?;
    if changed {
        // The new prices are shown now: the note is not repeated at the next view.
        visit.save_cart(cart).await?;
    }
    let layout = visit.layout("Your cart", "The products in your cart at Makers Market.");
    let status = if error.is_some() { 400 } else { 200 };
    let signed_in = visit.user.is_some();
    let body = web::render(&CartPage { layout, cart: cart_view, signed_in, error, max_quantity: MAX_QUANTITY })?;
    Ok(visit.respond(web::html(status, body)))
}
