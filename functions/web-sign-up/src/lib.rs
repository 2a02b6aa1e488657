//! GET and POST /sign-up: a new account (name, email, password) through Cognito's
//! `SignUp`; Cognito emails a code. GET and POST /sign-up/confirm: the code confirms the
//! address (`ConfirmSignUp`; "send a new code" is `ResendConfirmationCode`); Cognito then
//! runs the post-confirmation trigger (profile and welcome email), and the user signs in.
//! `next` (a same-site path) is carried through to sign-in.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::ProfileInput;
use shared::web::layout::url_encode;
use shared::web::{self, FieldErrors, Form, Layout, Visit, account, filters, safe_next};
use shared::{App, Error, Result, http};

#[derive(Template)]
#[template(path = "sign-up.html")]
struct SignUp {
    layout: Layout,
    name: String,
    email: String,
    next: String,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct Confirm {
    layout: Layout,
    email: String,
    next: String,
    errors: FieldErrors,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let confirming = http::path(&req) == "/sign-up/confirm";
    if req.method() != Method::POST {
        let email = http::query(&req, "email").unwrap_or_default().to_owned();
        let next = safe_next(http::query(&req, "next"));
        return if confirming {
            confirm_page(visit, Confirm { layout: Layout::bare(""), email, next, errors: FieldErrors::default() }, 200)
        } else {
            sign_up_page(
                visit,
                SignUp { layout: Layout::bare(""), name: String::new(), email, next, errors: FieldErrors::default() },
                200,
            )
        };
    }
    let form = Form::read(&req, &visit)?;
    let email = form.text("email").to_lowercase();
    let next = safe_next(form.get("next"));
    if confirming {
        let result = if form.get("action") == Some("resend") {
            account::resend_code(app, &email).await.map(|()| {
                visit.flash(format!("We have sent a new code to {email}."));
                false
            })
        } else if form.text("code").is_empty() {
            Err(Error::invalid("code", "Enter the 6-digit code from the email."))
        } else {
            account::confirm(app, &email, &form.text("code")).await.map(|()| true)
        };
        return match result {
            Ok(true) => {
                visit.flash("Your email address is confirmed. Sign in to continue.");
                let to = format!("/sign-in?email={}&next={}", url_encode(&email), url_encode(&next));
                Ok(visit.respond(web::see_other(&to)))
            }
            Ok(false) => {
                let to = format!("/sign-up/confirm?email={}&next={}", url_encode(&email), url_encode(&next));
                Ok(visit.respond(web::see_other(&to)))
            }
            Err(err) => {
                let errors = FieldErrors::from_error(err)?;
                confirm_page(visit, Confirm { layout: Layout::bare(""), email, next, errors }, 400)
            }
        };
    }
    let name = form.text("name");
    let password = form.get("password").unwrap_or_default().to_owned();
    let mut errors = Vec::new();
    // The name is checked as a profile's display name is, before Cognito sees it.
    if let Err(Error::Validation(invalid)) = shared::domain::ProfileUpdate::parse(
        ProfileInput { display_name: name.clone(), shipping_address: None, bio: None, location: None },
        false,
    ) {
        errors.extend(invalid.into_iter().map(|mut e| {
            e.field = "name".into();
            e.message = format!("Your name {}.", e.message);
            e
        }));
    }
    if !email.contains('@') || email.len() > 254 {
        errors.push(shared::FieldError::new("email", "Enter a valid email address."));
    }
    if password.chars().count() < 12 {
        errors.push(shared::FieldError::new(
            "password",
            "Use at least 12 characters, with upper- and lower-case letters and a number.",
        ));
    }
    let result = if errors.is_empty() {
        account::sign_up(app, &email, &password, &name).await
    } else {
        Err(Error::Validation(errors))
    };
    match result {
        Ok(()) => {
            visit.flash(format!("We have emailed a 6-digit code to {email}. Enter it below."));
            let to = format!("/sign-up/confirm?email={}&next={}", url_encode(&email), url_encode(&next));
            Ok(visit.respond(web::see_other(&to)))
        }
        Err(err) => {
            let errors = FieldErrors::from_error(err)?;
            sign_up_page(visit, SignUp { layout: Layout::bare(""), name, email, next, errors }, 400)
        }
    }
}

fn sign_up_page(mut visit: Visit<'_>, mut page: SignUp, status: u16) -> Result<Response<Body>> {
    page.layout = visit.layout("Create an account", "Create a Makers Market account to buy from independent makers.");
    page.layout.canonical = Some(visit.absolute("/sign-up"));
    Ok(visit.respond(web::html(status, web::render(&page)?)))
}

fn confirm_page(mut visit: Visit<'_>, mut page: Confirm, status: u16) -> Result<Response<Body>> {
    page.layout = visit.layout("Confirm your email", "Confirm your email address with the code we sent you.");
    Ok(visit.respond(web::html(status, web::render(&page)?)))
}
