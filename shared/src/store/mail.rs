//! Email markers: one item per email the notifier or the post-confirmation trigger sends,
//! written before the send, so that each goes out at most once (see [`crate::email`]).
//!
//! | email                          | key                                                    |
//! |--------------------------------|--------------------------------------------------------|
//! | an order's status, to one user | `pk=ORDER#<order id>`, `sk=MAIL#<status>#<user sub>`   |
//! | a declined payment attempt     | `pk=ORDER#<order id>`, `sk=MAIL#ATTEMPT#<n>#<user sub>` |
//! | the welcome email              | `pk=USER#<sub>`, `sk=MAIL#WELCOME`                     |
//! | a maker application's decision | `pk=MAKERAPP#<id>`, `sk=MAIL#<approved or rejected>`   |
//! | a takedown, or its lifting     | `pk=PRODUCT#<id>`, `sk=MAIL#MODERATION#<version>`      |
//!
//! Attributes: `entity=mail`, `state` (`sending` · `sent` · `failed`), `to`, `subject`,
//! `attempts`, `claimed_at`, `sent_at`, `message_id`, and the TTL `expires_at` (90 days:
//! long after any redelivery of the event).

use super::item::{Item, get_opt_s, n, s};
use super::{Store, is_condition_failure, sdk};
use crate::Result;
use crate::domain::{ApplicationId, ApplicationStatus, OrderId, OrderStatus, ProductId, Timestamp, UserId};
use std::collections::HashMap;
use std::time::Duration;

/// How long a marker is kept.
pub const MARKER_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// Which email a marker guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKey {
    Order {
        order: OrderId,
        status: OrderStatus,
        recipient: UserId,
    },
    /// "Your payment didn't go through": once per declined attempt (numbered from 1).
    DeclinedAttempt {
        order: OrderId,
        attempt: u32,
        recipient: UserId,
    },
    /// "Your refund did not go through": once per order (a failed refund is final).
    RefundFailed {
        order: OrderId,
        recipient: UserId,
    },
    Welcome {
        user: UserId,
    },
    /// The applicant's email about the decision on their maker application: once per
    /// application (a decision is final).
    Application {
        application: ApplicationId,
        status: ApplicationStatus,
    },
    /// The maker's email about a takedown of their product, or its lifting: once per
    /// moderation, which is one version of the product.
    Moderation {
        product: ProductId,
        version: u64,
    },
}

impl MailKey {
    fn item_key(&self) -> Item {
        let (pk, sk) = match self {
            Self::Order { order, status, recipient } => {
                (format!("ORDER#{}", order.as_str()), format!("MAIL#{}#{}", status.as_str(), recipient.as_str()))
            }
            Self::DeclinedAttempt { order, attempt, recipient } => {
                (format!("ORDER#{}", order.as_str()), format!("MAIL#ATTEMPT#{attempt}#{}", recipient.as_str()))
            }
            Self::RefundFailed { order, recipient } => {
                (format!("ORDER#{}", order.as_str()), format!("MAIL#REFUND_FAILED#{}", recipient.as_str()))
            }
            Self::Welcome { user } => (format!("USER#{}", user.as_str()), "MAIL#WELCOME".to_owned()),
            Self::Application { application, status } => {
                (format!("MAKERAPP#{}", application.as_str()), format!("MAIL#{}", status.as_str()))
            }
            Self::Moderation { product, version } => {
                (format!("PRODUCT#{}", product.as_str()), format!("MAIL#MODERATION#{version}"))
            }
        };
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }

    /// A short name for logs and the provider's idempotency key: `ord_…/paid/<sub>`,
    /// `ord_…/declined-2/<sub>`, `ord_…/refund-failed/<sub>`, `welcome/<sub>`.
    pub fn name(&self) -> String {
        match self {
            Self::Order { order, status, recipient } => {
                format!("{}/{}/{}", order.as_str(), status.as_str(), recipient.as_str())
            }
            Self::DeclinedAttempt { order, attempt, recipient } => {
                format!("{}/declined-{attempt}/{}", order.as_str(), recipient.as_str())
            }
            Self::RefundFailed { order, recipient } => {
                format!("{}/refund-failed/{}", order.as_str(), recipient.as_str())
            }
            Self::Welcome { user } => format!("welcome/{}", user.as_str()),
            Self::Application { application, status } => format!("{}/{}", application.as_str(), status.as_str()),
            Self::Moderation { product, version } => format!("{}/moderation-{version}", product.as_str()),
        }
    }
}

/// What claiming an email came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to send.
    Claimed,
    /// Sent before, or being sent by another notifier, or lost in a crash: not ours.
    Taken { state: Option<String> },
}

fn epoch_secs(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl Store {
    /// Claims the email `key` for sending: only if it has no marker yet, or its last
    /// attempt failed.
    pub async fn claim_mail(&self, key: &MailKey, to: &str, subject: &str, now: &Timestamp) -> Result<Claim> {
        let expires = now.to_system_time().map_or(0, |t| epoch_secs(t + MARKER_TTL));
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .update_expression(
                "SET entity = :entity, #state = :sending, #to = :to, subject = :subject, claimed_at = :now, \
                 attempts = if_not_exists(attempts, :zero) + :one, expires_at = :expires",
            )
            .condition_expression("attribute_not_exists(pk) OR #state = :failed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#to", "to")
            .expression_attribute_values(":entity", s("mail"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":subject", s(subject))
            .expression_attribute_values(":now", s(now.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(expires))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match out {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) if is_condition_failure(&err) => {
                let state = match err.as_service_error() {
                    Some(
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(e),
                    ) => e.item().and_then(|item| get_opt_s(item, "state")),
                    _ => None,
                };
                Ok(Claim::Taken { state })
            }
            Err(err) => Err(sdk("claiming an email")(err)),
        }
    }

    /// Records that the email `key` went out.
    pub async fn mail_sent(&self, key: &MailKey, message_id: &str, now: &Timestamp) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .update_expression("SET #state = :sent, message_id = :id, sent_at = :now")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":id", s(message_id))
            .expression_attribute_values(":now", s(now.as_str()))
            .send()
            .await
            .map_err(sdk("recording a sent email"))?;
        Ok(())
    }

    /// Releases the claim on the email `key`: it was surely not sent, and may be tried again.
    /// `reason` is the mailer's error, which the adapters already stripped of addresses.
    pub async fn mail_failed(&self, key: &MailKey, reason: &str, now: &Timestamp) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .update_expression("SET #state = :failed, failed_at = :now, failure = :reason")
            .condition_expression("#state = :sending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":now", s(now.as_str()))
            .expression_attribute_values(":reason", s(reason.chars().take(500).collect::<String>()))
            .send()
            .await
            .map_err(sdk("recording a failed email"))?;
        Ok(())
    }

    /// The state of the email `key`'s marker (`sending`, `sent`, `failed`), if any.
    pub async fn mail_state(&self, key: &MailKey) -> Result<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk("reading an email marker"))?;
        Ok(out.item.and_then(|item| get_opt_s(&item, "state")))
    }
}
