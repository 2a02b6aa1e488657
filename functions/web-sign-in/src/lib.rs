//! GET /sign-in: the sign-in form (email and password). POST /sign-in: signs in through
//! Cognito, starts a session (a visitor's cart joins the account's), and returns to the
//! page the user came from (`next`, a same-site path only). POST /sign-out: revokes the
//! session's refresh token at Cognito and ends the session. GET /sign-in/google and
//! /sign-in/callback: "Continue with Google" through Cognito's managed login (shown only
//! when `COGNITO_DOMAIN_URL` is set), the authorization-code flow with PKCE and `state`,
//! both kept in the sealed cookie until the callback.

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::web::{self, FieldErrors, Form, Layout, Visit, account, filters, safe_next};
use shared::{App, Result, http};

#[derive(Template)]
#[template(path = "sign-in.html")]
struct SignIn {
    layout: Layout,
    email: String,
    next: String,
    errors: FieldErrors,
    google: bool,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    match http::path(&req) {
        "/sign-in/google" => return google(app, &req, visit),
        "/sign-in/callback" => return callback(app, &req, visit).await,
        _ => {}
    }
    if http::path(&req) == "/sign-out" {
        Form::read(&req, &visit)?;
        if let Some(user) = &visit.user {
            // Revoked first: a session that cannot be revoked is not ended half-way.
            account::revoke(app, user.refresh_token()).await?;
        }
        visit.sign_out().await?;
        visit.flash("You are signed out.");
        return Ok(visit.respond(web::see_other("/")));
    }
    if req.method() == Method::POST {
        let form = Form::read(&req, &visit)?;
        let (email, next) = (form.text("email").to_lowercase(), safe_next(form.get("next")));
        let refused = |errors: FieldErrors| SignInForm { email: email.clone(), next: next.clone(), errors };
        let mut errors = FieldErrors::default();
        if email.is_empty() || !email.contains('@') {
            errors = FieldErrors::one("email", "Enter the email address you signed up with.");
        } else if form.text("password").is_empty() {
            errors = FieldErrors::one("password", "Enter your password.");
        }
        if !errors.is_empty() {
            return page(visit, refused(errors), 400);
        }
        match account::sign_in(app, &email, form.get("password").unwrap_or_default()).await {
            Ok((principal, tokens)) => {
                visit.sign_in(principal, tokens).await?;
                visit.flash("Welcome back. You are signed in.");
                return Ok(visit.respond(web::see_other(&next)));
            }
            Err(err) => {
                let errors = FieldErrors::from_error(err)?;
                if !errors.get("unconfirmed").is_empty() {
                    // Not confirmed yet: a fresh code, and the confirmation form.
                    account::resend_code(app, &email).await?;
                    visit.flash("Confirm your email address first: we have sent you a new code.");
                    let to = format!(
                        "/sign-up/confirm?email={}&next={}",
                        web::layout::url_encode(&email),
                        web::layout::url_encode(&next)
                    );
                    return Ok(visit.respond(web::see_other(&to)));
                }
                return page(visit, refused(errors), 400);
            }
        }
    }
    let form = SignInForm {
        email: http::query(&req, "email").unwrap_or_default().to_owned(),
        next: safe_next(http::query(&req, "next")),
        errors: FieldErrors::default(),
    };
    if visit.user.is_some() {
        return Ok(visit.respond(web::see_other(&form.next)));
    }
    page(visit, form, 200)
}

struct SignInForm {
    email: String,
    next: String,
    errors: FieldErrors,
}

fn page(mut visit: Visit<'_>, form: SignInForm, status: u16) -> Result<Response<Body>> {
    let mut layout = visit.layout("Sign in", "Sign in to Makers Market to check out and follow your orders.");
    layout.canonical = Some(visit.absolute("/sign-in"));
    let google = visit.app().config.web.hosted_ui_url.is_some();
    let page = SignIn { layout, email: form.email, next: form.next, errors: form.errors, google };
    Ok(visit.respond(web::html(status, web::render(&page)?)))
}

/// The managed login's URL, configured only with Google sign-in.
fn hosted_ui(app: &App) -> Result<&str> {
    app.config
        .web
        .hosted_ui_url
        .as_deref()
        .ok_or_else(|| shared::Error::not_found("Google sign-in is not set up here."))
}

/// To Cognito's managed login, Google chosen, with a fresh `state` and PKCE challenge.
fn google(app: &App, req: &Request, mut visit: Visit<'_>) -> Result<Response<Body>> {
    let hosted_ui = hosted_ui(app)?;
    let (state, challenge) = visit.start_oauth(safe_next(http::query(req, "next")));
    let redirect_uri = visit.absolute("/sign-in/callback");
    let url = account::google_authorize_url(hosted_ui, account::client_id(app)?, &redirect_uri, &state, &challenge);
    Ok(visit.respond(web::see_other(&url)))
}

/// Back from the managed login: the `state` must be the one this browser was given, then
/// the code (with the PKCE verifier) becomes the session's tokens.
async fn callback(app: &App, req: &Request, mut visit: Visit<'_>) -> Result<Response<Body>> {
    let hosted_ui = hosted_ui(app)?.to_owned();
    let state = http::query(req, "state").unwrap_or_default();
    let Some((verifier, next)) = visit.finish_oauth(state) else {
        // Refused, and the sign-in under way is spent (the cookie forgets it).
        let refused = shared::Error::forbidden(
            "This sign-in did not start here, or has been used already. Start again from the sign-in page.",
        );
        return Ok(visit.respond(web::error_page(&refused)));
    };
    let Some(code) = http::query(req, "code").filter(|c| !c.is_empty() && c.len() <= 512) else {
        // The user turned Google down, or Cognito reported an error.
        visit.flash("Signing in with Google did not finish. Try again, or sign in with your email.");
        return Ok(visit.respond(web::see_other("/sign-in")));
    };
    let redirect_uri = visit.absolute("/sign-in/callback");
    match account::google_tokens(app, &hosted_ui, code, &verifier, &redirect_uri).await {
        Ok((principal, tokens)) => {
            visit.sign_in(principal, tokens).await?;
            visit.flash("Welcome. You are signed in with Google.");
            Ok(visit.respond(web::see_other(&next)))
        }
        Err(shared::Error::Validation(_)) => {
            visit.flash("Signing in with Google did not finish. Try again, or sign in with your email.");
            Ok(visit.respond(web::see_other("/sign-in")))
        }
        Err(other) => Err(other),
    }
}
