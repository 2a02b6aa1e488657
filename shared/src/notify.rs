//! What the notifier and the post-confirmation trigger do: an email to the customer at
//! every status of an order, one to each maker (its own lines only) when the order is paid,
//! one to the customer for each declined payment attempt that leaves the order payable
//! ("try again"), one to the customer when the order's refund failed, a welcome email
//! after sign-up, one to an applicant when their maker application is decided, and one to a
//! maker when an admin takes their product down or lifts the takedown — each at most once,
//! through the markers described in [`crate::email`].

use crate::domain::{
    Application, Order, OrderPaymentFailed, OrderRefundFailed, OrderStatus, OrderStatusChanged, Product, Profile,
    RefundStatus, UserId,
};
use crate::email::{
    ApplicationEmail, Email, MakerEmail, ModerationEmail, OrderEmail, SendFailure, WelcomeEmail, is_address,
};
use crate::store::{Claim, MailKey};
use crate::{App, Error, Result, metrics};

/// What happened to one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent now.
    Sent { message_id: String },
    /// Sent before, or being sent by another notifier: nothing done.
    AlreadyHandled,
    /// The recipient has no usable address: nothing to send to.
    NoAddress,
    /// The provider did not answer after the request left: it may have gone out. Not
    /// retried (at most once).
    Unknown,
}

/// What one notifier invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub already_handled: usize,
    pub no_address: usize,
    pub unknown: usize,
    /// Events about something the order has moved past: nothing to send.
    pub outdated: usize,
}

impl Report {
    fn add(&mut self, delivery: &Delivery) {
        match delivery {
            Delivery::Sent { .. } => self.sent += 1,
            Delivery::AlreadyHandled => self.already_handled += 1,
            Delivery::NoAddress => self.no_address += 1,
            Delivery::Unknown => self.unknown += 1,
        }
    }
}

/// The emails for one `OrderStatusChanged` event: the customer's, and on `paid` each
/// maker's, sent concurrently. Every recipient is tried; if any send failed, the error of the first is
/// returned (after the others were tried), so that the invocation is retried — the emails
/// that went out are not sent again.
pub async fn order_status_changed(app: &App, event: &OrderStatusChanged) -> Result<Report> {
    let mut report = Report::default();
    if event.status == OrderStatus::PendingPayment {
        return Ok(report);
    }
    let Some(order) = app.store.order(&event.order_id).await? else {
        // Retrying would not make it appear: the event is dropped, loudly.
        tracing::error!(order_id = event.order_id.as_str(), "an event names an order that does not exist");
        return Ok(report);
    };
    let mut first_failure: Option<Error> = None;
    // Every recipient at once: an order of many makers costs one send's time, not one per
    // maker (each send is a marker claim, SES, and the marker's outcome).
    let makers = if event.status == OrderStatus::Paid { order.maker_ids() } else { Vec::new() };
    let (customer, makers) = futures::join!(
        customer_email(app, &order, event.status),
        futures::future::join_all(makers.iter().map(|maker| maker_email(app, &order, maker))),
    );
    for outcome in std::iter::once(customer).chain(makers) {
        match outcome {
            Ok(delivery) => report.add(&delivery),
            Err(e) => {
                tracing::error!(order_id = order.id.as_str(), status = event.status.as_str(), error = %e, "an email failed");
                first_failure.get_or_insert(e);
            }
        }
    }
    match first_failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// The customer's "your payment didn't go through — try again" email for one declined
/// attempt, at most once per attempt. Only while it is worth reading: not once the order
/// was paid by a later attempt or ended (its status email says what happened), nor for an
/// attempt a later decline has overtaken (that one's email says the same, newer).
pub async fn payment_declined(app: &App, event: &OrderPaymentFailed) -> Result<Report> {
    let mut report = Report::default();
    let Some(order) = app.store.order(&event.order_id).await? else {
        tracing::error!(order_id = event.order_id.as_str(), "an event names an order that does not exist");
        return Ok(report);
    };
    if order.status != OrderStatus::PendingPayment || order.payment.failed_attempts > event.attempt {
        tracing::info!(
            order_id = order.id.as_str(),
            attempt = event.attempt,
            status = order.status.as_str(),
            failed_attempts = order.payment.failed_attempts,
            "the order has moved on since this declined attempt: no try-again email"
        );
        report.outdated += 1;
        return Ok(report);
    }
    let key = MailKey::DeclinedAttempt {
        order: order.id.clone(),
        attempt: event.attempt,
        recipient: order.customer_id.clone(),
    };
    let delivery = match address(app, &order.customer_id).await? {
        Some((to, _name)) => {
            let email = OrderEmail::declined(&order, event).render(&to, &key.name())?;
            deliver(app, &key, &email, "payment_declined").await?
        }
        None => no_address(&key),
    };
    report.add(&delivery);
    Ok(report)
}

/// The customer's "your refund did not go through" email, at most once per order. Only
/// while the order's refund is still `failed` (it is final; a replay of an event about an
/// order whose refund is not failed sends nothing).
pub async fn refund_failed(app: &App, event: &OrderRefundFailed) -> Result<Report> {
    let mut report = Report::default();
    let Some(order) = app.store.order(&event.order_id).await? else {
        tracing::error!(order_id = event.order_id.as_str(), "an event names an order that does not exist");
        return Ok(report);
    };
    if order.payment.refund_status != Some(RefundStatus::Failed) {
        tracing::warn!(order_id = order.id.as_str(), "a refund-failed event for an order whose refund has not failed");
        report.outdated += 1;
        return Ok(report);
    }
    let key = MailKey::RefundFailed { order: order.id.clone(), recipient: order.customer_id.clone() };
    let delivery = match address(app, &order.customer_id).await? {
        Some((to, _name)) => {
            let email = OrderEmail::refund_failed(&order).render(&to, &key.name())?;
            deliver(app, &key, &email, "refund_failed").await?
        }
        None => no_address(&key),
    };
    report.add(&delivery);
    Ok(report)
}

async fn customer_email(app: &App, order: &Order, status: OrderStatus) -> Result<Delivery> {
    let key = MailKey::Order { order: order.id.clone(), status, recipient: order.customer_id.clone() };
    let Some((to, _name)) = address(app, &order.customer_id).await? else { return Ok(no_address(&key)) };
    let email = OrderEmail::new(order, status).render(&to, &key.name())?;
    deliver(app, &key, &email, status.as_str()).await
}

async fn maker_email(app: &App, order: &Order, maker: &UserId) -> Result<Delivery> {
    let key = MailKey::Order { order: order.id.clone(), status: OrderStatus::Paid, recipient: maker.clone() };
    let Some((to, name)) = address(app, maker).await? else { return Ok(no_address(&key)) };
    let Some(view) = MakerEmail::new(order, maker, &name) else { return Ok(Delivery::AlreadyHandled) };
    let email = view.render(&to, &key.name())?;
    deliver(app, &key, &email, OrderStatus::Paid.as_str()).await
}

fn no_address(key: &MailKey) -> Delivery {
    tracing::warn!(email = key.name(), "no usable email address for the recipient: nothing sent");
    Delivery::NoAddress
}

/// The maker's email about a takedown of `product` or its lifting (`product` as it is
/// after it), at most once per moderation: the marker is keyed on the product's version.
pub async fn product_moderated(app: &App, product: &Product) -> Result<Delivery> {
    let key = MailKey::Moderation { product: product.id.clone(), version: product.version };
    let Some((to, name)) = address(app, &product.maker_id).await? else { return Ok(no_address(&key)) };
    let email = ModerationEmail::new(product, &name).render(&to, &key.name())?;
    let metric = if product.is_removed() { "removed" } else { "reinstated" };
    deliver(app, &key, &email, metric).await
}

/// The applicant's email about the decision on their maker application, at most once per
/// application: a repeated approval (or rejection) finds the marker and sends nothing, unless
/// the earlier send surely failed.
pub async fn application_decided(app: &App, application: &Application) -> Result<Delivery> {
    let key = MailKey::Application { application: application.id.clone(), status: application.status };
    let Some((to, name)) = address(app, &application.user_id).await? else { return Ok(no_address(&key)) };
    let Some(view) = ApplicationEmail::new(application, &name) else { return Ok(Delivery::AlreadyHandled) };
    let email = view.render(&to, &key.name())?;
    deliver(app, &key, &email, application.status.as_str()).await
}

/// The welcome email after sign-up, once per user.
pub async fn welcome(app: &App, user: &UserId, name: &str, to: &str) -> Result<Delivery> {
    let key = MailKey::Welcome { user: user.clone() };
    if !is_address(to) {
        return Ok(no_address(&key));
    }
    let email = WelcomeEmail::new(name).render(to, &key.name())?;
    deliver(app, &key, &email, "welcome").await
}

/// A user's address and name: from the profile, else from Cognito (then stored on the
/// profile, so Cognito is asked once per user). `None` if there is no usable address.
pub async fn address(app: &App, user: &UserId) -> Result<Option<(String, String)>> {
    let contact = app.store.contact(user).await?;
    if let Some(email) = contact.email.as_deref().filter(|e| is_address(e)) {
        let name = contact.display_name.clone().unwrap_or_else(|| local_part(email));
        return Ok(Some((email.to_owned(), name)));
    }
    let Some(email) =
        app.directory().await.email_of(user, contact.username.as_deref()).await?.filter(|e| is_address(e))
    else {
        return Ok(None);
    };
    let display_name = contact.display_name.clone().unwrap_or_else(|| local_part(&email));
    app.store.upsert_contact(user, contact.username.as_deref(), &display_name, &email, &app.now()).await?;
    tracing::info!(user = user.as_str(), "filled in a profile's email address from Cognito");
    Ok(Some((email, display_name)))
}

/// What to call a user with no display name yet: their address's local part. Not their
/// username, which is an id (a local user's is their sub, a Google user's `google_<n>`).
fn local_part(email: &str) -> String {
    email.split('@').next().unwrap_or_default().to_owned()
}

/// After `GET /me` or `PUT /me`: a profile without an address (made on first sight, or
/// before the post-confirmation trigger stored addresses) gets its user's address from
/// Cognito now and keeps it, so that emails need no lookup. Never the caller's failure:
/// with Cognito or the write failing, the request still answers, the log says why, and the
/// notifier fills the address on first need.
pub async fn remember_address(app: &App, profile: &Profile) {
    if profile.email.is_some() {
        return;
    }
    let user = &profile.id;
    let found = app.directory().await.email_of(user, Some(&profile.username)).await;
    let email = match found {
        Ok(Some(email)) if is_address(&email) => email,
        Ok(_) => {
            tracing::warn!(user = user.as_str(), "Cognito has no usable address for this profile");
            return;
        }
        Err(err) => {
            tracing::warn!(user = user.as_str(), error = %err, "could not look a new profile's address up in Cognito");
            return;
        }
    };
    let stored =
        app.store.upsert_contact(user, Some(&profile.username), &profile.display_name, &email, &app.now()).await;
    match stored {
        Ok(_) => tracing::info!(user = user.as_str(), "stored a profile's email address from Cognito"),
        Err(err) => tracing::warn!(user = user.as_str(), error = %err, "could not store a profile's address"),
    }
}

/// Claim, send, record. See [`crate::email`] for why this is at most once.
async fn deliver(app: &App, key: &MailKey, email: &Email, metric_status: &str) -> Result<Delivery> {
    match app.store.claim_mail(key, &email.to, &email.subject, &app.now()).await? {
        Claim::Claimed => {}
        Claim::Taken { state } => {
            tracing::info!(email = key.name(), state = state.as_deref().unwrap_or("?"), "email already handled");
            return Ok(Delivery::AlreadyHandled);
        }
    }
    let mailer = match app.mailer().await {
        Ok(mailer) => mailer,
        Err(e) => {
            release(app, key, &e).await;
            return Err(e);
        }
    };
    match mailer.send(email).await {
        Ok(sent) => {
            metrics::count("EmailsSent", ("Status", metric_status), 1);
            tracing::info!(email = key.name(), message_id = sent.message_id, "email sent");
            // The email is out: a failure to record it leaves the claim in `sending`, which
            // also keeps it from being sent again.
            if let Err(e) = app.store.mail_sent(key, &sent.message_id, &app.now()).await {
                tracing::error!(email = key.name(), error = %e, "email sent but not recorded as sent");
            }
            Ok(Delivery::Sent { message_id: sent.message_id })
        }
        Err(SendFailure::NotSent(e)) => {
            release(app, key, &e).await;
            Err(e)
        }
        Err(failure @ SendFailure::Unknown(_)) => {
            tracing::error!(
                email = key.name(),
                error = %failure,
                "the provider did not answer: the email may have gone out, and is not sent again"
            );
            Ok(Delivery::Unknown)
        }
    }
}

/// Marks the email failed so that a retry may claim it again. If even that fails, the claim
/// stays and the email is lost rather than risked twice.
async fn release(app: &App, key: &MailKey, why: &Error) {
    if let Err(e) = app.store.mail_failed(key, &why.to_string(), &app.now()).await {
        tracing::error!(email = key.name(), error = %e, "could not release a failed email's claim: it will not be retried");
    }
}
