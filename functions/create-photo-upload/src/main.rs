//! POST /products/{id}/photos: its maker asks to upload a photo and gets a presigned S3 POST.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, create_photo_upload::handle).await
}
