//! The ALB's default action: requests no route serves get a problem+json 404 with a request id.
//!
//! An ALB's fixed-response action could say 404 too, but only as `application/json` and
//! without `x-request-id`; behind a function every answer of the API has the same shape.

use lambda_http::{Body, Request, Response};
use shared::{App, Error, Result};

pub async fn handle(_app: &App, _req: Request) -> Result<Response<Body>> {
    Err(Error::not_found("No route serves this method and path; see the API reference."))
}
