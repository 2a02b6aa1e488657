//! `GET /sell`: "Sell on Makers Market" for a signed-in customer: the application form, or
//! where their latest application stands (waiting; approved, with how to open the studio;
//! rejected, with the admin's note and the form to apply again). `POST`: applies through
//! `applications::apply`, the API's use case (one open application per user).

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::{Application, ApplicationInput, ApplicationStatus, NewApplication};
use shared::web::{self, FieldErrors, Form, Layout, Visit};
use shared::{App, Error, Result, applications};

#[derive(Template)]
#[template(path = "sell.html")]
struct SellPage {
    layout: Layout,
    is_maker: bool,
    latest: Option<Application>,
    shop_name: String,
    bio: String,
    location: String,
    errors: FieldErrors,
}

impl SellPage {
    fn waiting(&self) -> bool {
        self.latest.as_ref().is_some_and(|a| a.status == ApplicationStatus::Pending)
    }
    fn approved(&self) -> bool {
        self.latest.as_ref().is_some_and(|a| a.status == ApplicationStatus::Approved)
    }
    /// The form shows unless an application waits or was approved.
    fn may_apply(&self) -> bool {
        !self.is_maker && !self.waiting() && !self.approved()
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    let latest = app.store.latest_application(&who.user_id).await?;
    let mut page = SellPage {
        layout: Layout::bare(""),
        is_maker: who.is_maker(),
        latest,
        shop_name: String::new(),
        bio: String::new(),
        location: String::new(),
        errors: FieldErrors::default(),
    };
    if req.method() != Method::POST {
        return render(visit, page, 200);
    }
    let form = Form::read(&req, &visit)?;
    page.shop_name = form.text("shop_name");
    page.bio = form.text("bio");
    page.location = form.text("location");
    let input =
        ApplicationInput { shop_name: page.shop_name.clone(), bio: page.bio.clone(), location: page.location.clone() };
    let checked = match NewApplication::parse(input) {
        Ok(checked) => checked,
        Err(err @ Error::Validation(_)) => {
            page.errors = FieldErrors::from_error(err)?;
            return render(visit, page, 400);
        }
        Err(other) => return Err(other),
    };
    match applications::apply(app, &who, checked).await {
        Ok(_) => visit.flash("Thank you: your application is in. An admin reads it soon and we email you the answer."),
        // A second open application, or a maker already: the page says where things stand.
        Err(Error::Conflict { detail, .. } | Error::Forbidden(detail)) => visit.flash(detail.into_owned()),
        Err(other) => return Err(other),
    }
    Ok(visit.respond(web::see_other("/sell")))
}

fn render(mut visit: Visit<'_>, mut page: SellPage, status: u16) -> Result<Response<Body>> {
    page.layout = visit
        .private_layout("Sell on Makers Market", "Open a shop on Makers Market: apply to sell your handmade goods.");
    let body = web::render(&page)?;
    Ok(visit.respond(web::html(status, body)))
}
