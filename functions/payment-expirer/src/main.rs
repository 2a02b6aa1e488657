//! Scheduled: expires orders not paid within the payment window and retries pending refunds.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app: &'static shared::App = Box::leak(Box::new(shared::App::from_env().await?.with_stripe()));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        payment_expirer::handle(app, event.payload).await.map_err(|err| {
            tracing::error!(error = %err, "payment expirer failed");
            lambda_runtime::Error::from(err.to_string())
        })
    }))
    .await
}
