//! GET /maker-applications: admins list applications by status (`pending` by default),
//! oldest first: the ones waiting longest come first.

use lambda_http::{Body, Request, Response};
use shared::domain::ApplicationStatus;
use shared::{App, Error, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    who.require_admin()?;
    let status = match http::query(&req, "status") {
        None => ApplicationStatus::Pending,
        Some(s) => ApplicationStatus::parse(s).ok_or_else(|| {
            let names: Vec<&str> = ApplicationStatus::ALL.iter().map(|s| s.as_str()).collect();
            Error::invalid("status", format!("must be one of {}", names.join(", ")))
        })?,
    };
    let limit = http::page_limit(&req)?;
    let secret = app.cursor_secret().await?;
    let scope = format!("maker-applications|status={}", status.as_str());
    let start = http::query(&req, "cursor").map(|c| http::cursor::decode(secret, &scope, c)).transpose()?;
    let page = app.store.list_applications(status, limit, start).await?;
    http::cursor::page(secret, &scope, page)
}
