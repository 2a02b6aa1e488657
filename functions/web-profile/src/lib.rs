//! GET /account/profile: the customer's name and default shipping address. POST: saves them
//! through the same rules as `PUT /me` (`ProfileUpdate::parse`), each refused field with its
//! message next to it.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::{Address, ProfileInput, ProfileUpdate};
use shared::web::{self, AddressView, FieldErrors, Form, Layout, Visit};
use shared::{App, Error, Result, http, notify};

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    display_name: String,
    address: AddressView,
    errors: FieldErrors,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    let profile = app.store.profile(&who, &app.now()).await?;
    if req.method() != Method::POST {
        let address = profile.shipping_address.as_ref().map(AddressView::of).unwrap_or_default();
        let name = if profile.display_name == who.username { String::new() } else { profile.display_name };
        return page(visit, name, address, FieldErrors::default(), 200);
    }
    let form = Form::read(&req, &visit)?;
    let typed = AddressView::typed(&form);
    let has_address = [&typed.line1, &typed.city, &typed.postal_code, &typed.country].iter().any(|f| !f.is_empty());
    // The address through the API's own reading of it, so its rules are the API's.
    let address = if has_address {
        match http::from_json_value::<Address>(form.address()) {
            Ok(address) => Some(address),
            Err(err) => return page(visit, form.text("display_name"), typed, FieldErrors::from_error(err)?, 400),
        }
    } else {
        None
    };
    let input = ProfileInput {
        display_name: form.text("display_name"),
        shipping_address: address,
        bio: profile.bio,
        location: profile.location,
    };
    match ProfileUpdate::parse(input, who.is_maker()) {
        Ok(update) => {
            let saved = app.store.put_profile(&who, &update, &app.now()).await?;
            notify::remember_address(app, &saved).await;
            visit.flash("Your profile is saved.");
            Ok(visit.respond(web::see_other("/account/profile")))
        }
        Err(err @ Error::Validation(_)) => {
            page(visit, form.text("display_name"), typed, FieldErrors::from_error(err)?, 400)
        }
        Err(other) => Err(other),
    }
}

fn page(
    mut visit: Visit<'_>,
    display_name: String,
    address: AddressView,
    errors: FieldErrors,
    status: u16,
) -> Result<Response<Body>> {
    let layout = visit.layout("Your profile", "Your name and default shipping address.");
    let body = web::render(&ProfilePage { layout, display_name, address, errors })?;
    Ok(visit.respond(web::html(status, body)))
}
