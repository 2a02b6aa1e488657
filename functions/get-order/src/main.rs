//! GET /orders/{id}: one order, as its customer, one of its makers or an admin may see it.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, get_order::handle).await
}
