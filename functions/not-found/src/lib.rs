//! The ALB's default action: requests no route serves get a problem+json 405 with `Allow`
//! when their path serves other methods (the route table in `shared::routes` says which),
//! else a 404; either with a request id.
//!
//! An ALB's fixed-response action could say 404 too, but only as `application/json`, without
//! `x-request-id` and without knowing which methods a path serves; behind a function every
//! answer of the API has the same shape.

use lambda_http::{Body, Request, Response};
use shared::{App, Result, http};

pub async fn handle(_app: &App, req: Request) -> Result<Response<Body>> {
    Err(http::unrouted(&req, "No route serves this method and path; see the API reference."))
}
