//! The local stand-in for the event source mapping (ESM) that hands the table's DynamoDB
//! stream to the order events publisher in the cloud: a pump reads the stream that DynamoDB
//! Local serves and invokes the publisher's real binary through the fake Runtime API
//! ([`crate::sandbox`]), like [`crate::scheduler`] runs the scheduled functions.
//!
//! What it does as the ESM does (see `template.yaml`'s mapping): new shards are read from
//! the trim horizon, parents before children, in batches of at most `batch_size` records;
//! each batch is the ESM's event ([`lambda_event`]); the function's `batchItemFailures` are
//! honoured (ReportBatchItemFailures): the batch is retried from the lowest failed sequence
//! number, with a backoff, and an identifier that is empty or not in the batch (or a
//! function error, crash or timeout) retries the whole rest. After `max_retries` retries
//! without progress, the batch's description goes to the on-failure SQS queue (on moto), in
//! the shape the ESM's on-failure destination gets, and the pump moves on.
//!
//! What it does not: bisect a failing batch (it retries the tail, which with batch item
//! failures comes to the same records), run shards in parallel, or keep checkpoints across
//! restarts (they are in memory; DynamoDB Local is in memory too).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{Value, json};

use crate::sandbox::{Failure, Pool, PoolOptions};

/// The account in ARNs (moto's default, as in `events/*.json`).
const ACCOUNT: &str = "123456789012";
/// The ESM's default batch size for DynamoDB streams.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// How long the pump waits before reading a stream with nothing new again (the ESM polls
/// each shard about four times a second).
pub const DEFAULT_POLL_EVERY: Duration = Duration::from_millis(250);
/// How often the shard list is read again, for new shards.
const SHARD_REFRESH: Duration = Duration::from_secs(2);

/// The ESM's event for these stream records (`{"Records": [...]}`), as Lambda hands it to
/// a function: DynamoDB JSON images, `eventSourceARN` the stream's ARN, `awsRegion` the
/// table's region (DynamoDB Local writes `ddblocal` in its own records).
pub fn lambda_event(records: &[Record], stream_arn: &str, region: &str) -> Value {
    json!({ "Records": records.iter().map(|r| lambda_record(r, stream_arn, region)).collect::<Vec<_>>() })
}

fn lambda_record(record: &Record, stream_arn: &str, region: &str) -> Value {
    let mut dynamodb = serde_json::Map::new();
    if let Some(change) = record.dynamodb() {
        if let Some(at) = change.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(at.secs()));
        }
        for (name, image) in
            [("Keys", change.keys()), ("NewImage", change.new_image()), ("OldImage", change.old_image())]
        {
            if let Some(image) = image {
                dynamodb.insert(name.into(), dynamodb_json(image));
            }
        }
        if let Some(sequence_number) = change.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), json!(sequence_number));
        }
        if let Some(size) = change.size_bytes() {
            dynamodb.insert("SizeBytes".into(), json!(size));
        }
        if let Some(view) = change.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    let mut out = json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": record.event_source().unwrap_or("aws:dynamodb"),
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    });
    // Only TTL deletions carry one.
    if let Some(identity) = record.user_identity() {
        out["userIdentity"] = json!({"type": identity.r#type(), "principalId": identity.principal_id()});
    }
    out
}

/// An image as DynamoDB JSON (`{"S": "…"}`, `{"M": {…}}`, …), through serde_dynamo.
fn dynamodb_json(image: &HashMap<String, AttributeValue>) -> Value {
    serde_json::to_value(serde_dynamo::Item::from(image.clone())).unwrap_or(Value::Null)
}

/// Records read from one shard.
#[derive(Debug, Clone)]
pub struct Batch {
    pub stream_arn: String,
    pub shard_id: String,
    pub records: Vec<Record>,
}

#[derive(Debug, Default)]
struct Shard {
    id: String,
    parent: Option<String>,
    iterator: Option<String>,
    /// The last sequence number handed out: a lost iterator restarts after it.
    checkpoint: Option<String>,
    /// Closed and read to its end.
    done: bool,
}

/// Reads a table's stream on DynamoDB Local: finds it, follows its shards (and their
/// rollover) and keeps a checkpoint per shard, in memory.
#[derive(Debug)]
pub struct StreamReader {
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    stream_arn: Option<String>,
    /// In the order DescribeStream lists them (parents first).
    shards: Vec<Shard>,
    refreshed: Option<tokio::time::Instant>,
}

impl StreamReader {
    /// A reader of `table`'s stream. `aws` sends DynamoDB to DynamoDB Local (see
    /// [`crate::provision::sdk_config_with_dynamodb`]); the streams client is pointed at
    /// `dynamodb_endpoint_url`, since DynamoDB Local serves both.
    pub fn new(aws: &SdkConfig, dynamodb_endpoint_url: &str, table: impl Into<String>) -> Self {
        let streams = aws_sdk_dynamodbstreams::config::Builder::from(aws).endpoint_url(dynamodb_endpoint_url).build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(aws),
            streams: aws_sdk_dynamodbstreams::Client::from_conf(streams),
            table: table.into(),
            stream_arn: None,
            shards: Vec::new(),
            refreshed: None,
        }
    }

    /// The stream's ARN (DescribeTable's `LatestStreamArn`).
    pub async fn stream_arn(&mut self) -> anyhow::Result<String> {
        if let Some(arn) = &self.stream_arn {
            return Ok(arn.clone());
        }
        let out = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .with_context(|| format!("describing the table {}", self.table))?;
        let arn = out
            .table()
            .and_then(|t| t.latest_stream_arn())
            .with_context(|| format!("the table {} has no stream", self.table))?
            .to_owned();
        self.stream_arn = Some(arn.clone());
        Ok(arn)
    }

    /// Reads the shard list again (every page), adding the shards not seen before.
    async fn refresh_shards(&mut self, stream_arn: &str) -> anyhow::Result<()> {
        let mut start: Option<String> = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(stream_arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .context("describing the table's stream")?;
            let Some(description) = out.stream_description() else { break };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if !self.shards.iter().any(|s| s.id == id) {
                    self.shards.push(Shard {
                        id: id.to_owned(),
                        parent: shard.parent_shard_id().map(str::to_owned),
                        ..Shard::default()
                    });
                }
            }
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        self.refreshed = Some(tokio::time::Instant::now());
        Ok(())
    }

    /// The next batch of at most `limit` records (1–1000), from the first shard with new
    /// records whose parent is done; `None` when no shard has any now. Records handed out
    /// are not handed out again: the caller retries a batch itself.
    pub async fn next_batch(&mut self, limit: usize) -> anyhow::Result<Option<Batch>> {
        let stream_arn = self.stream_arn().await?;
        if self.refreshed.is_none_or(|at| at.elapsed() >= SHARD_REFRESH) {
            self.refresh_shards(&stream_arn).await?;
        }
        for i in 0..self.shards.len() {
            let parent_pending =
                self.shards[i].parent.as_ref().is_some_and(|p| self.shards.iter().any(|s| &s.id == p && !s.done));
            if self.shards[i].done || parent_pending {
                continue;
            }
            if let Some(batch) = self.read_shard(i, &stream_arn, limit).await? {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    async fn read_shard(&mut self, i: usize, stream_arn: &str, limit: usize) -> anyhow::Result<Option<Batch>> {
        let iterator = match self.shards[i].iterator.clone() {
            Some(iterator) => iterator,
            None => {
                let shard = &self.shards[i];
                let request = self.streams.get_shard_iterator().stream_arn(stream_arn).shard_id(&shard.id);
                let request = match &shard.checkpoint {
                    Some(seq) => {
                        request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(seq)
                    }
                    None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
                };
                let out = request.send().await.with_context(|| format!("opening shard {}", shard.id))?;
                match out.shard_iterator() {
                    Some(iterator) => iterator.to_owned(),
                    None => {
                        // A closed shard with nothing left.
                        self.shards[i].done = true;
                        return Ok(None);
                    }
                }
            }
        };
        let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let out = match self.streams.get_records().shard_iterator(iterator).limit(limit).send().await {
            Ok(out) => out,
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_trimmed_data_access_exception()) {
                    self.shards[i].checkpoint = None;
                }
                if service.is_some_and(|e| e.is_expired_iterator_exception() || e.is_trimmed_data_access_exception()) {
                    // Opened again on the next read.
                    self.shards[i].iterator = None;
                    return Ok(None);
                }
                return Err(err).with_context(|| format!("reading shard {}", self.shards[i].id));
            }
        };
        let shard = &mut self.shards[i];
        shard.iterator = out.next_shard_iterator().map(str::to_owned);
        shard.done = shard.iterator.is_none();
        let records = out.records().to_vec();
        if let Some(last) = records.last().and_then(|r| r.dynamodb()).and_then(|d| d.sequence_number()) {
            shard.checkpoint = Some(last.to_owned());
        }
        Ok((!records.is_empty()).then(|| Batch {
            stream_arn: stream_arn.to_owned(),
            shard_id: shard.id.clone(),
            records,
        }))
    }

    /// Every record in the stream now, from the trim horizon of each shard: what the ESM
    /// would hand over, in order (for tests, which build the publisher's event from it).
    pub async fn read_all(&mut self) -> anyhow::Result<Vec<Record>> {
        let mut records = Vec::new();
        while let Some(batch) = self.next_batch(1000).await? {
            records.extend(batch.records);
        }
        Ok(records)
    }
}

/// How to run the pump.
#[derive(Debug, Clone)]
pub struct StreamPumpOptions {
    /// The table whose stream is read.
    pub table_name: String,
    /// DynamoDB Local, which serves the stream.
    pub dynamodb_endpoint_url: String,
    /// The function the records go to (`functions/<function>`, binary `<bin_dir>/<function>`).
    pub function: String,
    /// The region in the events (the function's `AWS_REGION` comes from `env`).
    pub region: String,
    pub bin_dir: PathBuf,
    /// Environment of the function process, on top of the Lambda sandbox variables.
    pub env: Vec<(String, String)>,
    /// Directory for `<function>.log`.
    pub log_dir: PathBuf,
    /// Per invocation; a longer one is stopped (its process killed) and counts as failed.
    pub timeout: Duration,
    pub memory_mb: u32,
    pub echo_logs: bool,
    /// Records per invocation, at most (the ESM's `BatchSize`).
    pub batch_size: usize,
    /// Retries of a batch that makes no progress before it goes to the on-failure queue
    /// (the ESM's `MaximumRetryAttempts`).
    pub max_retries: u32,
    /// The first retry's wait, doubled at each further retry (at most 10 s).
    pub retry_backoff: Duration,
    pub poll_every: Duration,
    /// The SQS queue (on moto) that gets the description of each batch given up on (the
    /// ESM's `DestinationConfig.OnFailure`); created at start. `None`: stderr only.
    pub on_failure_queue: Option<String>,
}

impl StreamPumpOptions {
    pub fn new(
        table_name: impl Into<String>,
        dynamodb_endpoint_url: impl Into<String>,
        function: impl Into<String>,
        bin_dir: impl Into<PathBuf>,
        log_dir: impl Into<PathBuf>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            table_name: table_name.into(),
            dynamodb_endpoint_url: dynamodb_endpoint_url.into(),
            function: function.into(),
            region: region.into(),
            bin_dir: bin_dir.into(),
            env: Vec::new(),
            log_dir: log_dir.into(),
            timeout: Duration::from_secs(30),
            memory_mb: 256,
            echo_logs: false,
            batch_size: DEFAULT_BATCH_SIZE,
            max_retries: 3,
            retry_backoff: Duration::from_millis(500),
            poll_every: DEFAULT_POLL_EVERY,
            on_failure_queue: None,
        }
    }
}

/// The running pump. Dropping it stops it and kills the function's process.
pub struct StreamPump {
    pool: Arc<Pool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for StreamPump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamPump").field("function", &self.pool.function()).finish_non_exhaustive()
    }
}

/// Where batches given up on go.
struct OnFailure {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl StreamPump {
    /// Starts the function's process (one that is not built, or fails its init, is reported
    /// on stderr and tried again at each batch), creates the on-failure queue, and starts
    /// reading the stream. `aws`: DynamoDB on DynamoDB Local, SQS on moto.
    pub async fn start(aws: &SdkConfig, opts: StreamPumpOptions) -> anyhow::Result<StreamPump> {
        std::fs::create_dir_all(&opts.log_dir)
            .with_context(|| format!("cannot create the log directory {}", opts.log_dir.display()))?;
        let pool_opts = PoolOptions {
            binary: opts.bin_dir.join(&opts.function),
            env: &opts.env,
            log_dir: &opts.log_dir,
            max_instances: 1,
            deadline: opts.timeout,
            memory_mb: opts.memory_mb,
            echo_logs: opts.echo_logs,
        };
        let pool = Pool::started("streams", &opts.function, &pool_opts).await?;
        let on_failure = match &opts.on_failure_queue {
            Some(name) => {
                let sqs = aws_sdk_sqs::Client::new(aws);
                let created = sqs
                    .create_queue()
                    .queue_name(name)
                    .send()
                    .await
                    .with_context(|| format!("creating the on-failure queue {name}"))?;
                let queue_url = created.queue_url().context("SQS returned no queue URL")?.to_owned();
                Some(OnFailure { sqs, queue_url })
            }
            None => None,
        };
        let reader = StreamReader::new(aws, &opts.dynamodb_endpoint_url, &opts.table_name);
        let task = tokio::spawn(pump(reader, pool.clone(), opts, on_failure));
        Ok(StreamPump { pool, task })
    }

    /// Stops reading (a batch in progress is cut short) and kills the process.
    pub async fn shutdown(self) {
        self.task.abort();
        self.pool.shutdown().await;
    }
}

impl Drop for StreamPump {
    fn drop(&mut self) {
        self.task.abort();
        self.pool.kill_idle();
    }
}

async fn pump(mut reader: StreamReader, pool: Arc<Pool>, opts: StreamPumpOptions, on_failure: Option<OnFailure>) {
    // Each distinct error once, not at every poll.
    let mut last_error = String::new();
    loop {
        match reader.next_batch(opts.batch_size).await {
            Ok(Some(batch)) => {
                last_error.clear();
                deliver(&pool, &batch, &opts, on_failure.as_ref()).await;
            }
            Ok(None) => tokio::time::sleep(opts.poll_every).await,
            Err(e) => {
                let text = format!("{e:#}");
                if text != last_error {
                    eprintln!("streams: cannot read the stream of {}: {text} (retrying)", opts.table_name);
                    last_error = text;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// What an invocation came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    /// Retry from this record (index in what was handed over).
    RetryFrom(usize),
    /// Retry everything handed over.
    Failed(String),
}

/// Reads a function's answer to a stream batch as the ESM does with
/// ReportBatchItemFailures: no failures is success; an identifier that is empty or not a
/// sequence number of the batch fails the whole batch; else retry from the lowest.
fn outcome(response: &Value, records: &[Record]) -> Outcome {
    let failures = match response.get("batchItemFailures") {
        None | Some(Value::Null) => return Outcome::Done,
        Some(Value::Array(failures)) => failures,
        Some(other) => return Outcome::Failed(format!("batchItemFailures is not a list: {other}")),
    };
    let mut first: Option<usize> = None;
    for failure in failures {
        let id = failure.get("itemIdentifier").and_then(Value::as_str).unwrap_or_default();
        let index = records.iter().position(|r| r.dynamodb().and_then(|d| d.sequence_number()) == Some(id));
        match index {
            Some(i) if !id.is_empty() => first = Some(first.map_or(i, |f| f.min(i))),
            _ => return Outcome::Failed(format!("itemIdentifier {id:?} is not a record of the batch")),
        }
    }
    first.map_or(Outcome::Done, Outcome::RetryFrom)
}

/// Hands `batch` to the function until it is done with every record, retrying from the
/// first failed one; gives up after `max_retries` retries without progress.
async fn deliver(pool: &Pool, batch: &Batch, opts: &StreamPumpOptions, on_failure: Option<&OnFailure>) {
    let records = &batch.records;
    let mut from = 0;
    let mut retries = 0u32;
    let mut invocations = 0u32;
    while from < records.len() {
        let rest = &records[from..];
        invocations += 1;
        let result = pool.invoke(lambda_event(rest, &batch.stream_arn, &opts.region), opts.timeout).await;
        let why = match result.map(|response| outcome(&response, rest)) {
            Ok(Outcome::Done) => return,
            Ok(Outcome::RetryFrom(i)) if i > 0 => {
                // Progress: the records before the first failure are done.
                from += i;
                retries = 0;
                format!("record {} of the batch failed", from)
            }
            Ok(Outcome::RetryFrom(_)) => "its first record failed".to_owned(),
            Ok(Outcome::Failed(why)) => why,
            Err(Failure::Failed(why)) => why,
            Err(Failure::TimedOut) => format!("it did not end within {:?}", opts.timeout),
        };
        if retries >= opts.max_retries {
            give_up(&records[from..], batch, opts, on_failure, invocations, &why).await;
            return;
        }
        retries += 1;
        let wait = opts.retry_backoff.saturating_mul(1 << (retries - 1).min(5)).min(Duration::from_secs(10));
        eprintln!(
            "streams: `{}` batch of shard {}: {why}; retry {retries} of {} in {wait:?} (log: {})",
            opts.function,
            batch.shard_id,
            opts.max_retries,
            pool.log_hint()
        );
        tokio::time::sleep(wait).await;
    }
}

/// Sends the description of the records given up on to the on-failure queue, as the ESM's
/// on-failure destination gets it (`DDBStreamBatchInfo`: the records stay in the stream
/// for 24 hours, to be read again from there).
async fn give_up(
    records: &[Record],
    batch: &Batch,
    opts: &StreamPumpOptions,
    on_failure: Option<&OnFailure>,
    invocations: u32,
    why: &str,
) {
    let message = failure_record(records, batch, opts, invocations, std::time::SystemTime::now());
    eprintln!(
        "streams: `{}` gave up on {} record(s) of shard {} after {} retries ({why}); {}",
        opts.function,
        records.len(),
        batch.shard_id,
        opts.max_retries,
        match &opts.on_failure_queue {
            Some(queue) => format!("described in the SQS queue {queue}"),
            None => format!("description: {message}"),
        }
    );
    if let Some(dest) = on_failure {
        let sent = dest.sqs.send_message().queue_url(&dest.queue_url).message_body(message.to_string()).send().await;
        if let Err(e) = sent {
            eprintln!("streams: cannot write to the on-failure queue: {}", aws_sdk_sqs::error::DisplayErrorContext(e));
        }
    }
}

/// The on-failure destination's record of a stream batch given up on.
fn failure_record(
    records: &[Record],
    batch: &Batch,
    opts: &StreamPumpOptions,
    invocations: u32,
    now: std::time::SystemTime,
) -> Value {
    let sequence =
        |r: Option<&Record>| r.and_then(|r| r.dynamodb()).and_then(|d| d.sequence_number()).map(str::to_owned);
    let arrival = |r: Option<&Record>| {
        r.and_then(|r| r.dynamodb())
            .and_then(|d| d.approximate_creation_date_time())
            .and_then(|t| t.fmt(aws_sdk_dynamodbstreams::primitives::DateTimeFormat::DateTime).ok())
    };
    let timestamp = aws_sdk_dynamodbstreams::primitives::DateTime::from(now)
        .fmt(aws_sdk_dynamodbstreams::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default();
    json!({
        "requestContext": {
            "requestId": ulid::Ulid::new().to_string().to_lowercase(),
            "functionArn": format!("arn:aws:lambda:{}:{ACCOUNT}:function:{}", opts.region, opts.function),
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": invocations,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": timestamp,
        "DDBStreamBatchInfo": {
            "shardId": batch.shard_id,
            "startSequenceNumber": sequence(records.first()),
            "endSequenceNumber": sequence(records.last()),
            "approximateArrivalOfFirstRecord": arrival(records.first()),
            "approximateArrivalOfLastRecord": arrival(records.last()),
            "batchSize": records.len(),
            "streamArn": batch.stream_arn,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::DateTime;
    use aws_sdk_dynamodbstreams::types::{OperationType, StreamRecord, StreamViewType};

    fn s(value: &str) -> AttributeValue {
        AttributeValue::S(value.to_owned())
    }

    fn record(sequence_number: &str, name: OperationType, status: Option<(&str, &str)>) -> Record {
        let mut change = StreamRecord::builder()
            .approximate_creation_date_time(DateTime::from_secs(1_796_212_743))
            .keys("pk", s("ORDER#ord_01KBFQ3ZK7V4S0Y7N6D2XQ8W5M"))
            .keys("sk", s("ORDER"))
            .sequence_number(sequence_number)
            .size_bytes(120)
            .stream_view_type(StreamViewType::NewAndOldImages);
        if let Some((old, new)) = status {
            change = change.old_image("status", s(old)).new_image("status", s(new));
        }
        Record::builder()
            .event_id("5d3f1f0c8b1e4b7c9a2d6e4f8a0b1c2d")
            .event_name(name)
            .event_version("1.1")
            .event_source("aws:dynamodb")
            .aws_region("ddblocal")
            .dynamodb(change.build())
            .build()
    }

    #[test]
    fn the_event_is_shaped_like_the_event_source_mappings() {
        let arn = "arn:aws:dynamodb:ddblocal:000000000000:table/makers-market/stream/2026-12-01T09:00:00.000";
        let event =
            lambda_event(&[record("100", OperationType::Modify, Some(("pending_payment", "paid")))], arn, "eu-west-1");
        let sample: Value = serde_json::from_str(include_str!("../../events/order-events.json")).unwrap_or_default();
        let keys = |v: &Value| {
            let mut keys: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
            keys.sort();
            keys
        };
        let ours = &event["Records"][0];
        let theirs = &sample["Records"][0];
        assert_eq!(keys(ours), keys(theirs));
        assert_eq!(keys(&ours["dynamodb"]), keys(&theirs["dynamodb"]));
        for same in ["eventName", "eventVersion", "eventSource", "awsRegion"] {
            assert_eq!(ours[same], theirs[same], "{same}");
        }
        assert_eq!(ours["eventSourceARN"], arn);
        assert_eq!(ours["dynamodb"]["Keys"]["sk"], json!({"S": "ORDER"}));
        assert_eq!(ours["dynamodb"]["NewImage"]["status"], json!({"S": "paid"}));
        assert_eq!(ours["dynamodb"]["ApproximateCreationDateTime"], json!(1_796_212_743));
        // What the publisher's runtime reads it into.
        let typed: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_value(event).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(typed.records[0].change.sequence_number.as_deref(), Some("100"));
        assert_eq!(typed.records[0].event_name, "MODIFY");
    }

    #[test]
    fn batch_item_failures_are_read_as_the_event_source_mapping_reads_them() {
        let records: Vec<Record> = ["1", "2", "3"].iter().map(|n| record(n, OperationType::Modify, None)).collect();
        let failures = |ids: &[&str]| json!({"batchItemFailures": ids.iter().map(|id| json!({"itemIdentifier": id})).collect::<Vec<_>>()});
        assert_eq!(outcome(&json!({"batchItemFailures": []}), &records), Outcome::Done);
        assert_eq!(outcome(&json!(null), &records), Outcome::Done);
        assert_eq!(outcome(&failures(&["3", "2"]), &records), Outcome::RetryFrom(1));
        assert!(matches!(outcome(&failures(&[""]), &records), Outcome::Failed(_)));
        assert!(matches!(outcome(&failures(&["9"]), &records), Outcome::Failed(_)));
    }

    #[test]
    fn a_batch_given_up_on_is_described_as_the_on_failure_destination_gets_it() {
        let records: Vec<Record> = ["7", "8"].iter().map(|n| record(n, OperationType::Insert, None)).collect();
        let batch = Batch { stream_arn: "arn:stream".into(), shard_id: "shardId-1".into(), records: records.clone() };
        let opts = StreamPumpOptions::new("t", "http://x", "order-events", "/bin", "/logs", "eu-west-1");
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_796_212_800);
        let message = failure_record(&records, &batch, &opts, 4, at);
        let info = &message["DDBStreamBatchInfo"];
        assert_eq!((info["startSequenceNumber"].as_str(), info["endSequenceNumber"].as_str()), (Some("7"), Some("8")));
        assert_eq!(info["batchSize"], 2);
        assert_eq!(info["shardId"], "shardId-1");
        assert_eq!(info["approximateArrivalOfFirstRecord"], "2026-12-02T11:59:03Z");
        assert_eq!(message["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(
            message["requestContext"]["functionArn"],
            "arn:aws:lambda:eu-west-1:123456789012:function:order-events"
        );
        assert_eq!(message["timestamp"], "2026-12-02T12:00:00Z");
    }
}
