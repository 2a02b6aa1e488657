//! POST /maker-applications/{id}/reject: an admin rejects with a note; the applicant gets
//! an email with it. Idempotent.

use lambda_http::{Body, Request, Response};
use shared::domain::{Decision, RejectionInput};
use shared::{App, Result, applications, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let id = http::application_path_id(&req, "reject")?;
    let who = app.auth.authenticate(&req).await?;
    who.require_admin()?;
    let note = http::json_body::<RejectionInput>(&req)?.parse()?;
    let application = applications::decide(app, &who, &id, Decision::Reject { note }).await?;
    http::json(200, &application)
}
