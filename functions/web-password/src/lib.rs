//! GET and POST /forgot-password: asks Cognito to email a reset code (`ForgotPassword`;
//! the page says the same whether or not the account exists). GET and POST
//! /forgot-password/reset: the code and a new password (`ConfirmForgotPassword`), then
//! sign in.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::web::layout::url_encode;
use shared::web::{self, FieldErrors, Form, Layout, Visit, account};
use shared::{App, Error, Result, http};

#[derive(Template)]
#[template(path = "forgot.html")]
struct Forgot {
    layout: Layout,
    email: String,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct Reset {
    layout: Layout,
    email: String,
    errors: FieldErrors,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let resetting = http::path(&req) == "/forgot-password/reset";
    if req.method() != Method::POST {
        let email = http::query(&req, "email").unwrap_or_default().to_owned();
        let errors = FieldErrors::default();
        return if resetting {
            render(visit, Reset { layout: Layout::bare(""), email, errors }, "Choose a new password", 200)
        } else {
            render(visit, Forgot { layout: Layout::bare(""), email, errors }, "Forgot your password?", 200)
        };
    }
    let form = Form::read(&req, &visit)?;
    let email = form.text("email").to_lowercase();
    if !resetting {
        let result = if email.contains('@') {
            account::forgot_password(app, &email).await
        } else {
            Err(Error::invalid("email", "Enter the email address you signed up with."))
        };
        return match result {
            Ok(()) => {
                visit.flash(format!("If {email} has an account, we have emailed it a code."));
                Ok(visit.respond(web::see_other(&format!("/forgot-password/reset?email={}", url_encode(&email)))))
            }
            Err(err) => {
                let errors = FieldErrors::from_error(err)?;
                render(visit, Forgot { layout: Layout::bare(""), email, errors }, "Forgot your password?", 400)
            }
        };
    }
    let (code, password) = (form.text("code"), form.get("password").unwrap_or_default().to_owned());
    let result = if code.is_empty() {
        Err(Error::invalid("code", "Enter the 6-digit code from the email."))
    } else if password.chars().count() < 12 {
        Err(Error::invalid("password", "Use at least 12 characters, with upper- and lower-case letters and a number."))
    } else {
        account::reset_password(app, &email, &code, &password).await
    };
    match result {
        Ok(()) => {
            visit.flash("Your password is changed. Sign in with it now.");
            Ok(visit.respond(web::see_other(&format!("/sign-in?email={}", url_encode(&email)))))
        }
        Err(err) => {
            let errors = FieldErrors::from_error(err)?;
            render(visit, Reset { layout: Layout::bare(""), email, errors }, "Choose a new password", 400)
        }
    }
}

/// A page of this function with its layout.
trait WithLayout: Template {
    fn layout_mut(&mut self) -> &mut Layout;
}

impl WithLayout for Forgot {
    fn layout_mut(&mut self) -> &mut Layout {
        &mut self.layout
    }
}

impl WithLayout for Reset {
    fn layout_mut(&mut self) -> &mut Layout {
        &mut self.layout
    }
}

fn render(mut visit: Visit<'_>, mut page: impl WithLayout, title: &str, status: u16) -> Result<Response<Body>> {
    let layout = visit.layout(title, "Reset the password of your Makers Market account.");
    *page.layout_mut() = layout;
    Ok(visit.respond(web::html(status, web::render(&page)?)))
}
