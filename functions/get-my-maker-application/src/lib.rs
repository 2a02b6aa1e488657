//! GET /maker-applications/mine: the caller's latest maker application.

use lambda_http::{Body, Request, Response};
use shared::{App, Error, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let application = app
        .store
        .latest_application(&who.user_id)
        .await?
        .ok_or_else(|| Error::not_found("You have not applied to sell yet."))?;
    http::json(200, &application)
}
