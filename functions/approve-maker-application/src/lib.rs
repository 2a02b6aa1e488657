//! POST /maker-applications/{id}/approve: an admin approves; the applicant joins the
//! `makers` group, their shop profile is filled, and they get an email. Idempotent.

use lambda_http::{Body, Request, Response};
use shared::domain::Decision;
use shared::{App, Result, applications, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let id = http::application_path_id(&req, "approve")?;
    let who = app.auth.authenticate(&req).await?;
    let application = applications::decide(app, &who, &id, Decision::Approve).await?;
    http::json(200, &application)
}
