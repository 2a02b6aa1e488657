//! The emails: what each says, as view models rendered by askama templates compiled into
//! the binary (`shared/templates/`, an HTML and a text version of each). Nothing is parsed
//! at cold start, and the HTML is escaped by the template engine.

use super::Email;
use crate::domain::{
    Address, Application, ApplicationStatus, Order, OrderLine, OrderPaymentFailed, OrderStatus, Product, ProductStatus,
    RefundStatus, UserId, euros,
};
use crate::{Error, Result};
use askama::Template;

/// One order line as an email shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineView {
    pub title: String,
    pub quantity: u64,
    pub unit_price: String,
    pub subtotal: String,
}

impl LineView {
    fn of(line: &OrderLine) -> Self {
        Self {
            title: line.title.clone(),
            quantity: line.quantity,
            unit_price: euros(line.unit_price_cents),
            subtotal: euros(line.subtotal_cents),
        }
    }
}

/// The status in the plain words of a subject line. A cancellation says whether money is
/// coming back.
pub fn status_words(status: OrderStatus, refund: Option<RefundStatus>) -> &'static str {
    match (status, refund) {
        (OrderStatus::PendingPayment, _) => "waiting for payment",
        (OrderStatus::Paid, _) => "payment received",
        (OrderStatus::Preparing, _) => "being prepared",
        (OrderStatus::Shipped, _) => "shipped",
        (OrderStatus::OutForDelivery, _) => "out for delivery",
        (OrderStatus::Delivered, _) => "delivered",
        (OrderStatus::Cancelled, Some(RefundStatus::Pending)) => "cancelled, refund on its way",
        (OrderStatus::Cancelled, Some(RefundStatus::Succeeded)) => "cancelled and refunded",
        (OrderStatus::Cancelled, Some(RefundStatus::Failed)) => "cancelled, refund delayed",
        (OrderStatus::Cancelled, None) => "cancelled",
        (OrderStatus::PaymentFailed, _) => "payment failed",
        (OrderStatus::Expired, _) => "expired",
    }
}

/// The customer's subject for `order` entering `status`.
pub fn subject_for(order_id: &str, status: OrderStatus, refund: Option<RefundStatus>) -> String {
    format!("Your Makers Market order {order_id}: {}", status_words(status, refund))
}

/// The customer's subject when a payment attempt on `order_id` was declined and the order
/// still waits for payment.
pub fn subject_for_declined(order_id: &str) -> String {
    format!("Your Makers Market order {order_id}: your payment didn't go through — try again")
}

/// The customer's subject when the refund of `order_id` failed.
pub fn subject_for_refund_failed(order_id: &str) -> String {
    format!("Your Makers Market order {order_id}: your refund did not go through")
}

fn address_lines(a: &Address) -> Vec<String> {
    let mut lines = vec![a.name.clone(), a.line1.clone()];
    lines.extend(a.line2.clone());
    lines.push(format!("{} {}", a.postal_code, a.city));
    lines.push(a.country.clone());
    lines
}

/// `2026-12-02` out of an RFC 3339 timestamp.
fn day_of(timestamp: &str) -> String {
    timestamp.get(..10).unwrap_or(timestamp).to_owned()
}

/// The customer's email about one status of an order.
#[derive(Debug, Clone)]
pub struct OrderEmail {
    pub subject: String,
    pub name: String,
    pub order_id: String,
    pub placed_on: String,
    pub headline: String,
    pub message: String,
    /// What the customer should do now, when there is something to do.
    pub action: Option<String>,
    pub lines: Vec<LineView>,
    pub total: String,
    pub address: Vec<String>,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderHtml<'a> {
    e: &'a OrderEmail,
}

#[derive(Template)]
#[template(path = "order.txt")]
struct OrderText<'a> {
    e: &'a OrderEmail,
}

impl OrderEmail {
    /// What the customer of `order` reads when it enters `status` (the event's status: the
    /// order may have moved on since).
    pub fn new(order: &Order, status: OrderStatus) -> Self {
        let refund = order.payment.refund_status.filter(|_| status == OrderStatus::Cancelled);
        let total = euros(order.total_cents);
        let (headline, message) = match status {
            OrderStatus::PendingPayment => {
                ("Waiting for your payment".to_owned(), "We are waiting for your payment to confirm the order.".to_owned())
            }
            OrderStatus::Paid => (
                "Payment received".to_owned(),
                format!("Thank you! We received your payment of {total}. The makers are getting your items ready."),
            ),
            OrderStatus::Preparing => (
                "Your order is being prepared".to_owned(),
                "The makers are preparing and packing your items.".to_owned(),
            ),
            OrderStatus::Shipped => {
                ("Your order has shipped".to_owned(), "Your items are on their way to the address below.".to_owned())
            }
            OrderStatus::OutForDelivery => (
                "Your order is out for delivery".to_owned(),
                "The courier has your parcel and will deliver it today.".to_owned(),
            ),
            OrderStatus::Delivered => (
                "Your order was delivered".to_owned(),
                "Your order has been delivered. We hope you enjoy it!".to_owned(),
            ),
            OrderStatus::Cancelled => (
                "Your order was cancelled".to_owned(),
                match refund {
                    Some(RefundStatus::Pending) => {
                        format!("Your order was cancelled. A refund of {total} is on its way to your card.")
                    }
                    Some(RefundStatus::Succeeded) => {
                        format!("Your order was cancelled and {total} was refunded to your card.")
                    }
                    Some(RefundStatus::Failed) => format!(
                        "Your order was cancelled. We could not refund {total} to your card automatically; our team will refund you and get in touch."
                    ),
                    None => "Your order was cancelled before it was paid: you were not charged.".to_owned(),
                },
            ),
            OrderStatus::PaymentFailed => (
                "Your payment failed".to_owned(),
                "Your payment did not go through, so you were not charged and the items were released. You are welcome to order again.".to_owned(),
            ),
            OrderStatus::Expired => (
                "Your order expired".to_owned(),
                "We did not receive your payment in time, so the order expired and the items were released. You were not charged.".to_owned(),
            ),
        };
        Self {
            subject: subject_for(order.id.as_str(), status, refund),
            name: order.shipping_address.name.clone(),
            order_id: order.id.as_str().to_owned(),
            placed_on: day_of(order.created_at.as_str()),
            headline,
            message,
            action: None,
            lines: order.items.iter().map(LineView::of).collect(),
            total,
            address: address_lines(&order.shipping_address),
        }
    }

    /// What the customer of `order` reads when the payment attempt of `event` was declined
    /// and the order still waits for payment: why, in the words the order keeps, and how
    /// to pay again on the same order. There is no public address of the web shop in the
    /// configuration yet, so the way to the order's page (`/account/orders/{id}`) is told
    /// in words rather than linked.
    pub fn declined(order: &Order, event: &OrderPaymentFailed) -> Self {
        let mut email = Self::new(order, OrderStatus::PendingPayment);
        email.subject = subject_for_declined(order.id.as_str());
        email.headline = "Your payment didn't go through".to_owned();
        email.message = format!(
            "{} You were not charged, and your order is still reserved for you.",
            event.last_error.message.trim_end()
        );
        email.action = Some(format!(
            "To try again, sign in to the Makers Market shop, go to Your account → Orders and open order {}: \
             you can pay for it there with another card. Please do it soon: an order that is not paid in time \
             is released.",
            order.id.as_str()
        ));
        email
    }

    /// What the customer of `order` reads when its refund failed (Stripe failed it, or it
    /// could not be made): that the money has not come back yet, and that a person will see
    /// to it. Stripe's reasons stay out of it (they are for admins).
    pub fn refund_failed(order: &Order) -> Self {
        let mut email = Self::new(order, order.status);
        let total = euros(order.total_cents);
        email.subject = subject_for_refund_failed(order.id.as_str());
        email.headline = "Your refund did not go through".to_owned();
        email.message = format!(
            "We tried to refund {total} for this order to the card you paid with, and the refund did not go \
             through. Your money has not been lost: our team has been told and will refund you another way."
        );
        email.action = Some(format!(
            "You do not need to do anything. If you have questions, reply to this email and mention order {}.",
            order.id.as_str()
        ));
        email
    }

    /// The email to `to`, with the marker `key`.
    pub fn render(&self, to: &str, key: &str) -> Result<Email> {
        compose(to, &self.subject, key, &OrderHtml { e: self }, &OrderText { e: self })
    }
}

/// A maker's email when an order with its lines is paid: only its own lines, and where
/// to ship them.
#[derive(Debug, Clone)]
pub struct MakerEmail {
    pub subject: String,
    pub name: String,
    pub order_id: String,
    pub lines: Vec<LineView>,
    pub total: String,
    pub address: Vec<String>,
    /// Whether other makers have lines in the order (which this email does not show).
    pub others: bool,
}

#[derive(Template)]
#[template(path = "maker.html")]
struct MakerHtml<'a> {
    e: &'a MakerEmail,
}

#[derive(Template)]
#[template(path = "maker.txt")]
struct MakerText<'a> {
    e: &'a MakerEmail,
}

impl MakerEmail {
    /// `None` when `maker` has no line in `order`.
    pub fn new(order: &Order, maker: &UserId, maker_name: &str) -> Option<Self> {
        let own: Vec<&OrderLine> = order.items.iter().filter(|l| &l.maker_id == maker).collect();
        if own.is_empty() {
            return None;
        }
        let units: u64 = own.iter().map(|l| l.quantity).sum();
        Some(Self {
            subject: format!(
                "Makers Market order {} is paid: {units} item{} of yours to ship",
                order.id.as_str(),
                if units == 1 { "" } else { "s" }
            ),
            name: maker_name.to_owned(),
            order_id: order.id.as_str().to_owned(),
            total: euros(own.iter().map(|l| l.subtotal_cents).sum()),
            lines: own.into_iter().map(LineView::of).collect(),
            address: address_lines(&order.shipping_address),
            others: order.items.iter().any(|l| &l.maker_id != maker),
        })
    }

    pub fn render(&self, to: &str, key: &str) -> Result<Email> {
        compose(to, &self.subject, key, &MakerHtml { e: self }, &MakerText { e: self })
    }
}

/// The welcome email after sign-up.
#[derive(Debug, Clone)]
pub struct WelcomeEmail {
    pub subject: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomeHtml<'a> {
    e: &'a WelcomeEmail,
}

#[derive(Template)]
#[template(path = "welcome.txt")]
struct WelcomeText<'a> {
    e: &'a WelcomeEmail,
}

impl WelcomeEmail {
    pub fn new(name: &str) -> Self {
        Self { subject: "Welcome to Makers Market".to_owned(), name: name.to_owned() }
    }

    pub fn render(&self, to: &str, key: &str) -> Result<Email> {
        compose(to, &self.subject, key, &WelcomeHtml { e: self }, &WelcomeText { e: self })
    }
}

/// The applicant's email about a decided maker application: approved (the shop is open,
/// sign in again), or rejected with the admin's note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationEmail {
    pub subject: String,
    pub name: String,
    pub shop_name: String,
    pub approved: bool,
    pub note: String,
}

#[derive(Template)]
#[template(path = "application.html")]
struct ApplicationHtml<'a> {
    e: &'a ApplicationEmail,
}

#[derive(Template)]
#[template(path = "application.txt")]
struct ApplicationText<'a> {
    e: &'a ApplicationEmail,
}

impl ApplicationEmail {
    /// `None` for an application that is still pending: there is nothing to tell.
    pub fn new(application: &Application, name: &str) -> Option<Self> {
        let approved = match application.status {
            ApplicationStatus::Pending => return None,
            ApplicationStatus::Approved => true,
            ApplicationStatus::Rejected => false,
        };
        let subject = if approved {
            format!("Your shop {} is open on Makers Market", application.shop_name)
        } else {
            "Your maker application was not approved".to_owned()
        };
        Some(Self {
            subject,
            name: name.to_owned(),
            shop_name: application.shop_name.clone(),
            approved,
            note: application.note.clone().unwrap_or_default(),
        })
    }

    pub fn render(&self, to: &str, key: &str) -> Result<Email> {
        compose(to, &self.subject, key, &ApplicationHtml { e: self }, &ApplicationText { e: self })
    }
}

/// The maker's email about moderation of their product: taken down (with the admin's
/// note: what the studio shows too), or the takedown lifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerationEmail {
    pub subject: String,
    pub name: String,
    pub title: String,
    pub removed: bool,
    pub note: String,
    /// What the product is after a lifting: on sale, or archived.
    pub visible: bool,
}

#[derive(Template)]
#[template(path = "moderation.html")]
struct ModerationHtml<'a> {
    e: &'a ModerationEmail,
}

#[derive(Template)]
#[template(path = "moderation.txt")]
struct ModerationText<'a> {
    e: &'a ModerationEmail,
}

impl ModerationEmail {
    /// About `product` as it is now, for its maker `name`.
    pub fn new(product: &Product, name: &str) -> Self {
        let removed = product.is_removed();
        let subject = if removed {
            format!("We took down your product \u{201c}{}\u{201d}", product.title)
        } else {
            format!("Your product \u{201c}{}\u{201d} is no longer taken down", product.title)
        };
        Self {
            subject,
            name: name.to_owned(),
            title: product.title.clone(),
            removed,
            note: product.moderation_note.clone().unwrap_or_default(),
            visible: product.status == ProductStatus::Active,
        }
    }

    pub fn render(&self, to: &str, key: &str) -> Result<Email> {
        compose(to, &self.subject, key, &ModerationHtml { e: self }, &ModerationText { e: self })
    }
}

/// The email to `to` with the marker `key`, its HTML and text parts rendered from `html`
/// and `text`.
fn compose(to: &str, subject: &str, key: &str, html: &impl Template, text: &impl Template) -> Result<Email> {
    let rendering = |e: askama::Error| Error::internal("rendering an email", e);
    Ok(Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        html: html.render().map_err(rendering)?,
        text: text.render().map_err(rendering)?,
        key: key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        let lines = [("maria", "Speckled <stoneware> mug", 2400, 2), ("joao", "Walnut spoon", 2200, 1)];
        crate::domain::order::sample_order(OrderStatus::Paid, &lines)
    }

    #[test]
    fn every_subject_names_the_order_and_its_status_in_plain_words() {
        let order = order();
        let expected = [
            (OrderStatus::Paid, "payment received"),
            (OrderStatus::Preparing, "being prepared"),
            (OrderStatus::Shipped, "shipped"),
            (OrderStatus::OutForDelivery, "out for delivery"),
            (OrderStatus::Delivered, "delivered"),
            (OrderStatus::Cancelled, "cancelled"),
            (OrderStatus::PaymentFailed, "payment failed"),
            (OrderStatus::Expired, "expired"),
        ];
        for (status, words) in expected {
            let subject = OrderEmail::new(&order, status).subject;
            assert!(subject.contains(order.id.as_str()), "{subject}");
            assert!(subject.ends_with(words), "{subject}");
        }
        let mut refunded = order.clone();
        refunded.payment.refund_status = Some(RefundStatus::Pending);
        assert!(OrderEmail::new(&refunded, OrderStatus::Cancelled).subject.ends_with("cancelled, refund on its way"));
        refunded.payment.refund_status = Some(RefundStatus::Succeeded);
        assert!(OrderEmail::new(&refunded, OrderStatus::Cancelled).subject.ends_with("cancelled and refunded"));
    }

    #[test]
    fn a_declined_attempts_email_says_why_and_how_to_pay_again() {
        let mut order = order();
        order.status = OrderStatus::PendingPayment;
        let event = OrderPaymentFailed {
            order_id: order.id.clone(),
            customer_id: order.customer_id.clone(),
            attempt: 2,
            attempts_left: 3,
            last_error: crate::domain::PaymentError {
                code: "insufficient_funds".into(),
                message: "Your card has <insufficient> funds.".into(),
            },
            total_cents: order.total_cents,
            at: order.created_at.clone(),
        };
        let email = OrderEmail::declined(&order, &event).render("ada@x.pt", "k").map_err(|e| e.to_string());
        let Ok(email) = email else { panic!("{email:?}") };
        assert_eq!(
            email.subject,
            format!("Your Makers Market order {}: your payment didn't go through — try again", order.id.as_str())
        );
        assert!(
            email.text.contains("Your card has <insufficient> funds.") && email.text.contains("not charged"),
            "{}",
            email.text
        );
        assert!(
            email.html.contains("&#60;insufficient&#62;") || email.html.contains("&lt;insufficient&gt;"),
            "{}",
            email.html
        );
        for body in [&email.html, &email.text] {
            assert!(body.contains("Your account → Orders") && body.contains(order.id.as_str()), "{body}");
            assert!(body.contains("€70.00"), "{body}");
        }
        // The status emails have no such call to action.
        let paid = OrderEmail::new(&order, OrderStatus::Paid).render("ada@x.pt", "k").map_err(|e| e.to_string());
        assert!(paid.is_ok_and(|e| !e.text.contains("try again") && !e.html.contains("Your account")));
    }

    #[test]
    fn the_customers_email_has_html_and_text_with_the_summary_in_euros() {
        let order = order();
        let email = OrderEmail::new(&order, OrderStatus::Paid).render("ada@x.pt", "k").map_err(|e| e.to_string());
        let html = email.as_ref().map(|e| e.html.clone()).unwrap_or_default();
        let text = email.as_ref().map(|e| e.text.clone()).unwrap_or_default();
        for body in [&html, &text] {
            assert!(body.contains("€48.00") && body.contains("€22.00") && body.contains("€70.00"), "{body}");
            assert!(body.contains("Walnut spoon") && body.contains("4050-262 Porto"), "{body}");
            assert!(body.contains(order.id.as_str()), "{body}");
        }
        assert!(
            html.contains("Speckled &#60;stoneware&#62; mug") || html.contains("Speckled &lt;stoneware&gt; mug"),
            "{html}"
        );
        assert!(text.contains("Speckled <stoneware> mug"), "{text}");
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    }

    #[test]
    fn a_makers_email_lists_only_its_own_lines() {
        let order = order();
        let email = MakerEmail::new(&order, &UserId::new("joao"), "João").map(|m| m.render("j@x.pt", "k"));
        let Some(Ok(email)) = email else { panic!("no maker email") };
        assert!(email.subject.contains("1 item of yours"), "{}", email.subject);
        for body in [&email.html, &email.text] {
            assert!(body.contains("Walnut spoon") && body.contains("€22.00"), "{body}");
            assert!(!body.contains("stoneware") && !body.contains("€70.00") && !body.contains("€48.00"), "{body}");
            assert!(body.contains("Rua das Flores 12"), "{body}");
        }
        assert!(email.text.contains("Other makers' items"), "{}", email.text);
        assert!(MakerEmail::new(&order, &UserId::new("nobody"), "x").is_none());
        let mut alone = order.clone();
        alone.items.retain(|l| l.maker_id.as_str() == "joao");
        let email = MakerEmail::new(&alone, &UserId::new("joao"), "João").map(|m| m.render("j@x.pt", "k"));
        let Some(Ok(email)) = email else { panic!("no maker email") };
        assert!(!email.text.contains("Other makers") && !email.html.contains("Other makers"), "{}", email.text);
    }

    #[test]
    fn the_welcome_email_greets_by_name() {
        let email = WelcomeEmail::new("Ada").render("ada@x.pt", "k").map_err(|e| e.to_string());
        assert_eq!(email.as_ref().map(|e| e.subject.as_str()), Ok("Welcome to Makers Market"));
        assert!(email.as_ref().is_ok_and(|e| e.html.contains("Hello Ada,") && e.text.contains("Hello Ada,")));
    }
    #[test]
    fn a_takedown_email_carries_the_note_and_a_lifting_says_where_the_product_is() {
        let input: crate::domain::ProductInput = serde_json::from_value(serde_json::json!({
            "title": "Lamp <b>", "description": "d", "price_cents": 1000, "stock": 1, "category": "home"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let new = crate::domain::NewProduct::parse(input).unwrap_or_else(|e| panic!("{e}"));
        let mut product = new.into_product(
            crate::domain::ProductId::generate(),
            UserId::new("m"),
            crate::domain::Timestamp::from_stored("2026-12-03T10:00:00.000Z".into()),
        );
        product.status = ProductStatus::Removed;
        product.moderation_note = Some("Not handmade & resold".to_owned());
        let email = ModerationEmail::new(&product, "Ana").render("a@x.pt", "k").unwrap_or_else(|e| panic!("{e}"));
        assert!(email.subject.contains("took down") && email.subject.contains("Lamp <b>"), "{}", email.subject);
        assert!(email.text.contains("Not handmade & resold"), "{}", email.text);
        assert!(email.html.contains("Not handmade &#38; resold") && email.html.contains("Lamp &#60;b&#62;"), "escaped");
        for (status, words) in [(ProductStatus::Active, "on sale again"), (ProductStatus::Archived, "archived")] {
            product.status = status;
            product.moderation_note = None;
            let email = ModerationEmail::new(&product, "Ana").render("a@x.pt", "k").unwrap_or_else(|e| panic!("{e}"));
            assert!(email.subject.contains("no longer taken down"), "{}", email.subject);
            assert!(email.text.contains(words) && email.html.contains(words), "{}", email.text);
        }
    }
}
