//! GET /me: the caller's own profile, created on first sight.

use lambda_http::{Body, Request, Response};
use shared::{App, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let profile = app.store.profile(&who, &app.now()).await?;
    http::json(200, &profile)
}
