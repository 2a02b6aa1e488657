//! POST /maker-applications: a signed-in customer applies to sell.

use lambda_http::{Body, Request, Response};
use shared::domain::{ApplicationInput, NewApplication};
use shared::{App, Result, applications, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let who = app.auth.authenticate(&req).await?;
    let input = NewApplication::parse(http::json_body::<ApplicationInput>(&req)?)?;
    let application = applications::apply(app, &who, input).await?;
    // The caller reads it back at `/mine` (there is no route by id but the admins' actions).
    http::created("/maker-applications/mine", &application)
}
