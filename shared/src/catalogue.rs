//! Catalogue use cases that more than one function needs.

use crate::auth::Principal;
use crate::domain::{
    Category, MAX_PRICE_CENTS, NewProduct, Product, ProductId, ProductInput, ProductPatch, UserId, search_words,
};
use crate::store::{ProductFilter, Read, StatusFilter};
use crate::{App, Error, FieldError, Result, notify};

/// Optimistic-concurrency retries before a 409: each is one read and one write.
const ATTEMPTS: usize = 3;

/// Applies `patch` to a product its maker (or an admin) manages. Read, check, write only
/// if nobody wrote in between; a lost race retries on the fresh copy, so concurrent edits
/// of different fields all land.
///
/// Moderation (API.md): only an admin takes a product down (`removed`, with a note) or
/// lifts a takedown, and a removed product's maker may not change it at all. Neither
/// happens here but through [`moderate_product`], which tells the maker: an edit that
/// would take a product down or lift a takedown (an admin archiving a removed product) is a
/// 409 that says so.
pub async fn edit_product(app: &App, who: &Principal, id: &ProductId, patch: &ProductPatch) -> Result<Product> {
    edit(app, who, id, patch, false).await.map(|(_, after)| after)
}

/// [`edit_product`] that may also take the product down or lift its takedown (an admin's
/// `PATCH /products/{id}` and the admin desk), and then emails the maker: at most once per
/// moderation, and never the admin's failure (the moderation stands; the log says why, and
/// the same request again retries the email).
pub async fn moderate_product(app: &App, who: &Principal, id: &ProductId, patch: &ProductPatch) -> Result<Product> {
    let (before, after) = edit(app, who, id, patch, true).await?;
    let moderated = if after.is_removed() {
        // A takedown, a new note, or the same takedown again (unchanged: its email is sent
        // if it had failed, the marker stopping a second one).
        !before.is_removed() || before.moderation_note != after.moderation_note || before.version == after.version
    } else {
        before.is_removed()
    };
    if moderated {
        match notify::product_moderated(app, &after).await {
            Ok(delivery) => tracing::info!(product_id = after.id.as_str(), ?delivery, "maker told of a moderation"),
            Err(e) => tracing::error!(
                product_id = after.id.as_str(),
                error = %e,
                "the maker's moderation email failed; the same request again retries it"
            ),
        }
    }
    Ok(after)
}

/// The product before and after `patch`: the same when it changed nothing.
async fn edit(
    app: &App,
    who: &Principal,
    id: &ProductId,
    patch: &ProductPatch,
    moderation: bool,
) -> Result<(Product, Product)> {
    for _ in 0..ATTEMPTS {
        let current =
            app.store.get_product(id, Read::Latest).await?.ok_or_else(|| Error::not_found("No such product."))?;
        may_edit(who, &current, patch)?;
        current.check_patch(patch)?;
        let Some(next) = current.patched(patch, app.now()) else { return Ok((current.clone(), current)) };
        if !moderation {
            not_a_moderation(&current, &next)?;
        }
        if app.store.replace_product(&current, &next).await? {
            return Ok((current, next));
        }
    }
    Err(Error::conflict("The product kept changing while we updated it; try again."))
}

/// A 409 for an edit that would take `before` down or lift its takedown.
fn not_a_moderation(before: &Product, after: &Product) -> Result<()> {
    if before.is_removed() == after.is_removed() {
        return Ok(());
    }
    Err(Error::conflict(
        "This product is taken down: lift the takedown on the admin desk (or PATCH its status) before anything else.",
    ))
}

/// Lists a new product for `who`, a maker now (`POST /products` and the studio's form).
pub async fn create_product(app: &App, who: &Principal, input: ProductInput) -> Result<Product> {
    who.require_maker()?;
    let product = NewProduct::parse(input)?.into_product(ProductId::generate(), who.user_id.clone(), app.now());
    app.store.create_product(&product, &who.username).await?;
    Ok(product)
}

/// [`edit_product`] for a person who saw the product at version `seen` (the studio's edit
/// form): if anyone wrote it since, nothing is written and the answer is a conflict that
/// says so, so that a save from a stale tab never silently overwrites another's edit. The
/// API's `PATCH` merges field by field instead: its clients send only what they change.
pub async fn edit_seen_product(
    app: &App,
    who: &Principal,
    id: &ProductId,
    patch: &ProductPatch,
    seen: u64,
) -> Result<Product> {
    let current = app.store.get_product(id, Read::Latest).await?.ok_or_else(|| Error::not_found("No such product."))?;
    may_edit(who, &current, patch)?;
    current.check_patch(patch)?;
    if current.version != seen {
        return Err(stale_edit());
    }
    let Some(next) = current.patched(patch, app.now()) else { return Ok(current) };
    not_a_moderation(&current, &next)?;
    if app.store.replace_product(&current, &next).await? { Ok(next) } else { Err(stale_edit()) }
}

fn stale_edit() -> Error {
    Error::conflict(
        "This product was changed elsewhere (another tab or an admin) since you opened it, so your changes were not \
         saved. The form now shows the product as it is; make your changes again.",
    )
}

/// Whether `who` may apply `patch` to `product`: its maker (in the `makers` group now) or
/// an admin; takedowns and removed products are for admins only.
pub fn may_edit(who: &Principal, product: &Product, patch: &ProductPatch) -> Result<()> {
    if who.is_admin() {
        return Ok(());
    }
    if who.user_id != product.maker_id {
        return Err(Error::forbidden("Only the product's maker or an admin may change it."));
    }
    who.require_maker()?;
    if product.is_removed() {
        return Err(Error::forbidden(
            "An admin took this product down; it cannot be changed. Read the moderation note, and contact us to appeal.",
        ));
    }
    if patch.removes() {
        return Err(Error::forbidden("Only an admin may take a product down."));
    }
    Ok(())
}

/// Longest search text (`q`) a list takes.
pub const MAX_QUERY_CHARS: usize = 200;

/// The filters of a product list, read through `get` (a query-string lookup), every invalid
/// one named: `category`, `maker_id`, `status`, `q`, `min_price_cents`, `max_price_cents`.
/// The API's `GET /products` and the shop's search page read their filters here.
pub fn product_filter<'q>(get: impl Fn(&str) -> Option<&'q str>) -> Result<ProductFilter> {
    let mut errors = Vec::new();
    let mut filter = ProductFilter::default();
    if let Some(category) = get("category") {
        match Category::parse(category) {
            Ok(c) => filter.category = Some(c),
            Err(message) => errors.push(FieldError::new("category", message)),
        }
    }
    if let Some(maker) = get("maker_id") {
        match UserId::parse(maker) {
            Some(m) => filter.maker_id = Some(m),
            None => errors.push(FieldError::new("maker_id", "is not a maker id")),
        }
    }
    if let Some(status) = get("status") {
        match StatusFilter::parse(status) {
            Some(s) => filter.status = s,
            None => errors.push(FieldError::new("status", "must be active, archived, removed or all")),
        }
    }
    if let Some(q) = get("q") {
        filter.words = search_words(q);
        if q.chars().count() > MAX_QUERY_CHARS {
            errors.push(FieldError::new("q", format!("must be at most {MAX_QUERY_CHARS} characters")));
        }
    }
    for (name, slot) in
        [("min_price_cents", &mut filter.min_price_cents), ("max_price_cents", &mut filter.max_price_cents)]
    {
        if let Some(raw) = get(name) {
            match raw.trim().parse::<u64>() {
                Ok(n) if n <= MAX_PRICE_CENTS => *slot = Some(n),
                _ => errors.push(FieldError::new(name, format!("must be an integer from 0 to {MAX_PRICE_CENTS}"))),
            }
        }
    }
    if errors.is_empty() { Ok(filter) } else { Err(Error::Validation(errors)) }
}

/// One page of products matching `filter`, newest first, from a sealed `cursor`, with the
/// cursor of the next page (sealed for this filter). An empty price range reads nothing.
pub async fn list_products(
    app: &App,
    filter: &ProductFilter,
    limit: usize,
    cursor: Option<&str>,
) -> Result<(Vec<Product>, Option<String>)> {
    let secret = app.cursor_secret().await?;
    let scope = filter.scope();
    let start = cursor.map(|c| crate::http::cursor::decode(secret, &scope, c)).transpose()?;
    if let (Some(min), Some(max)) = (filter.min_price_cents, filter.max_price_cents)
        && min > max
    {
        return Ok((Vec::new(), None));
    }
    let page = app.store.list_products(filter, limit, start).await?;
    let next = page.next.map(|key| crate::http::cursor::encode(secret, &scope, &key));
    Ok((page.items, next))
}
