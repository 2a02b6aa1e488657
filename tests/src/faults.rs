//! DynamoDB errors on demand, for the paths DynamoDB Local never takes: it serialises every
//! transaction under one lock and never answers `TransactionConflict`, and it does not
//! throttle. [`DynamoFaults`] is an SDK interceptor on the test context's DynamoDB client
//! that answers a chosen operation with a chosen error, for every n-th call, a given number
//! of times — deterministic, so a test knows which calls failed.
//!
//! Two timings, as the cloud has both:
//! - [`Timing::Instead`]: the call never reaches DynamoDB Local (its request is swapped for a
//!   harmless `DescribeLimits`) and the client sees the error: a conflict or throttle, where
//!   nothing was written.
//! - [`Timing::After`]: the call is made and commits, and its answer is lost: the client sees
//!   the error (an answer lost on the way back, or a timeout after a commit).

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::sync::Mutex;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The errors real DynamoDB gives under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `TransactionCanceledException` with `TransactionConflict` on every item (another
    /// transaction held one of them). Not retried by the SDK.
    Conflict,
    /// `ThrottlingException` (400): retried by the SDK's standard retry.
    Throttling,
    /// `ProvisionedThroughputExceededException` (400): retried by the SDK.
    ProvisionedThroughputExceeded,
    /// `InternalServerError` (500): retried by the SDK.
    InternalServerError,
}

/// Whether the faulted call reached DynamoDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// It did not: nothing was written.
    Instead,
    /// It did and committed; only its answer was lost.
    After,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The DynamoDB operation (`TransactWriteItems`, `UpdateItem`, …); `None` for any.
    operation: Option<&'static str>,
    fault: Fault,
    timing: Timing,
    /// Fault every `every`-th matching call (1: every call).
    every: u32,
    /// How many faults are left to inject.
    remaining: u32,
    seen: u32,
}

/// Rules and a count of what was injected; shared by the client and the test.
#[derive(Debug, Default)]
pub struct DynamoFaults {
    rules: Mutex<Vec<Rule>>,
    injected: Mutex<Vec<(String, Fault)>>,
}

impl DynamoFaults {
    /// From now on, every `every`-th call of `operation` (`None`: any) fails with `fault`,
    /// `times` times in all.
    pub fn inject(&self, operation: Option<&'static str>, fault: Fault, timing: Timing, every: u32, times: u32) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(Rule { operation, fault, timing, every: every.max(1), remaining: times, seen: 0 });
        }
    }

    /// No more faults.
    pub fn clear(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// How many faults were injected so far, per operation.
    pub fn injected(&self, operation: &str) -> usize {
        self.injected.lock().map(|i| i.iter().filter(|(op, _)| op == operation).count()).unwrap_or(0)
    }

    /// The fault (if any) for the next call of `operation`.
    fn decide(&self, operation: &str) -> Option<(Fault, Timing)> {
        let mut rules = self.rules.lock().ok()?;
        for rule in rules.iter_mut() {
            if rule.remaining == 0 || rule.operation.is_some_and(|op| op != operation) {
                continue;
            }
            rule.seen += 1;
            if rule.seen % rule.every == 0 {
                rule.remaining -= 1;
                if let Ok(mut injected) = self.injected.lock() {
                    injected.push((operation.to_owned(), rule.fault));
                }
                return Some((rule.fault, rule.timing));
            }
        }
        None
    }
}

/// The interceptor a test context's DynamoDB client carries.
#[derive(Debug, Clone)]
pub struct FaultInterceptor(pub std::sync::Arc<DynamoFaults>);

/// What the transmit hook decided for this attempt, read back by the deserialization hook.
#[derive(Debug, Clone, Copy)]
struct Injected(Fault, usize);

impl Storable for Injected {
    type Storer = StoreReplace<Self>;
}

const TARGET_PREFIX: &str = "DynamoDB_20120810.";

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "DynamoFaults"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let operation =
            request.headers().get("x-amz-target").and_then(|t| t.strip_prefix(TARGET_PREFIX)).unwrap_or("").to_owned();
        let Some((fault, timing)) = self.0.decide(&operation) else { return Ok(()) };
        // One cancellation reason per item, as DynamoDB gives them.
        let items = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
            .unwrap_or(1);
        if timing == Timing::Instead {
            // DynamoDB Local does not check signatures: a read-only call stands in.
            request.headers_mut().insert("x-amz-target", format!("{TARGET_PREFIX}DescribeLimits"));
            request.headers_mut().insert("content-length", "2");
            *request.body_mut() = SdkBody::from("{}");
        }
        cfg.interceptor_state().store_put(Injected(fault, items));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Injected(fault, items)) = cfg.load::<Injected>().copied() else { return Ok(()) };
        cfg.interceptor_state().unset::<Injected>();
        *context.response_mut() = response(fault, items)?;
        Ok(())
    }
}

/// DynamoDB's answer for `fault`, as its JSON protocol sends it.
fn response(fault: Fault, items: usize) -> Result<HttpResponse, BoxError> {
    let (status, body) = match fault {
        Fault::Conflict => (
            400,
            serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                "CancellationReasons": (0..items).map(|_| serde_json::json!({
                    "Code": "TransactionConflict",
                    "Message": "Transaction is ongoing for the item"
                })).collect::<Vec<_>>(),
            }),
        ),
        Fault::Throttling => (
            400,
            serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate of requests exceeds the allowed throughput."}),
        ),
        Fault::ProvisionedThroughputExceeded => (
            400,
            serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "The level of configured provisioned throughput for the table was exceeded."}),
        ),
        Fault::InternalServerError => (
            500,
            serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "Internal server error"}),
        ),
    };
    let mut response = HttpResponse::new(status.try_into()?, SdkBody::from(body.to_string()));
    response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    Ok(response)
}
