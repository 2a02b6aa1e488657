//! Catalogue use cases that more than one function needs.

use crate::auth::Principal;
use crate::domain::{Product, ProductId, ProductPatch};
use crate::{App, Error, Result};

/// Optimistic-concurrency retries before a 409: each is one read and one write.
const ATTEMPTS: usize = 3;

/// Applies `patch` to a product its maker (or an admin) manages. Read, check, write only
/// if nobody wrote in between; a lost race retries on the fresh copy, so concurrent edits
/// of different fields all land.
pub async fn edit_product(app: &App, who: &Principal, id: &ProductId, patch: &ProductPatch) -> Result<Product> {
    for _ in 0..ATTEMPTS {
        let current = app.store.get_product(id).await?.ok_or_else(|| Error::not_found("No such product."))?;
        if !who.may_manage(&current.maker_id) {
            return Err(Error::forbidden("Only the product's maker or an admin may change it."));
        }
        let Some(next) = current.patched(patch, app.now()) else { return Ok(current) };
        if app.store.replace_product(&next).await? {
            return Ok(next);
        }
    }
    Err(Error::conflict("The product kept changing while we updated it; try again."))
}
