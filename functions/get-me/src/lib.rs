//! GET /me: the caller's own profile, created on first sight (with its email address, from
//! Cognito).

use lambda_http::{Body, Request, Response};
use shared::{App, Result, http, notify};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let profile = app.store.profile(&who, &app.now()).await?;
    notify::remember_address(app, &profile).await;
    http::json(200, &profile)
}
