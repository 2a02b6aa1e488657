//! The init-time floor every function is compared against: the same shape as a function's
//! cold start — AWS config from the environment, a DynamoDB client, `lambda_http::run` on a
//! current-thread runtime — with no application logic. `cargo xtask bench` measures it.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    lambda_http::run(service_fn(move |_request: Request| {
        // Held like a function holds its clients, so the client is built and kept alive.
        let _client = &dynamodb;
        async { Ok::<_, Error>(Response::builder().status(200).body(Body::from("ok"))?) }
    }))
    .await
}
