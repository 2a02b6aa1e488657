//! What Cognito does around a sign-up that moto does not, played by the local stack where
//! it can be seen: moto's launcher (`local/py/moto_launcher.py`) makes the confirmation and
//! password-reset codes and writes them, and every confirmed sign-up, to a file; this pump
//! follows that file and
//! * emails each code through SES (moto's: the local mailbox, `cargo xtask mail`), from the
//!   shop's sender, as Cognito emails them;
//! * hands each confirmed sign-up's `PostConfirmation_ConfirmSignUp` event to the real
//!   `post-confirmation` binary, as Cognito invokes its trigger — so a new user gets their
//!   profile and welcome email locally too.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::notifications::Invoke;

/// One line of the launcher's file.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CognitoEvent {
    /// A code to email.
    Code { purpose: String, email: String, code: String },
    /// A confirmed sign-up: the trigger event.
    PostConfirmation { event: serde_json::Value },
}

/// The email Cognito sends with a code: subject and text.
pub fn code_email(purpose: &str, code: &str) -> (String, String) {
    match purpose {
        "password" => (
            format!("Your Makers Market password reset code: {code}"),
            format!(
                "Use this code to choose a new password for your Makers Market account:\n\n    {code}\n\nIf you did not ask for it, ignore this email: your password stays as it is.\n"
            ),
        ),
        _ => (
            format!("Your Makers Market confirmation code: {code}"),
            format!("Welcome to Makers Market. Enter this code to confirm your email address:\n\n    {code}\n"),
        ),
    }
}

/// Follows the file until dropped.
pub struct CognitoPump {
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for CognitoPump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CognitoPump").finish_non_exhaustive()
    }
}

impl CognitoPump {
    /// Starts following `file` from its current end.
    pub fn start(aws: &SdkConfig, file: PathBuf, sender: String, post_confirmation: Invoke) -> Self {
        let ses = aws_sdk_sesv2::Client::new(aws);
        let task = tokio::spawn(async move {
            let mut offset = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            let mut partial = String::new();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let lines = match read_from(&file, &mut offset, &mut partial).await {
                    Ok(lines) => lines,
                    Err(e) => {
                        eprintln!("cognito pump: reading {}: {e:#}", file.display());
                        continue;
                    }
                };
                for line in lines {
                    if let Err(e) = handle(&ses, &sender, &post_confirmation, &line).await {
                        eprintln!("cognito pump: {e:#}");
                    }
                }
            }
        });
        Self { task }
    }

    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for CognitoPump {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The complete lines written to `file` since `offset`.
async fn read_from(file: &PathBuf, offset: &mut u64, partial: &mut String) -> anyhow::Result<Vec<String>> {
    let mut f = tokio::fs::File::open(file).await?;
    f.seek(std::io::SeekFrom::Start(*offset)).await?;
    let mut buf = String::new();
    let read = f.read_to_string(&mut buf).await?;
    *offset += read as u64;
    partial.push_str(&buf);
    let mut lines = Vec::new();
    while let Some(end) = partial.find('\n') {
        lines.push(partial[..end].to_owned());
        partial.drain(..=end);
    }
    Ok(lines)
}

async fn handle(
    ses: &aws_sdk_sesv2::Client,
    sender: &str,
    post_confirmation: &Invoke,
    line: &str,
) -> anyhow::Result<()> {
    match serde_json::from_str::<CognitoEvent>(line).context("a line that is not a Cognito event")? {
        CognitoEvent::Code { purpose, email, code } => {
            let (subject, text) = code_email(&purpose, &code);
            let content = |data: String| Content::builder().data(data).charset("UTF-8").build();
            ses.send_email()
                .from_email_address(sender)
                .destination(Destination::builder().to_addresses(&email).build())
                .content(
                    EmailContent::builder()
                        .simple(
                            Message::builder()
                                .subject(content(subject)?)
                                .body(Body::builder().text(content(text)?).build())
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .context("emailing a Cognito code through SES")?;
        }
        CognitoEvent::PostConfirmation { event } => {
            (post_confirmation)(event).await.map_err(|why| anyhow::anyhow!("post-confirmation failed: {why}"))?;
        }
    }
    Ok(())
}
