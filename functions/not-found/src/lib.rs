//! The ALB's default action: requests no route serves get a problem+json 405 with `Allow`
//! when their path serves other methods (the route table in `shared::routes` says which),
//! else a 404; either with a request id. A browser asking for a page that is not there
//! (HTML accepted, a path outside the API's collections) gets the shop's 404 page instead.
//!
//! An ALB's fixed-response action could say 404 too, but only as `application/json`, without
//! `x-request-id` and without knowing which methods a path serves; behind a function every
//! answer of the API has the same shape.

use lambda_http::{Body, Request, Response};
use shared::{App, Result, http, web};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let err = http::unrouted(&req, "No route serves this method and path; see the API reference.");
    if web::wants_page(&req) {
        return Ok(web::html_error(app, &req, &err));
    }
    Err(err)
}
