//! The admins' desk: find any order, see it whole, cancel it with its refund.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?.with_stripe();
    shared::web::run(app, web_desk_orders::handle).await
}
