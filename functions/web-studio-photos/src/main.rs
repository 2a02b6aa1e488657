//! The studio's photos: a product's photo actions, apart from the studio's pages so that
//! only this function carries the image decoders.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_studio_photos::handle).await
}
