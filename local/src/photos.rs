//! The local stand-in for the photos bucket and "S3 notification → SQS → image function":
//! a bucket on moto's S3 (path-style URLs) with the template's CORS rule, whose
//! `ObjectCreated` notifications for `originals/` go to an SQS queue `<bucket>-originals`
//! (with its dead-letter queue after [`crate::notifications::MAX_ATTEMPTS`] receives). The
//! notifier's [`Pump`](crate::notifications::Pump) moves them to the `photo-renditions`
//! binary, each message wrapped into the SQS event Lambda would give it ([`sqs_invoker`]).
//!
//! moto enforces none of a presigned POST's policy conditions (see TOOLING.md): the tests
//! check the policy document itself.

use std::collections::HashMap;

use anyhow::Context as _;
use aws_config::SdkConfig;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CorsConfiguration, CorsRule, CreateBucketConfiguration, Event, FilterRule,
    FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::{Deserialize, Serialize};

use crate::notifications::{Invoke, MAX_ATTEMPTS, create_queue, queue_arn};

/// The photos bucket and its notification queue, and what the functions are told of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoStorage {
    pub bucket: String,
    /// `PHOTOS_UPLOAD_URL`: where browsers POST uploads (moto, path-style).
    pub upload_url: String,
    /// `PHOTOS_PUBLIC_URL`: the bucket's `public/` prefix on moto, which a bucket policy lets
    /// anyone read.
    pub public_url: String,
    pub queue_url: String,
    pub dlq_url: String,
}

impl PhotoStorage {
    /// The functions' environment for photos.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PHOTOS_BUCKET".to_owned(), self.bucket.clone()),
            ("PHOTOS_UPLOAD_URL".to_owned(), self.upload_url.clone()),
            ("PHOTOS_PUBLIC_URL".to_owned(), self.public_url.clone()),
        ]
    }
}

/// Creates (idempotently) `bucket` on the S3 of `aws` (moto at `moto_url`) with a CORS rule
/// for `origins`, the notification queue and its DLQ, and the notification itself.
pub async fn provision(
    aws: &SdkConfig,
    moto_url: &str,
    bucket: &str,
    origins: &[&str],
) -> anyhow::Result<PhotoStorage> {
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(aws).force_path_style(true).build());
    let region = aws.region().map(|r| r.as_ref().to_owned()).unwrap_or_else(|| "us-east-1".to_owned());
    let mut create = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()) => {}
        Err(e) => {
            return Err(anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
                .with_context(|| format!("creating the bucket {bucket}"));
        }
    }
    let rule = CorsRule::builder()
        .allowed_methods("POST")
        .set_allowed_origins(Some(origins.iter().map(|o| (*o).to_owned()).collect()))
        .allowed_headers("*")
        .max_age_seconds(3000)
        .build()?;
    s3.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(CorsConfiguration::builder().cors_rules(rule).build()?)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
        .with_context(|| format!("setting the CORS rule of {bucket}"))?;
    // In the cloud only CloudFront (origin access control) reads `public/`; here browsers read
    // it from moto directly, and moto refuses anonymous reads without a policy that allows
    // them. Originals and uploads stay private, as in the cloud.
    let public_read = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRenditions",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/public/*"),
        }],
    });
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(public_read.to_string())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
        .with_context(|| format!("letting browsers read {bucket}'s renditions"))?;

    let sqs = aws_sdk_sqs::Client::new(aws);
    let dlq_url = create_queue(&sqs, &format!("{bucket}-originals-dlq"), HashMap::new()).await?;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_ATTEMPTS.to_string()});
    let queue_url = create_queue(
        &sqs,
        &format!("{bucket}-originals"),
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (QueueAttributeName::VisibilityTimeout, "60".to_owned()),
        ]),
    )
    .await?;
    let arn = queue_arn(&sqs, &queue_url).await?;
    let prefix =
        FilterRule::builder().name(FilterRuleName::Prefix).value(shared::domain::photo::ORIGINALS_PREFIX).build();
    let notification = QueueConfiguration::builder()
        .id("photo-originals")
        .queue_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(
            NotificationConfigurationFilter::builder().key(S3KeyFilter::builder().filter_rules(prefix).build()).build(),
        )
        .build()?;
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(NotificationConfiguration::builder().queue_configurations(notification).build())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
        .with_context(|| format!("pointing {bucket}'s notifications at its queue"))?;
    let base = format!("{}/{bucket}", moto_url.trim_end_matches('/'));
    Ok(PhotoStorage {
        bucket: bucket.to_owned(),
        public_url: format!("{base}/public"),
        upload_url: base,
        queue_url,
        dlq_url,
    })
}

/// An [`Invoke`] that hands each queue message (an S3 notification) to `function` inside
/// the SQS event Lambda's event source mapping would send, and fails when the function
/// reports the message as a batch item failure (or fails as a whole).
pub fn sqs_invoker(function: Invoke) -> Invoke {
    std::sync::Arc::new(move |body| {
        let function = function.clone();
        Box::pin(async move {
            let id = ulid::Ulid::new().to_string();
            let event = serde_json::json!({"Records": [{
                "messageId": id,
                "receiptHandle": "local",
                "body": body.to_string(),
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:local",
                "awsRegion": "local",
            }]});
            let answer = (function)(event).await?;
            let failed = answer["batchItemFailures"].as_array().is_some_and(|f| !f.is_empty());
            if failed { Err(format!("the function reported the message as failed: {answer}")) } else { Ok(answer) }
        })
    })
}

/// POSTs `file` to a presigned POST's `url` with its `fields`, as a browser's form does
/// (`multipart/form-data`, the file last). The HTTP status.
pub async fn upload(
    url: &str,
    fields: &serde_json::Map<String, serde_json::Value>,
    file: &[u8],
    content_type: &str,
) -> anyhow::Result<u16> {
    let boundary = format!("----makers-market-{}", ulid::Ulid::new());
    let mut body = Vec::with_capacity(file.len() + 4096);
    for (name, value) in fields {
        let value = value.as_str().unwrap_or_default();
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .with_context(|| format!("building POST {url}"))?;
    let (status, _) = crate::api::exchange(request, std::time::Duration::from_secs(30)).await?;
    Ok(status)
}

/// The status of an unsigned GET of `url`, as a visitor's browser loads an image.
pub async fn anonymous_get(url: &str) -> anyhow::Result<u16> {
    let request = http::Request::get(url)
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))
        .with_context(|| format!("building GET {url}"))?;
    let (status, _) = crate::api::exchange(request, std::time::Duration::from_secs(30)).await?;
    Ok(status)
}
