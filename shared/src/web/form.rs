//! A posted HTML form: `application/x-www-form-urlencoded`, at most 64 KiB, refused unless it
//! comes from this site (cross-site request forgery): the browser's `Origin` (or, without
//! it, `Sec-Fetch-Site`) must be this shop, and the form's `_token` must be the visit's.
//! A refused form is a 403 page and changes nothing.

use super::Visit;
use crate::{Error, FieldError, Result, http};
use lambda_http::Request;

/// Form bodies above this are refused (413): no form of the shop comes near it.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The fields of a posted form, in order (a name may repeat).
#[derive(Debug, Clone, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// The form `req` carries, after the same-site and token checks.
    pub fn read(req: &Request, visit: &Visit<'_>) -> Result<Self> {
        same_site(req, visit.origin())?;
        let form = Self::parse(req)?;
        let token = form.get("_token").unwrap_or_default();
        if token.is_empty() || !visit.form_token_matches(token) {
            return Err(Error::forbidden(
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            ));
        }
        Ok(form)
    }

    /// The fields of a urlencoded body, without the checks (for tests and [`Form::read`]).
    pub fn parse(req: &Request) -> Result<Self> {
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_FORM_BYTES {
            return Err(Error::PayloadTooLarge);
        }
        let content_type = http::header(req, "content-type").unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        if !body.is_empty() && !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(Error::UnsupportedMediaType);
        }
        Ok(Self { fields: form_urlencoded::parse(body).into_owned().collect() })
    }

    /// The first value of `name`, trimmed of surrounding spaces.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim())
    }

    /// The value of `name` or "".
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// Whether a checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty())
    }

    /// The address fields of a form (`name`, `line1`, `line2`, `city`, `postal_code`,
    /// `country`) as the API's `shipping_address` JSON, for the same use cases.
    pub fn address(&self) -> serde_json::Value {
        let mut address = serde_json::json!({
            "name": self.text("name"),
            "line1": self.text("line1"),
            "city": self.text("city"),
            "postal_code": self.text("postal_code"),
            "country": self.text("country").to_uppercase(),
        });
        if let Some(line2) = self.get("line2").filter(|l| !l.is_empty()) {
            address["line2"] = line2.into();
        }
        address
    }

    /// `name` as a whole number in `range`, else a field error in words.
    pub fn number(&self, name: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, FieldError> {
        let raw = self.get(name).unwrap_or_default();
        match raw.parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => {
                Err(FieldError::new(name, format!("Choose a whole number from {} to {}.", range.start(), range.end())))
            }
        }
    }
}

/// An address as a form shows it (every field text, empty when unknown).
#[derive(Debug, Clone, Default)]
pub struct AddressView {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

impl AddressView {
    pub fn of(address: &crate::domain::Address) -> Self {
        Self {
            name: address.name.clone(),
            line1: address.line1.clone(),
            line2: address.line2.clone().unwrap_or_default(),
            city: address.city.clone(),
            postal_code: address.postal_code.clone(),
            country: address.country.clone(),
        }
    }

    /// What was typed, to show the form again.
    pub fn typed(form: &Form) -> Self {
        Self {
            name: form.text("name"),
            line1: form.text("line1"),
            line2: form.text("line2"),
            city: form.text("city"),
            postal_code: form.text("postal_code"),
            country: form.text("country"),
        }
    }
}

/// The messages of a refused form, by field, for the page that shows it again.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(std::collections::HashMap<String, String>);

impl FieldErrors {
    /// The fields a use case refused; `Err` passes on anything that is not a refusal.
    pub fn from_error(err: Error) -> Result<Self> {
        match err {
            // The API names address fields `shipping_address.city`; forms name them `city`.
            Error::Validation(errors) => Ok(Self(
                errors
                    .into_iter()
                    .map(|e| {
                        let field = e.field.strip_prefix("shipping_address.").unwrap_or(&e.field).to_owned();
                        (field, sentence(&e.message))
                    })
                    .collect(),
            )),
            other => Err(other),
        }
    }

    pub fn one(field: &str, message: impl Into<String>) -> Self {
        Self([(field.to_owned(), message.into())].into())
    }

    /// Adds (or replaces) the message for `field`.
    pub fn insert(&mut self, field: &str, message: impl Into<String>) {
        self.0.insert(field.to_owned(), message.into());
    }

    /// The message for `from` now shown for `to` (the API's `price_cents` is a form's `price`).
    pub fn rename(mut self, from: &str, to: &str) -> Self {
        if let Some(message) = self.0.remove(from) {
            self.0.insert(to.to_owned(), message);
        }
        self
    }

    /// The message for `field`, or "" (templates show nothing for "").
    pub fn get(&self, field: &str) -> &str {
        self.0.get(field).map_or("", String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every message, for the summary at the top of a form.
    pub fn messages(&self) -> Vec<&str> {
        self.0.values().map(String::as_str).collect()
    }
}

/// An API validation message as a sentence for the form (`must be …` → `This must be …`).
fn sentence(message: &str) -> String {
    let mut text = if message.starts_with("must ") || message.starts_with("is ") {
        format!("This {message}")
    } else {
        message.to_owned()
    };
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

/// Refuses a request that a browser says came from another site. `Origin` is sent with
/// every POST by current browsers; `Sec-Fetch-Site` by all that lack it. Neither (a script
/// or an old browser) passes here, and then the form token alone decides.
pub fn same_site(req: &Request, origin: &str) -> Result<()> {
    let cross =
        || Error::forbidden("This form was sent from another site, so nothing was done. Use the form on this site.");
    match http::header(req, "origin") {
        Some(sent) if sent.eq_ignore_ascii_case(origin) => Ok(()),
        Some(_) => Err(cross()),
        None => match http::header(req, "sec-fetch-site") {
            None | Some("same-origin" | "none") => Ok(()),
            Some(_) => Err(cross()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;
    use lambda_http::http::HeaderValue;

    fn post(headers: &[(&'static str, &'static str)], body: &str) -> Request {
        let mut req = Request::new(Body::Text(body.to_owned()));
        for (name, value) in headers {
            req.headers_mut().insert(*name, HeaderValue::from_static(value));
        }
        req
    }

    #[test]
    fn only_this_sites_origin_passes() {
        let origin = "https://shop.example";
        assert!(same_site(&post(&[("origin", "https://shop.example")], ""), origin).is_ok());
        assert!(same_site(&post(&[("origin", "https://evil.example")], ""), origin).is_err());
        assert!(same_site(&post(&[("origin", "null")], ""), origin).is_err());
        assert!(same_site(&post(&[("sec-fetch-site", "cross-site")], ""), origin).is_err());
        assert!(same_site(&post(&[("sec-fetch-site", "same-site")], ""), origin).is_err());
        assert!(same_site(&post(&[("sec-fetch-site", "same-origin")], ""), origin).is_ok());
        assert!(same_site(&post(&[], ""), origin).is_ok());
    }

    #[test]
    fn a_form_is_urlencoded_and_small() {
        let form = Form::parse(&post(
            &[("content-type", "application/x-www-form-urlencoded")],
            "q=blue+bowl&n=3&n=4&name=%3Cscript%3E",
        ));
        let form = form.unwrap_or_default();
        assert_eq!(form.get("q"), Some("blue bowl"));
        assert_eq!(form.get("n"), Some("3"));
        assert_eq!(form.get("name"), Some("<script>"));
        assert_eq!(form.number("n", 1..=100).ok(), Some(3));
        assert!(form.number("q", 1..=100).is_err());
        assert!(matches!(
            Form::parse(&post(&[("content-type", "application/json")], "{}")),
            Err(Error::UnsupportedMediaType)
        ));
        let big = "a=".to_owned() + &"x".repeat(MAX_FORM_BYTES);
        assert!(matches!(
            Form::parse(&post(&[("content-type", "application/x-www-form-urlencoded")], &big)),
            Err(Error::PayloadTooLarge)
        ));
    }
}
