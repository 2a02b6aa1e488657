//! POST /products/{id}/photos/{photo_id}/confirm: its maker attaches an uploaded photo.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, confirm_photo::handle).await
}
