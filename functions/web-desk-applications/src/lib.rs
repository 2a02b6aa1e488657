//! The desk's maker applications (admins only, from the caller's current groups):
//! - `GET /desk/applications?status=`: the waiting ones first and oldest first (a queue),
//!   or the approved or rejected ones;
//! - `POST /desk/applications/{id}` with `action=approve`, or `action=reject` and a `note`
//!   the applicant reads: `applications::decide`, the API's use case (the `makers` group,
//!   the shop profile, the email; a repeat changes nothing).

use askama::Template;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::domain::{Application, ApplicationId, ApplicationStatus, Decision, RejectionInput};
use shared::web::{self, FieldErrors, Form, Layout, Visit, filters, layout::url_encode, staff};
use shared::{App, Error, Result, applications, http};

const PER_PAGE: usize = 20;

#[derive(Template)]
#[template(path = "applications.html")]
struct ApplicationsPage {
    layout: Layout,
    tab: &'static str,
    applications: Vec<Application>,
    next_href: Option<String>,
    expired: bool,
    /// A refused rejection: its application and the note's message.
    refused: Option<(String, String)>,
    note: String,
}

impl ApplicationsPage {
    fn pending(&self) -> bool {
        self.tab == "pending"
    }
    /// The message of a refused rejection of `a`, or "".
    fn refusal_for(&self, a: &Application) -> &str {
        match &self.refused {
            Some((refused, message)) if refused == a.id.as_str() => message,
            _ => "",
        }
    }
    /// What the reject form of `a` shows: the note that was refused, else nothing.
    fn note_for(&self, a: &Application) -> &str {
        if self.refusal_for(a).is_empty() { "" } else { &self.note }
    }
}

/// The name of the note field of `a`'s reject form (one per application on the page).
fn note_field(id: &ApplicationId) -> String {
    format!("note-{}", id.as_str())
}

impl ApplicationsPage {
    fn note_id(&self, a: &Application) -> String {
        note_field(&a.id)
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    staff::desk(&who)?;
    if req.method() != Method::POST {
        return list(visit, &req, None, String::new()).await;
    }
    let id = http::path(&req)
        .strip_prefix("/desk/applications/")
        .filter(|id| !id.contains('/'))
        .and_then(ApplicationId::parse)
        .ok_or_else(|| Error::not_found("No such application."))?;
    let form = Form::read(&req, &visit)?;
    let decision = match form.get("action") {
        Some("approve") => Decision::Approve,
        Some("reject") => match (RejectionInput { note: form.text(&note_field(&id)) }).parse() {
            Ok(note) => Decision::Reject { note },
            Err(err @ Error::Validation(_)) => {
                let message = FieldErrors::from_error(err)?.get("note").to_owned();
                return list(visit, &req, Some((id.as_str().to_owned(), message)), form.text(&note_field(&id))).await;
            }
            Err(other) => return Err(other),
        },
        _ => return Err(Error::bad_request("This form asks for nothing the desk does.")),
    };
    match applications::decide(app, &who, &id, decision).await {
        Ok(decided) if decided.status == ApplicationStatus::Approved => visit.flash(format!(
            "{} is approved: its maker is in the makers group, the shop profile is filled and the email is sent.",
            decided.shop_name
        )),
        Ok(decided) => visit.flash(format!("{} is rejected; the applicant is emailed your note.", decided.shop_name)),
        Err(Error::Conflict { detail, .. }) => visit.flash(detail.into_owned()),
        Err(other) => return Err(other),
    }
    Ok(visit.respond(web::see_other("/desk/applications")))
}

async fn list(
    mut visit: Visit<'_>,
    req: &Request,
    refused: Option<(String, String)>,
    note: String,
) -> Result<Response<Body>> {
    let app = visit.app();
    let (tab, status) = match http::query(req, "status") {
        Some("approved") => ("approved", ApplicationStatus::Approved),
        Some("rejected") => ("rejected", ApplicationStatus::Rejected),
        _ => ("pending", ApplicationStatus::Pending),
    };
    let secret = app.cursor_secret().await?;
    let scope = format!("desk-applications|{tab}");
    let (applications, next, expired) =
        match http::query(req, "cursor").map(|c| http::cursor::decode(secret, &scope, c)) {
            Some(Err(Error::Validation(_))) => (Vec::new(), None, true),
            Some(Err(other)) => return Err(other),
            start => {
                let page = app.store.list_applications(status, PER_PAGE, start.transpose()?).await?;
                (page.items, page.next.map(|k| http::cursor::encode(secret, &scope, &k)), false)
            }
        };
    let next_href = next.map(|c| format!("/desk/applications?status={tab}&cursor={}", url_encode(&c)));
    let layout = visit.private_layout("Maker applications", "The admins' desk.");
    let code = if refused.is_some() || expired { 400 } else { 200 };
    let page = ApplicationsPage { layout, tab, applications, next_href, expired, refused, note };
    Ok(visit.respond(web::html(code, web::render(&page)?)))
}
