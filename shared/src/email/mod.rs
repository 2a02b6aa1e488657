//! Email: the [`Mailer`] port the notifier and the post-confirmation trigger send through,
//! its two adapters — [`SesMailer`] (Amazon SES v2 `SendEmail`, the default) and
//! [`ResendMailer`] (Resend's `POST /emails`), chosen by `EMAIL_PROVIDER` — and the
//! emails themselves ([`render`]: askama templates compiled into the binary, HTML and text).
//!
//! # At most once per (order, status, recipient) — and per (order, declined attempt)
//!
//! Events reach the notifier at least once (EventBridge and Lambda's async retries may
//! deliver one again, and two notifiers may race on it), so every email is guarded by a
//! marker item written before it is sent (`crate::store` `MAIL#…` items):
//!
//! 1. **claim**: a conditional write puts the marker in `sending`, only if there is none or
//!    the last attempt `failed`. Whoever loses the condition sends nothing.
//! 2. **send** through the [`Mailer`].
//! 3. **record**: `sent` with the provider's message id; or, when the provider surely did
//!    not send it ([`SendFailure::NotSent`]: it refused, or could not be reached), `failed`,
//!    which releases the claim, and the invocation fails so that it is retried (Lambda's
//!    async retries, then the dead-letter queue).
//!
//! A notifier that dies between 1 and 3, or a send whose outcome is unknown (a timeout
//! after the request left: [`SendFailure::Unknown`]), leaves the claim in `sending`, and
//! nobody sends that email again. That is the choice: **at most once**. A duplicate order
//! email is visible to a customer and cannot be taken back; a lost one is rare (it needs a
//! crash or a timeout at that very moment), is logged as an error, and the order's state is
//! always on `GET /orders/{id}`. With Resend the marker key also goes out as the
//! `Idempotency-Key`, so Resend itself drops a repeat within 24 hours.

mod render;
mod resend;
mod ses;

pub use render::{
    ApplicationEmail, MakerEmail, ModerationEmail, OrderEmail, WelcomeEmail, status_words, subject_for,
    subject_for_declined, subject_for_refund_failed,
};
pub use resend::{ResendMailer, ResendSettings};
pub use ses::SesMailer;

use crate::Error;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// One email to one recipient, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// One address.
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// Names this email among all others (its marker: `ord_…/paid/<sub>`); sent as Resend's
    /// `Idempotency-Key`.
    pub key: String,
}

/// What the provider said when it took an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id of the message (SES `MessageId`, Resend `id`).
    pub message_id: String,
}

/// Why an email did not go out, and whether it may have anyway.
#[derive(Debug)]
pub enum SendFailure {
    /// The provider refused it or was never reached: it was not sent, and may be retried.
    NotSent(Error),
    /// No answer after the request left (a timeout): it may have been sent. Not retried.
    Unknown(Error),
}

impl SendFailure {
    pub fn error(&self) -> &Error {
        match self {
            Self::NotSent(e) | Self::Unknown(e) => e,
        }
    }

    pub fn into_error(self) -> Error {
        match self {
            Self::NotSent(e) | Self::Unknown(e) => e,
        }
    }
}

impl fmt::Display for SendFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSent(e) => write!(f, "not sent: {e}"),
            Self::Unknown(e) => write!(f, "outcome unknown: {e}"),
        }
    }
}

/// What a [`Mailer`] call returns: boxed so that the trait stays object-safe
/// (`Arc<dyn Mailer>` in the app, a recording fake in tests).
pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<Sent, SendFailure>> + Send + 'a>>;

/// The email provider, as the notifier needs it.
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends `email` from the configured sender.
    fn send<'a>(&'a self, email: &'a Email) -> MailFuture<'a>;
}

/// The address part of a sender such as `Makers Market <orders@example.com>`.
pub fn address_of(sender: &str) -> &str {
    match (sender.rfind('<'), sender.rfind('>')) {
        (Some(start), Some(end)) if start < end => sender[start + 1..end].trim(),
        _ => sender.trim(),
    }
}

/// Whether `address` looks like a mailbox (`local@domain.tld`, no spaces): anything else
/// is not worth a call to the provider.
pub fn is_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_senders_address_is_read_out_of_its_display_form() {
        assert_eq!(address_of("Makers Market <orders@makers-market.example>"), "orders@makers-market.example");
        assert_eq!(address_of("orders@makers-market.example"), "orders@makers-market.example");
        assert_eq!(address_of(" <a@b.c> "), "a@b.c");
    }

    #[test]
    fn only_plain_mailboxes_are_addresses() {
        assert!(is_address("ada@makers-market.test"));
        assert!(!is_address("ada"));
        assert!(!is_address("ada@localhost"));
        assert!(!is_address("Ada <ada@x.pt>"));
        assert!(!is_address("a@b.c, d@e.f"));
    }

    #[test]
    fn the_trait_is_object_safe() {
        fn takes(_: Option<&dyn Mailer>) {}
        takes(None);
    }
}

/// `text` with every email address in it replaced by `<email>`. Providers' error messages
/// name the recipient (SES: "…failed the check in region EU-WEST-1: ada@example.com"), and
/// an address must reach neither a log line nor a stored error text.
pub fn redact_addresses(text: &str) -> Cow<'_, str> {
    fn local(c: char) -> bool {
        c.is_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c)
    }
    fn domain(c: char) -> bool {
        c.is_alphanumeric() || c == '.' || c == '-'
    }
    if !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // byte offset in `text` copied to `out` so far
    for (i, &(at, c)) in chars.iter().enumerate() {
        if c != '@' || at < copied {
            continue;
        }
        let start = chars[..i].iter().rev().take_while(|(_, c)| local(*c)).last().map(|&(b, _)| b);
        let end = chars[i + 1..].iter().take_while(|(_, c)| domain(*c)).last().map(|&(b, c)| b + c.len_utf8());
        if let (Some(start), Some(end)) = (start, end)
            && start >= copied
            && text[at + 1..end].trim_end_matches('.').contains('.')
        {
            out.push_str(&text[copied..start]);
            out.push_str("<email>");
            copied = end;
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod redaction_tests {
    use super::redact_addresses;

    #[test]
    fn addresses_are_redacted_wherever_they_stand() {
        let ses = "MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: ada.lovelace+shop@example.co.uk, b@x.pt";
        let out = redact_addresses(ses);
        assert_eq!(
            out,
            "MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: <email>, <email>"
        );
        assert_eq!(redact_addresses("to <zé@exemplo.pt>."), "to <<email>>.");
        // Text without an address is left alone, '@' or not.
        for same in ["no address here", "@handle", "user@localhost", "a @ b.com", ""] {
            assert_eq!(redact_addresses(same), same);
        }
    }
}
