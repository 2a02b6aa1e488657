//! The image function: S3 `ObjectCreated` notifications of photo originals (`originals/…`),
//! delivered through an SQS queue → WebP renditions at 400 and 800 px wide, then the photo
//! marked ready on its product. Reports partial batch failures: a message that failed is
//! retried alone (then dead-lettered), the others are done. Idempotent on replay.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use shared::{App, photos};

/// One SQS batch. Each message's body is an S3 event notification (`{"Records": [...]}`),
/// or S3's `s3:TestEvent` when the notification is configured, which is skipped.
pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let keys = match object_keys(message.body.as_deref().unwrap_or_default()) {
            Ok(keys) => keys,
            Err(why) => {
                // Not an S3 notification: retrying will not help, and the DLQ keeps nothing useful.
                tracing::warn!(message_id = %id, error = %why, "skipping a message that is no S3 event");
                continue;
            }
        };
        for key in keys {
            match photos::make_renditions(app, &key).await {
                Ok(done) => tracing::info!(key = %key, outcome = ?done, "photo processed"),
                Err(err) => {
                    tracing::error!(message_id = %id, key = %key, error = %err, "making renditions failed");
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id.clone();
                    response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
    }
    response
}

/// The (URL-decoded) object keys of the `ObjectCreated` records in an S3 notification.
pub fn object_keys(body: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let records = value.get("Records").and_then(|r| r.as_array()).ok_or("no Records")?;
    Ok(records
        .iter()
        .filter(|r| r["eventName"].as_str().is_some_and(|n| n.starts_with("ObjectCreated:")))
        .filter_map(|r| r["s3"]["object"]["key"].as_str())
        .map(url_decode)
        .collect())
}

/// The bench's measurement: decode the JPEG at `path` and make its renditions, as
/// [`photos::make_renditions`] does between reading the original and writing the WebPs.
/// JSON with the milliseconds of each step, the renditions' sizes and the peak resident
/// memory of this process (`VmHWM`, KiB).
pub fn render_file(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let started = std::time::Instant::now();
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let image = shared::imaging::decode(&bytes, shared::domain::PhotoType::Jpeg)?;
    drop(bytes);
    let (width, height) = (image.width(), image.height());
    let decoded = started.elapsed();
    let renditions = shared::imaging::renditions(image)?;
    let total = started.elapsed();
    let peak_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
        })
        .and_then(|v| v.parse::<u64>().ok());
    Ok(serde_json::json!({
        "width": width,
        "height": height,
        "decode_ms": decoded.as_millis() as u64,
        "total_ms": total.as_millis() as u64,
        "peak_rss_kib": peak_kib,
        "renditions": renditions.iter().map(|r| serde_json::json!({"width": r.width, "height": r.height, "bytes": r.webp.len()})).collect::<Vec<_>>(),
    }))
}

/// S3 notifications URL-encode keys (a space as `+`).
fn url_decode(key: &str) -> String {
    form_urlencoded::parse(format!("k={key}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_names_an_original() {
        let event: Result<SqsEvent, _> = serde_json::from_str(include_str!("../../../events/photo-renditions.json"));
        let event = event.map_err(|e| e.to_string());
        let body = event.as_ref().ok().and_then(|e| e.records.first()).and_then(|m| m.body.clone()).unwrap_or_default();
        let keys = object_keys(&body);
        assert_eq!(keys.as_ref().map(Vec::len), Ok(1));
        let key = keys.ok().and_then(|k| k.into_iter().next()).unwrap_or_default();
        assert!(shared::domain::photo::parse_original_key(&key).is_some(), "{key}");
    }

    #[test]
    fn s3_test_events_and_other_records_are_skipped() {
        assert_eq!(object_keys(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#), Ok(vec![]));
        assert_eq!(
            object_keys(r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"object":{"key":"a"}}}]}"#),
            Ok(vec![])
        );
        assert!(object_keys("nope").is_err());
    }
}
