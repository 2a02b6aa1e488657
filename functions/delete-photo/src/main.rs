//! DELETE /products/{id}/photos/{photo_id}: its maker removes a photo.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, delete_photo::handle).await
}
