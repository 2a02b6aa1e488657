//! PUT /me: the caller replaces their editable profile fields.

use lambda_http::{Body, Request, Response};
use shared::domain::{ProfileInput, ProfileUpdate};
use shared::{App, Result, http, notify};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let update = ProfileUpdate::parse(http::json_body::<ProfileInput>(&req)?, who.is_maker())?;
    let profile = app.store.put_profile(&who, &update, &app.now()).await?;
    notify::remember_address(app, &profile).await;
    http::json(200, &profile)
}
