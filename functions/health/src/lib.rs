//! GET /health: the ALB health check.

use lambda_http::{Body, Request, Response};
use shared::{App, Result, http};

/// `{"status":"ok"}`. It touches no dependency: the ALB must not take every function out of
/// service because DynamoDB is slow for a moment.
pub async fn handle(_app: &App, _req: Request) -> Result<Response<Body>> {
    http::json(200, &serde_json::json!({ "status": "ok" }))
}
