//! The local stand-in for "EventBridge rule → notifier (async invocation, 2 retries, then
//! an on-failure destination)": on moto, a rule on the stack's bus (source
//! `makers-market.orders`, detail-types `OrderStatusChanged`, `OrderPaymentFailed` and
//! `OrderRefundFailed`)
//! targets an SQS queue
//! `<bus>-notifier` whose redrive policy moves a message to `<bus>-notifier-dlq` after
//! [`MAX_ATTEMPTS`] receives; a [`Pump`] long-polls the queue, hands each message's body (the
//! EventBridge event, as Lambda would get it) to the notifier, deletes it when the notifier
//! succeeded, and otherwise makes it visible again after a backoff (doubling per attempt).
//! The DLQ keeps what failed three times, for a person to look at and re-drive
//! ([`Pump::redrive`]).
//!
//! [`provision`] also verifies the sender's address as an SES identity on moto, which
//! refuses to send from an unverified one, as SES does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use shared::domain::{OrderPaymentFailed, OrderRefundFailed, OrderStatusChanged};

use crate::sandbox::{Failure, Pool, PoolOptions};

/// Attempts at one event before it goes to the dead-letter queue: Lambda's async invocation
/// tries once and retries twice.
pub const MAX_ATTEMPTS: u32 = 3;

/// The resources of the notification path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifierQueues {
    pub rule: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

/// The EventBridge pattern of the notifier's rule (the same as `template.yaml`'s).
pub fn event_pattern() -> serde_json::Value {
    serde_json::json!({
        "source": [OrderStatusChanged::SOURCE],
        "detail-type": [OrderStatusChanged::DETAIL_TYPE, OrderPaymentFailed::DETAIL_TYPE, OrderRefundFailed::DETAIL_TYPE],
    })
}

/// Creates (idempotently) the bus, the queue and its DLQ, the rule and its target, and
/// verifies `sender`'s address in SES.
pub async fn provision(aws: &SdkConfig, bus: &str, sender: &str) -> anyhow::Result<NotifierQueues> {
    let events = aws_sdk_eventbridge::Client::new(aws);
    match events.create_event_bus().name(bus).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_already_exists_exception()) => {}
        Err(e) => {
            anyhow::bail!("creating the event bus {bus}: {}", aws_sdk_eventbridge::error::DisplayErrorContext(e))
        }
    }
    let sqs = aws_sdk_sqs::Client::new(aws);
    let dlq_name = format!("{bus}-notifier-dlq");
    let dlq_url = create_queue(&sqs, &dlq_name, HashMap::new()).await?;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_ATTEMPTS.to_string()});
    let queue_name = format!("{bus}-notifier");
    let queue_url = create_queue(
        &sqs,
        &queue_name,
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (QueueAttributeName::VisibilityTimeout, "60".to_owned()),
        ]),
    )
    .await?;
    let queue_arn = queue_arn(&sqs, &queue_url).await?;
    let rule = format!("{bus}-notifier");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(event_pattern().to_string())
        .send()
        .await
        .with_context(|| format!("creating the rule {rule}"))?;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("notifier").arn(&queue_arn).build()?)
        .send()
        .await
        .with_context(|| format!("pointing the rule {rule} at {queue_name}"))?;
    verify_sender(aws, sender).await?;
    Ok(NotifierQueues { rule, queue_url, queue_arn, dlq_url, dlq_arn })
}

/// Makes `sender`'s address (`Name <address>` or `address`) a verified SES identity.
pub async fn verify_sender(aws: &SdkConfig, sender: &str) -> anyhow::Result<()> {
    let address = shared::email::address_of(sender);
    let ses = aws_sdk_sesv2::Client::new(aws);
    match ses.create_email_identity().email_identity(address).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("{}", aws_sdk_sesv2::error::DisplayErrorContext(e)))
            .with_context(|| format!("verifying the sender {address} in SES")),
    }
}

pub(crate) async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> anyhow::Result<String> {
    let out = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes((!attributes.is_empty()).then_some(attributes))
        .send()
        .await
        .with_context(|| format!("creating the queue {name}"))?;
    out.queue_url.with_context(|| format!("no URL for the queue {name}"))
}

pub(crate) async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("reading the ARN of {url}"))?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .with_context(|| format!("no ARN for {url}"))
}

/// Hands one event to the notifier: `Ok` with its answer, `Err` with why it failed.
pub type Invoke = Arc<dyn Fn(serde_json::Value) -> BoxFuture<'static, Result<serde_json::Value, String>> + Send + Sync>;

/// How to pump.
#[derive(Debug, Clone)]
pub struct PumpOptions {
    pub queue_url: String,
    /// Long-poll wait per receive (at most 20 s).
    pub wait: Duration,
    /// Delay before the second attempt; doubled for each one after (Lambda: about 1 and 2
    /// minutes; seconds locally).
    pub backoff: Duration,
}

impl PumpOptions {
    pub fn new(queue_url: impl Into<String>) -> Self {
        Self { queue_url: queue_url.into(), wait: Duration::from_secs(10), backoff: Duration::from_secs(2) }
    }
}

/// What one [`Pump::once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PumpRound {
    pub delivered: usize,
    pub failed: usize,
}

/// Moves events from the queue to the notifier. Dropping it stops the background loop, if
/// one was started.
pub struct Pump {
    sqs: aws_sdk_sqs::Client,
    opts: PumpOptions,
    invoke: Invoke,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Pump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump").field("opts", &self.opts).finish_non_exhaustive()
    }
}

impl Pump {
    /// A pump; nothing runs until [`Pump::once`] or [`Pump::run`].
    pub fn new(aws: &SdkConfig, opts: PumpOptions, invoke: Invoke) -> Self {
        Self { sqs: aws_sdk_sqs::Client::new(aws), opts, invoke, task: None }
    }

    /// Pumps in the background until dropped or [`Pump::shutdown`].
    pub fn run(mut self) -> Self {
        let (sqs, opts, invoke) = (self.sqs.clone(), self.opts.clone(), self.invoke.clone());
        self.task = Some(tokio::spawn(async move {
            loop {
                if let Err(e) = round(&sqs, &opts, &invoke).await {
                    eprintln!("notifications: receiving from {} failed: {e:#}", opts.queue_url);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }));
        self
    }

    /// One receive (long-polling up to `wait`) and the delivery of what came.
    pub async fn once(&self) -> anyhow::Result<PumpRound> {
        round(&self.sqs, &self.opts, &self.invoke).await
    }

    /// Sends every message of the dead-letter queue `dlq_url` back to this pump's queue
    /// (what a person does with `aws sqs start-message-move-task` once the cause is fixed).
    /// Returns how many moved.
    pub async fn redrive(&self, dlq_url: &str) -> anyhow::Result<usize> {
        let mut moved = 0;
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(dlq_url)
                .max_number_of_messages(10)
                .send()
                .await
                .context("receiving from the dead-letter queue")?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(moved);
            }
            for message in messages {
                self.sqs
                    .send_message()
                    .queue_url(&self.opts.queue_url)
                    .message_body(message.body.unwrap_or_default())
                    .send()
                    .await
                    .context("re-driving a message")?;
                if let Some(handle) = message.receipt_handle {
                    self.sqs.delete_message().queue_url(dlq_url).receipt_handle(handle).send().await?;
                }
                moved += 1;
            }
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn round(sqs: &aws_sdk_sqs::Client, opts: &PumpOptions, invoke: &Invoke) -> anyhow::Result<PumpRound> {
    let out = sqs
        .receive_message()
        .queue_url(&opts.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(i32::try_from(opts.wait.as_secs().min(20)).unwrap_or(20))
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .context("receiving from the notifier queue")?;
    let mut done = PumpRound::default();
    for message in out.messages.unwrap_or_default() {
        let attempt: u32 = message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let Some(handle) = message.receipt_handle.clone() else { continue };
        let outcome = match serde_json::from_str::<serde_json::Value>(message.body().unwrap_or_default()) {
            Ok(event) => (invoke)(event).await,
            Err(e) => Err(format!("the message is not JSON: {e}")),
        };
        match outcome {
            Ok(_) => {
                sqs.delete_message().queue_url(&opts.queue_url).receipt_handle(handle).send().await?;
                done.delivered += 1;
            }
            Err(why) => {
                done.failed += 1;
                let last = attempt >= MAX_ATTEMPTS;
                let delay = opts.backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
                eprintln!(
                    "notifications: attempt {attempt} of {MAX_ATTEMPTS} failed: {why}{}",
                    if last { "; the event goes to the dead-letter queue" } else { "; retrying later" }
                );
                let seconds = if last { 0 } else { i32::try_from(delay.as_secs().max(1)).unwrap_or(60) };
                sqs.change_message_visibility()
                    .queue_url(&opts.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(seconds)
                    .send()
                    .await?;
            }
        }
    }
    Ok(done)
}

/// An [`Invoke`] that runs the real `notifier` binary from `bin_dir` behind the fake Lambda
/// Runtime API, one process kept warm, like the scheduled functions.
pub fn binary_invoker(
    bin_dir: impl Into<PathBuf>,
    log_dir: impl Into<PathBuf>,
    env: &[(String, String)],
    echo_logs: bool,
) -> anyhow::Result<Invoke> {
    function_invoker("notifier", bin_dir, log_dir, env, echo_logs)
}

/// An [`Invoke`] of the real `function` binary from `bin_dir` (one process kept warm).
pub fn function_invoker(
    function: &'static str,
    bin_dir: impl Into<PathBuf>,
    log_dir: impl Into<PathBuf>,
    env: &[(String, String)],
    echo_logs: bool,
) -> anyhow::Result<Invoke> {
    let (bin_dir, log_dir) = (bin_dir.into(), log_dir.into());
    std::fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;
    let timeout = Duration::from_secs(30);
    let pool = Arc::new(Pool::new(
        function,
        &PoolOptions {
            binary: bin_dir.join(function),
            env,
            log_dir: &log_dir,
            max_instances: 1,
            deadline: timeout,
            memory_mb: 256,
            echo_logs,
        },
    )?);
    Ok(Arc::new(move |event| {
        let pool = pool.clone();
        Box::pin(async move {
            match pool.invoke(event, timeout).await {
                Ok(answer) => Ok(answer),
                Err(Failure::Failed(why)) => Err(format!("{why} (log: {})", pool.log_hint())),
                Err(Failure::TimedOut) => Err(format!("timed out after {timeout:?} (log: {})", pool.log_hint())),
            }
        })
    }))
}

/// An email as moto's SES kept it (`GET /moto-api/data.json`, `ses` → `Message`). moto keeps
/// one body: the HTML when there is one. It keeps no time: the notifier's marker has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    pub id: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Every email moto's SES has sent, oldest first, from every stack on that moto.
pub async fn sent_emails(moto_url: &str) -> anyhow::Result<Vec<SentEmail>> {
    let uri = format!("{}/moto-api/data.json", moto_url.trim_end_matches('/'));
    // moto serializes its whole state for this, and can fail (500) while another client
    // changes it at that moment: try again.
    let mut attempt = 0;
    let data = loop {
        attempt += 1;
        let request = http::Request::get(&uri)
            .body(http_body_util::Full::new(hyper::body::Bytes::new()))
            .with_context(|| format!("building GET {uri}"))?;
        let (status, data) = crate::api::exchange(request, Duration::from_secs(30)).await?;
        if status == 200 {
            break data;
        }
        anyhow::ensure!(attempt < 10, "GET {uri} answered {status}");
        tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
    };
    let messages = data["ses"]["Message"].as_array().cloned().unwrap_or_default();
    Ok(messages
        .iter()
        .map(|m| {
            let text = |name: &str| m[name].as_str().unwrap_or_default().to_owned();
            let mut to = Vec::new();
            for field in ["ToAddresses", "CcAddresses", "BccAddresses"] {
                to.extend(
                    m["destinations"][field]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(str::to_owned)),
                );
            }
            SentEmail { id: text("id"), from: text("source"), to, subject: text("subject"), body: text("body") }
        })
        .collect())
}
