//! Scheduled: moves each paid order one delivery step on per dwell time, until delivered.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app: &'static shared::App = Box::leak(Box::new(shared::App::from_env().await?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        delivery_simulator::handle(app, event.payload).await.map_err(|err| {
            tracing::error!(error = %err, "delivery simulator failed");
            lambda_runtime::Error::from(err.to_string())
        })
    }))
    .await
}
