//! What the base layout (`shared/templates/web/base.html`) shows around every page, the
//! error page, the filters templates use, and rendering.

use super::assets::Links;
use crate::{Error, Result};

/// The signed-in user, as the header shows them.
#[derive(Debug, Clone)]
pub struct UserBadge {
    pub name: String,
    pub is_maker: bool,
    pub is_admin: bool,
}

/// Everything around a page's own content: head, header, flash, footer, scripts.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's title, before " · Makers Market".
    pub title: String,
    pub description: String,
    /// The page's canonical absolute URL (`<link rel=canonical>`), for pages worth indexing.
    pub canonical: Option<String>,
    /// Pages that are nobody's business but their user's (`<meta name=robots>`).
    pub noindex: bool,
    pub user: Option<UserBadge>,
    /// Units in the cart, shown by the header's cart link.
    pub cart_count: u64,
    /// The visit's form token, for every form that changes state.
    pub form_token: String,
    /// A message from the previous page (after a form's redirect).
    pub flash: Option<String>,
    /// What the header's search box shows.
    pub query: String,
    /// This page's path and query, where sign-in returns to.
    pub here: String,
    pub links: Links,
    /// The page uses htmx (a live part).
    pub htmx: bool,
    /// The page loads Stripe.js from here (the payment step only).
    pub stripe_js: Option<String>,
}

impl Layout {
    /// A layout for pages rendered without a visit (error pages): nobody signed in.
    pub fn bare(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            description: "Makers Market: handmade goods from independent makers.".to_owned(),
            canonical: None,
            noindex: true,
            user: None,
            cart_count: 0,
            form_token: String::new(),
            flash: None,
            query: String::new(),
            here: "/".to_owned(),
            links: Links::get(),
            htmx: false,
            stripe_js: None,
        }
    }

    /// `/sign-in?next=<this page>`.
    pub fn sign_in_href(&self) -> String {
        if self.here == "/" { "/sign-in".to_owned() } else { format!("/sign-in?next={}", url_encode(&self.here)) }
    }
}

/// An order's status as its customer reads it.
pub fn status_label(status: crate::domain::OrderStatus) -> &'static str {
    use crate::domain::OrderStatus;
    match status {
        OrderStatus::PendingPayment => "Waiting for payment",
        OrderStatus::Paid => "Paid",
        OrderStatus::Preparing => "Being prepared",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::OutForDelivery => "Out for delivery",
        OrderStatus::Delivered => "Delivered",
        OrderStatus::Cancelled => "Cancelled",
        OrderStatus::Expired => "Expired: not paid in time",
        OrderStatus::PaymentFailed => "Payment failed",
    }
}

/// Makers' shop names, for product cards (`makers.of(p)`).
#[derive(Debug, Clone, Default)]
pub struct MakerNames(pub std::collections::HashMap<crate::domain::UserId, String>);

impl MakerNames {
    /// The shop name of `product`'s maker.
    pub fn of(&self, product: &crate::domain::Product) -> Option<&str> {
        self.0.get(&product.maker_id).map(String::as_str)
    }

    /// Every maker, by name: `(id, name)`.
    pub fn sorted(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> =
            self.0.iter().map(|(id, name)| (id.as_str().to_owned(), name.clone())).collect();
        all.sort_by_key(|(_, name)| name.to_lowercase());
        all
    }

    /// The names of the makers of `products` (one BatchGetItem).
    pub async fn of_products(app: &crate::App, products: &[crate::domain::Product]) -> crate::Result<Self> {
        let ids: Vec<crate::domain::UserId> = products.iter().map(|p| p.maker_id.clone()).collect();
        Ok(Self(app.store.maker_names(&ids).await?))
    }
}

/// The error page: status, a plain explanation, ways back.
#[derive(askama::Template)]
#[template(path = "web/error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub detail: String,
}

/// `template` as HTML, a 500 if it cannot be rendered.
pub fn render(template: &impl askama::Template) -> Result<String> {
    template.render().map_err(|e| Error::internal("rendering a page", e))
}

/// `value` percent-encoded for a query string.
pub fn url_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Filters the page templates use: `{{ p.price_cents|euros }}`. A page crate brings them
/// into scope with `use shared::web::filters;`.
pub mod filters {
    use std::borrow::Borrow;
    use std::fmt::Display;

    /// Integer cents as euros (`€12.50`).
    #[askama::filter_fn]
    pub fn euros<T: Borrow<u64>>(cents: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(crate::domain::money::euros(*cents.borrow()))
    }

    /// A product's stock as a shopper reads it: "Sold out", "Only 3 left", "In stock".
    #[askama::filter_fn]
    pub fn stock_note<T: Borrow<u64>>(stock: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(match *stock.borrow() {
            0 => "Sold out".to_owned(),
            n @ 1..=5 => format!("Only {n} left"),
            _ => "In stock".to_owned(),
        })
    }

    /// The CSS class of [`stock_note`]: `out`, `low` or `ok`.
    #[askama::filter_fn]
    pub fn stock_class<T: Borrow<u64>>(stock: T, _: &dyn askama::Values) -> askama::Result<&'static str> {
        Ok(match *stock.borrow() {
            0 => "out",
            1..=5 => "low",
            _ => "ok",
        })
    }

    /// A category slug as a heading (`home-decor` → `Home decor`).
    #[askama::filter_fn]
    pub fn title_case<T: Display>(slug: T, _: &dyn askama::Values) -> askama::Result<String> {
        let text = slug.to_string().replace('-', " ");
        let mut chars = text.chars();
        Ok(chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default())
    }

    /// The day of an RFC 3339 timestamp (`2026-12-03`).
    #[askama::filter_fn]
    pub fn day<T: Display>(timestamp: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(timestamp.to_string().chars().take(10).collect())
    }

    /// A value percent-encoded for a URL's query string.
    #[askama::filter_fn]
    pub fn urlencode_query<T: Display>(value: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::url_encode(&value.to_string()))
    }
}
