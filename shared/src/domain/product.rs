use super::photo::{Photo, PhotoId, is_permutation, serialize_photos};
use super::{Check, Timestamp, UserId, non_null, text};
use serde::{Deserialize, Serialize};

super::ulid_id!(
    /// `prd_` + a ULID: unique and time-sortable, so id order is creation order.
    ProductId,
    "prd_"
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Currency {
    Eur,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Active,
    Archived,
    /// Taken down by an admin, with a moderation note: hidden like an archived product,
    /// and only an admin may change it (API.md, "Moderation and makers").
    Removed,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::Removed => "removed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "archived" => Some(Self::Archived),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// A category slug: 1–40 of `a–z 0–9 -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(String);

impl Category {
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok = (1..=40).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(value.to_owned())).ok_or_else(|| "must be 1–40 characters of a–z, 0–9 and -".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const MAX_PRICE_CENTS: u64 = 10_000_000;
pub const MAX_STOCK: u64 = 100_000;
const MAX_IMAGES: usize = 8;
const MAX_URL_LEN: usize = 2048;

fn price(value: i64) -> Result<u64, String> {
    u64::try_from(value)
        .ok()
        .filter(|v| (1..=MAX_PRICE_CENTS).contains(v))
        .ok_or_else(|| format!("must be an integer number of cents from 1 to {MAX_PRICE_CENTS}"))
}

fn stock(value: i64) -> Result<u64, String> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v <= MAX_STOCK)
        .ok_or_else(|| format!("must be an integer from 0 to {MAX_STOCK}"))
}

fn images(check: &mut Check, values: &[String]) -> Option<Vec<String>> {
    if values.len() > MAX_IMAGES {
        check.fail("images", format!("must hold at most {MAX_IMAGES} URLs"));
        return None;
    }
    let mut ok = true;
    for (i, url) in values.iter().enumerate() {
        if let Err(message) = https_url(url) {
            check.fail(&format!("images[{i}]"), message);
            ok = false;
        }
    }
    ok.then(|| values.to_vec())
}

/// An absolute https URL with an ASCII host name (and optionally a port), then an
/// optional path, query or fragment without spaces or control characters — the same rule
/// as `openapi.yaml`'s `ImageUrl`.
fn https_url(url: &str) -> Result<(), String> {
    let message = || format!("must be an https:// URL with a host name, at most {MAX_URL_LEN} characters");
    if url.chars().count() > MAX_URL_LEN {
        return Err(message());
    }
    let rest = url.strip_prefix("https://").ok_or_else(message)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host_ok =
        host.split('.').all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok = port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let tail_ok = !tail.chars().any(|c| c.is_whitespace() || c.is_control());
    if host_ok && port_ok && tail_ok { Ok(()) } else { Err(message()) }
}

fn title(value: &str) -> Result<String, String> {
    text(value, true, 120, false)
}

fn description(value: &str) -> Result<String, String> {
    text(value, false, 5000, true)
}

/// The longest moderation note.
pub const MAX_MODERATION_NOTE: usize = 1000;

fn moderation_note(value: &str) -> Result<String, String> {
    text(value, true, MAX_MODERATION_NOTE, true)
}

/// `POST /products` as the client sends it. Numbers arrive as `i64` so that a negative
/// price is a validation message, not a type error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub price_cents: i64,
    #[serde(default, deserialize_with = "non_null")]
    pub currency: Option<String>,
    pub stock: i64,
    pub category: String,
    #[serde(default)]
    pub images: Vec<String>,
}

/// A product a maker wants to list, checked.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub title: String,
    pub description: String,
    pub price_cents: u64,
    pub currency: Currency,
    pub stock: u64,
    pub category: Category,
    pub images: Vec<String>,
}

impl NewProduct {
    pub fn parse(input: ProductInput) -> crate::Result<Self> {
        let mut check = Check::default();
        let title = check.take("title", title(&input.title));
        let description = check.take("description", description(&input.description));
        let price_cents = check.take("price_cents", price(input.price_cents));
        let currency = match input.currency.as_deref() {
            None | Some("eur") => Some(Currency::Eur),
            Some(_) => {
                check.fail("currency", "must be \"eur\"");
                None
            }
        };
        let stock = check.take("stock", stock(input.stock));
        let category = check.take("category", Category::parse(&input.category));
        let images = images(&mut check, &input.images);
        check.finish(|| {
            Some(Self {
                title: title?,
                description: description?,
                price_cents: price_cents?,
                currency: currency?,
                stock: stock?,
                category: category?,
                images: images?,
            })
        })
    }

    pub fn into_product(self, id: ProductId, maker_id: UserId, now: Timestamp) -> Product {
        Product {
            id,
            maker_id,
            title: self.title,
            description: self.description,
            price_cents: self.price_cents,
            currency: self.currency,
            stock: self.stock,
            category: self.category,
            images: self.images,
            photos: Vec::new(),
            status: ProductStatus::Active,
            moderation_note: None,
            created_at: now.clone(),
            updated_at: now,
            version: 1,
        }
    }
}

/// `PATCH /products/{id}` as the client sends it: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchInput {
    #[serde(default, deserialize_with = "non_null")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub price_cents: Option<i64>,
    #[serde(default, deserialize_with = "non_null")]
    pub stock: Option<i64>,
    #[serde(default, deserialize_with = "non_null")]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub images: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null")]
    pub status: Option<String>,
    /// Why an admin takes the product down: required with `status: "removed"`, and only
    /// with it.
    #[serde(default, deserialize_with = "non_null")]
    pub moderation_note: Option<String>,
    /// The ids of the product's photos in their new order: all of them, each once.
    #[serde(default, deserialize_with = "non_null")]
    pub photo_order: Option<Vec<String>>,
}

/// A checked partial update.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<u64>,
    pub stock: Option<u64>,
    pub category: Option<Category>,
    pub images: Option<Vec<String>>,
    pub status: Option<ProductStatus>,
    /// With `status: Removed` only.
    pub moderation_note: Option<String>,
    /// Checked against the product's photos by [`Product::check_patch`].
    pub photo_order: Option<Vec<String>>,
}

impl ProductPatch {
    pub fn parse(input: ProductPatchInput) -> crate::Result<Self> {
        let mut check = Check::default();
        let mut patch = Self::default();
        let empty = input.title.is_none()
            && input.description.is_none()
            && input.price_cents.is_none()
            && input.stock.is_none()
            && input.category.is_none()
            && input.images.is_none()
            && input.status.is_none()
            && input.moderation_note.is_none()
            && input.photo_order.is_none();
        if empty {
            check.fail("body", "must change at least one field");
        }
        if let Some(v) = input.title {
            patch.title = check.take("title", title(&v));
        }
        if let Some(v) = input.description {
            patch.description = check.take("description", description(&v));
        }
        if let Some(v) = input.price_cents {
            patch.price_cents = check.take("price_cents", price(v));
        }
        if let Some(v) = input.stock {
            patch.stock = check.take("stock", stock(v));
        }
        if let Some(v) = input.category {
            patch.category = check.take("category", Category::parse(&v));
        }
        if let Some(v) = input.images {
            patch.images = images(&mut check, &v);
        }
        if let Some(v) = &input.status {
            patch.status = check.take(
                "status",
                ProductStatus::parse(v).ok_or_else(|| "must be \"active\", \"archived\" or \"removed\"".to_owned()),
            );
        }
        if let Some(order) = input.photo_order {
            if order.len() > super::photo::MAX_PHOTOS || order.iter().any(|id| PhotoId::parse(id).is_none()) {
                check.fail("photo_order", "must list the product's photo ids, each once");
            } else {
                patch.photo_order = Some(order);
            }
        }
        let removing = input.status.as_deref() == Some("removed");
        match &input.moderation_note {
            Some(v) if removing => patch.moderation_note = check.take("moderation_note", moderation_note(v)),
            Some(_) => check.fail("moderation_note", "is given only with status \"removed\""),
            None if removing => check.fail("moderation_note", "is required to take a product down"),
            None => {}
        }
        check.finish(|| Some(patch))
    }

    /// Whether this patch takes a product down.
    pub fn removes(&self) -> bool {
        self.status == Some(ProductStatus::Removed)
    }

    /// Archiving is a patch of the status alone.
    pub fn archive() -> Self {
        Self { status: Some(ProductStatus::Archived), ..Self::default() }
    }
}

/// A product in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub id: ProductId,
    pub maker_id: UserId,
    pub title: String,
    pub description: String,
    pub price_cents: u64,
    pub currency: Currency,
    pub stock: u64,
    pub category: Category,
    pub images: Vec<String>,
    /// Uploaded photos in display order; the response lists the attached ones
    /// ([`super::photo::PhotoView`]).
    #[serde(serialize_with = "serialize_photos")]
    pub photos: Vec<Photo>,
    pub status: ProductStatus,
    /// Why an admin took the product down; only while it is `removed`. Its maker and
    /// admins see it (the public never sees a removed product).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation_note: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Optimistic-concurrency counter, bumped by every write; not part of the API.
    #[serde(skip)]
    pub version: u64,
}

impl Product {
    /// Taken down by an admin (`removed`).
    pub fn is_removed(&self) -> bool {
        self.status == ProductStatus::Removed
    }

    /// What `patch` asks of this product that its shape alone cannot check: a `photo_order`
    /// must name each attached photo exactly once.
    pub fn check_patch(&self, patch: &ProductPatch) -> crate::Result<()> {
        if let Some(order) = &patch.photo_order {
            let current: Vec<&PhotoId> = self.photos.iter().filter(|p| p.is_attached()).map(|p| &p.id).collect();
            if !is_permutation(order, &current) {
                return Err(crate::Error::invalid(
                    "photo_order",
                    "must list every photo of the product exactly once (see its `photos`)",
                ));
            }
        }
        Ok(())
    }

    /// The photos a page can show: attached, with their renditions made, in order.
    pub fn ready_photos(&self) -> Vec<super::photo::PhotoView<'_>> {
        self.photos.iter().filter(|p| p.ready).filter_map(super::photo::PhotoView::of).collect()
    }

    /// The photo `id`, if the product has it.
    pub fn photo(&self, id: &PhotoId) -> Option<&Photo> {
        self.photos.iter().find(|p| &p.id == id)
    }

    /// This product with `patch` applied; `None` when nothing would change.
    pub fn patched(&self, patch: &ProductPatch, now: Timestamp) -> Option<Self> {
        let mut next = self.clone();
        if let Some(v) = &patch.title {
            next.title.clone_from(v);
        }
        if let Some(v) = &patch.description {
            next.description.clone_from(v);
        }
        if let Some(v) = patch.price_cents {
            next.price_cents = v;
        }
        if let Some(v) = patch.stock {
            next.stock = v;
        }
        if let Some(v) = &patch.category {
            next.category = v.clone();
        }
        if let Some(v) = &patch.images {
            next.images.clone_from(v);
        }
        if let Some(order) = &patch.photo_order {
            // Attached photos in the given order; pending ones keep their place after them.
            let (mut attached, pending): (Vec<Photo>, Vec<Photo>) = next.photos.drain(..).partition(Photo::is_attached);
            attached.sort_by_key(|p| order.iter().position(|id| id == p.id.as_str()).unwrap_or(usize::MAX));
            next.photos = attached.into_iter().chain(pending).collect();
        }
        if let Some(v) = patch.status {
            next.status = v;
            // A takedown carries its note; lifting it clears the note.
            next.moderation_note = if v == ProductStatus::Removed { patch.moderation_note.clone() } else { None };
        }
        if next == *self {
            return None;
        }
        next.updated_at = now;
        next.version += 1;
        Some(next)
    }

    /// The words of the title a `q` search matches: lower-case, alphanumeric runs.
    pub fn title_words(&self) -> Vec<String> {
        search_words(&self.title)
    }
}

/// Splits text into lower-case alphanumeric words, without repeats, in order.
pub fn search_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProductInput {
        ProductInput {
            title: "  Oak bowl ".into(),
            description: String::new(),
            price_cents: 4500,
            currency: None,
            stock: 3,
            category: "woodwork".into(),
            images: vec!["https://img.example/bowl.jpg".into()],
        }
    }

    fn fields(result: crate::Result<impl std::fmt::Debug>) -> Vec<String> {
        match result {
            Err(crate::Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn a_valid_product_is_trimmed_and_priced_in_eur() {
        let p = NewProduct::parse(input()).map_err(|e| e.to_string());
        assert_eq!(p.as_ref().map(|p| p.title.as_str()), Ok("Oak bowl"));
        assert_eq!(p.map(|p| p.currency), Ok(Currency::Eur));
    }

    #[test]
    fn every_invalid_field_is_named_at_once() {
        let bad = ProductInput {
            title: " ".into(),
            description: "x".repeat(5001),
            price_cents: 0,
            currency: Some("usd".into()),
            stock: -1,
            category: "Wood Work".into(),
            images: vec!["http://insecure".into(), "https://ok.example/a.png".into(), "https://".into()],
        };
        assert_eq!(
            fields(NewProduct::parse(bad)),
            ["title", "description", "price_cents", "currency", "stock", "category", "images[0]", "images[2]"]
        );
    }

    #[test]
    fn limits_are_inclusive() {
        let mut at_limits = input();
        at_limits.title = "t".repeat(120);
        at_limits.price_cents = MAX_PRICE_CENTS as i64;
        at_limits.stock = MAX_STOCK as i64;
        at_limits.category = "a".repeat(40);
        at_limits.images = vec!["https://a.example/x".into(); 8];
        assert!(NewProduct::parse(at_limits).is_ok());
        let mut over = input();
        over.title = "t".repeat(121);
        over.price_cents = MAX_PRICE_CENTS as i64 + 1;
        over.stock = MAX_STOCK as i64 + 1;
        over.category = "a".repeat(41);
        over.images = vec!["https://a.example/x".into(); 9];
        assert_eq!(fields(NewProduct::parse(over)), ["title", "price_cents", "stock", "category", "images"]);
    }

    #[test]
    fn an_empty_patch_is_refused_and_a_no_op_patch_changes_nothing() {
        assert_eq!(fields(ProductPatch::parse(ProductPatchInput::default())), ["body"]);
        let product = NewProduct::parse(input())
            .map(|p| p.into_product(ProductId::generate(), UserId::new("u"), Timestamp::from_stored("t0".into())));
        let Ok(product) = product else { panic!("valid input") };
        let same = ProductPatch { stock: Some(3), ..ProductPatch::default() };
        assert!(product.patched(&same, Timestamp::from_stored("t1".into())).is_none());
        let next = product.patched(&ProductPatch::archive(), Timestamp::from_stored("t1".into()));
        assert_eq!(next.as_ref().map(|p| (p.status, p.version)), Some((ProductStatus::Archived, 2)));
    }

    #[test]
    fn a_takedown_needs_its_note_and_a_note_needs_a_takedown() {
        let patch = |json: serde_json::Value| {
            ProductPatch::parse(serde_json::from_value::<ProductPatchInput>(json).unwrap_or_default())
        };
        assert_eq!(fields(patch(serde_json::json!({"status": "removed"}))), ["moderation_note"]);
        assert_eq!(fields(patch(serde_json::json!({"moderation_note": "Counterfeit"}))), ["moderation_note"]);
        assert_eq!(
            fields(patch(serde_json::json!({"status": "removed", "moderation_note": " \u{202E}x"}))),
            ["moderation_note"]
        );
        assert_eq!(fields(patch(serde_json::json!({"status": "gone"}))), ["status"]);
        let removal = patch(serde_json::json!({"status": "removed", "moderation_note": " Counterfeit brand. "}));
        let Ok(removal) = removal else { panic!("a takedown with a note is valid") };
        assert!(removal.removes());

        let t = |s: &str| Timestamp::from_stored(s.into());
        let Ok(product) =
            NewProduct::parse(input()).map(|p| p.into_product(ProductId::generate(), UserId::new("u"), t("t0")))
        else {
            panic!("valid input")
        };
        let removed = product.patched(&removal, t("t1"));
        let note = removed.as_ref().and_then(|p| p.moderation_note.as_deref());
        assert_eq!(
            (removed.as_ref().map(|p| p.status), note),
            (Some(ProductStatus::Removed), Some("Counterfeit brand."))
        );
        let lifted = removed.and_then(|p| {
            p.patched(&ProductPatch { status: Some(ProductStatus::Active), ..ProductPatch::default() }, t("t2"))
        });
        assert_eq!(
            lifted.map(|p| (p.status, p.moderation_note)),
            Some((ProductStatus::Active, None)),
            "lifting clears the note"
        );
    }

    #[test]
    fn image_urls_are_https_with_an_ascii_host() {
        for ok in ["https://a.example/x.jpg", "https://img-1.example:8443/p?q=1#f", "https://localhost"] {
            assert_eq!(https_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://a.example/x.jpg",
            "https://",
            "https://[::1]/x",
            "https://bücher.example/x",
            "https://a..example/",
            "https://.example/",
            "https://a.example:port/",
            "https://user@a.example/",
            "https://a.example/has space",
        ] {
            assert!(https_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn product_ids_sort_in_creation_order() {
        let ids: Vec<ProductId> = (0..1000).map(|_| ProductId::generate()).collect();
        assert!(ids.windows(2).all(|w| w[0].as_str() < w[1].as_str()));
    }

    #[test]
    fn product_ids_are_recognised() {
        let id = ProductId::generate();
        assert_eq!(ProductId::parse(id.as_str()), Some(id));
        for bad in ["", "prd_", "prd_not-a-ulid", "ord_01J0000000000000000000000", "prd_01j0000000000000000000000"] {
            assert_eq!(ProductId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn search_words_are_lower_case_and_unique() {
        assert_eq!(search_words("Oak bowl, OAK spoon!"), ["oak", "bowl", "spoon"]);
    }
}
