//! The image function: S3 notifications of photo originals (through SQS) → WebP renditions.
//!
//! `photo-renditions --render FILE` (no Lambda runtime, no AWS) makes the renditions of a
//! local JPEG and prints the time and this process's peak memory as JSON: what
//! `cargo xtask bench --only image` measures, with the code the function runs.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, file] = &args[..]
        && flag == "--render"
    {
        let report = photo_renditions::render_file(std::path::Path::new(file))?;
        println!("{report}");
        return Ok(());
    }
    let app: &'static shared::App = Box::leak(Box::new(shared::App::from_env().await?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(photo_renditions::handle(app, event.payload).await)
    }))
    .await
}
