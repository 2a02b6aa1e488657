//! Payments (Stripe): the [`Payments`] port the order code talks to, the values it
//! exchanges, and the verification and parsing of Stripe's webhooks ([`webhook`]).
//!
//! The Stripe client itself, [`StripePayments`], is behind the cargo feature `stripe`, so
//! that only the functions that call Stripe link async-stripe. Everything else here
//! (the trait, the types, webhook verification and event parsing) needs no feature.
//!
//! Every call carries a Stripe `Idempotency-Key` chosen by the caller from the order
//! (`order-<id>-create`, `order-<id>-cancel`, `order-<id>-refund`, then
//! `order-<id>-refund-<n>` for the `n`th refund attempt after a definite refusal, see
//! [`crate::domain::order::refund_key`]), so that a retried request has its effect once at
//! Stripe.

#[cfg(feature = "stripe")]
mod stripe;
pub mod webhook;

#[cfg(feature = "stripe")]
pub use self::stripe::StripePayments;

use crate::Result;
use crate::config::Secret;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What a [`Payments`] call returns: boxed so that the trait stays object-safe
/// (`Arc<dyn Payments>` in the app, a recording fake in tests).
pub type PaymentsFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The payment provider, as the order code needs it.
///
/// Errors: the provider could not be reached or did not answer within the call's timeout →
/// [`crate::Error::provider_unavailable`] (503); it answered with an error →
/// [`crate::Error::provider_failed`] (502). Outcomes the caller must act on (already
/// cancelled, already paid, already refunded, unknown intent) are values, not errors.
pub trait Payments: Send + Sync + fmt::Debug {
    /// Creates a PaymentIntent for an order, with the order id in its metadata.
    fn create_intent<'a>(&'a self, req: &'a NewIntent) -> PaymentsFuture<'a, Intent>;

    /// Cancels a PaymentIntent that has not been paid.
    fn cancel_intent<'a>(&'a self, intent_id: &'a str, idempotency_key: &'a str) -> PaymentsFuture<'a, CancelOutcome>;

    /// Refunds a paid PaymentIntent in full, with the order id in the refund's metadata (so
    /// that its `refund.updated` webhooks name the order).
    ///
    /// A definite refusal is [`crate::Error::provider_failed`]; no answer (a timeout, a
    /// transport failure, or Stripe still working on the same key) is
    /// [`crate::Error::provider_unavailable`]: only then may the same key be sent again.
    fn refund<'a>(
        &'a self,
        intent_id: &'a str,
        order_id: &'a str,
        idempotency_key: &'a str,
    ) -> PaymentsFuture<'a, RefundOutcome>;

    /// Reads a refund back (to follow one Stripe reported `pending`); `None` if Stripe does
    /// not know it.
    fn retrieve_refund<'a>(&'a self, refund_id: &'a str) -> PaymentsFuture<'a, Option<Refund>>;

    /// Reads a PaymentIntent back (its status, amount and currency), e.g. to learn whether it
    /// was paid before its webhook came; `None` if Stripe does not know it.
    fn retrieve_intent<'a>(&'a self, intent_id: &'a str) -> PaymentsFuture<'a, Option<Intent>>;
}

/// A PaymentIntent to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    /// Goes into the intent's `metadata.order_id`, which webhooks carry back.
    pub order_id: String,
    pub amount_cents: u64,
    /// Lower-case ISO 4217 (`"eur"`).
    pub currency: String,
    /// 1–255 visible ASCII characters, e.g. `order-<id>-create`.
    pub idempotency_key: String,
}

/// A PaymentIntent as Stripe returned it.
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    /// What the storefront confirms the payment with: shown to the order's customer only,
    /// so it is a [`Secret`] that never reaches a log line.
    pub client_secret: Secret,
    pub status: IntentStatus,
    pub amount: u64,
    pub currency: String,
}

/// A PaymentIntent's `status`. Statuses Stripe adds later arrive as `Other`, not as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
    Other(String),
}

impl IntentStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "requires_payment_method" => Self::RequiresPaymentMethod,
            "requires_confirmation" => Self::RequiresConfirmation,
            "requires_action" => Self::RequiresAction,
            "processing" => Self::Processing,
            "requires_capture" => Self::RequiresCapture,
            "canceled" => Self::Canceled,
            "succeeded" => Self::Succeeded,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Canceled => "canceled",
            Self::Succeeded => "succeeded",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for IntentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What cancelling a PaymentIntent came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled now: no payment can succeed on it any more.
    Cancelled,
    /// It was cancelled before (a retry, or another cancel won).
    AlreadyCancelled,
    /// It was paid before the cancel arrived: cannot be cancelled, refund instead.
    AlreadySucceeded,
    /// Stripe does not know this intent.
    NotFound,
}

/// What refunding a PaymentIntent came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Refunded(Refund),
    /// Stripe says the charge was refunded before (`charge_already_refunded`).
    AlreadyRefunded,
    /// Stripe does not know this intent.
    NotFound,
}

/// A refund as Stripe returned it (or a `refund.updated` webhook carried it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub status: RefundState,
    pub amount: u64,
    /// The PaymentIntent refunded, when Stripe names it.
    pub payment_intent: Option<String>,
    /// Why Stripe failed it (`expired_or_canceled_card`, `lost_or_stolen_card`, …).
    pub failure_reason: Option<String>,
}

/// A refund's own `status` at Stripe: the 2xx of the create call says only that Stripe took
/// the request. Statuses Stripe adds later arrive as `Other`, and are followed like `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    Pending,
    /// Some payment methods need the customer to act (give bank details) first.
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
    Other(String),
}

impl RefundState {
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => Self::Pending,
            "requires_action" => Self::RequiresAction,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::RequiresAction => "requires_action",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Other(s) => s,
        }
    }

    /// Whether the money will not come back through this refund.
    pub fn is_final_failure(&self) -> bool {
        matches!(self, Self::Failed | Self::Canceled)
    }
}

/// Where and how the Stripe client calls Stripe. Plain data, so functions that do not link
/// the client can still read and check it.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// `{api_base}v1/…`: `https://api.stripe.com/` in the cloud, localstripe locally.
    pub api_base: String,
    pub secret_key: Secret,
    /// Reaching Stripe takes milliseconds; a second means it is unreachable.
    pub connect_timeout: Duration,
    /// The whole call, connect included, and any follow-up request it makes. Kept well under
    /// the function's own timeout so that the client gets a 503, not a Lambda timeout.
    pub request_timeout: Duration,
}

impl StripeSettings {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

    pub fn new(api_base: impl Into<String>, secret_key: Secret) -> Self {
        Self {
            api_base: api_base.into(),
            secret_key,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Stripe ids (`pi_…`) go into URL paths: anything else is refused before it is sent, so a
/// stored value can never change which endpoint is called.
pub fn is_stripe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_statuses_round_trip_and_unknown_ones_are_kept() {
        for s in ["requires_payment_method", "processing", "canceled", "succeeded"] {
            assert_eq!(IntentStatus::parse(s).as_str(), s);
        }
        assert_eq!(
            IntentStatus::parse("requires_reauthorization"),
            IntentStatus::Other("requires_reauthorization".into())
        );
    }

    #[test]
    fn refund_states_round_trip_and_only_failed_and_canceled_are_final_failures() {
        for s in ["pending", "requires_action", "succeeded", "failed", "canceled"] {
            assert_eq!(RefundState::parse(s).as_str(), s);
        }
        assert_eq!(RefundState::parse("in_transit"), RefundState::Other("in_transit".into()));
        let failures: Vec<&str> = ["pending", "requires_action", "succeeded", "failed", "canceled", "in_transit"]
            .into_iter()
            .filter(|s| RefundState::parse(s).is_final_failure())
            .collect();
        assert_eq!(failures, ["failed", "canceled"]);
    }

    #[test]
    fn only_plain_stripe_ids_may_go_into_a_path() {
        assert!(is_stripe_id("pi_3MtwBwLkdIwHu7ix28a3tqPa"));
        assert!(!is_stripe_id(""));
        assert!(!is_stripe_id("pi_1/../../customers"));
        assert!(!is_stripe_id("pi_1?expand[]=x"));
    }

    #[test]
    fn the_trait_is_object_safe() {
        fn takes(_: Option<&dyn Payments>) {}
        takes(None);
    }
}
