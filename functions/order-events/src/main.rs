//! DynamoDB stream → EventBridge: publishes OrderStatusChanged for every order transition.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::events::EventBridgeBus;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app: &'static shared::App = Box::leak(Box::new(shared::App::from_env().await?));
    let bus: &'static EventBridgeBus =
        Box::leak(Box::new(EventBridgeBus::new(&app.aws, app.config.event_bus_name.clone())));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, lambda_runtime::Error>(order_events::handle(app, bus, event.payload).await)
    }))
    .await
}
