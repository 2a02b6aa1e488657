//! A cart as the shopper sees it: every line priced from the catalogue at each view, with a
//! note when a price changed since it was added, a product sold out, has fewer units left
//! than the cart holds, or is no longer for sale.

use crate::domain::{Cart, Product, ProductId, ProductStatus, euros};
use crate::store::Read;
use crate::{App, Result};
use std::collections::HashMap;

/// One line, priced now.
#[derive(Debug, Clone)]
pub struct LineView {
    pub product_id: String,
    pub title: String,
    pub maker_id: String,
    pub image: Option<String>,
    pub unit_price_cents: u64,
    pub quantity: u32,
    pub subtotal_cents: u64,
    /// Units the shop has now (0 when the product is gone).
    pub stock: u64,
    /// Whether this line can be ordered as it stands.
    pub orderable: bool,
    /// What changed, in words.
    pub note: Option<String>,
}

/// The whole cart, priced now.
#[derive(Debug, Clone, Default)]
pub struct CartView {
    pub lines: Vec<LineView>,
    pub total_cents: u64,
    pub units: u64,
    /// Every line can be ordered.
    pub orderable: bool,
}

/// `cart` priced from the catalogue (one BatchGetItem). Seen prices are brought up to date
/// in `cart`, so that a change is told once; the caller saves it when `true` is returned.
pub async fn view(app: &App, cart: &mut Cart) -> Result<(CartView, bool)> {
    let ids: Vec<ProductId> = cart.lines().iter().map(|l| l.product_id().clone()).collect();
    let products: HashMap<ProductId, Product> =
        app.store.get_products(&ids, Read::Recent).await?.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mut view = CartView { orderable: !cart.is_empty(), ..CartView::default() };
    let mut confirm = Vec::new();
    for line in cart.lines() {
        let product = products.get(line.product_id()).filter(|p| p.status == ProductStatus::Active);
        let Some(product) = product else {
            view.orderable = false;
            view.lines.push(LineView {
                product_id: line.product_id().as_str().to_owned(),
                title: "A product no longer for sale".to_owned(),
                maker_id: String::new(),
                image: None,
                unit_price_cents: line.seen_price_cents(),
                quantity: line.quantity(),
                subtotal_cents: 0,
                stock: 0,
                orderable: false,
                note: Some("This product is no longer for sale. Remove it to check out.".to_owned()),
            });
            continue;
        };
        let quantity = line.quantity();
        let mut note = None;
        if product.price_cents != line.seen_price_cents() {
            note = Some(format!(
                "The price changed from {} to {} since you added it.",
                euros(line.seen_price_cents()),
                euros(product.price_cents)
            ));
            confirm.push((product.id.clone(), product.price_cents));
        }
        let orderable = product.stock >= u64::from(quantity);
        if product.stock == 0 {
            note = Some("Sold out. Remove it to check out, or come back later.".to_owned());
        } else if !orderable {
            note = Some(format!("Only {} left: lower the quantity to check out.", product.stock));
        }
        let subtotal = product.price_cents * u64::from(quantity);
        view.orderable &= orderable;
        view.total_cents += subtotal;
        view.units += u64::from(quantity);
        view.lines.push(LineView {
            product_id: product.id.as_str().to_owned(),
            title: product.title.clone(),
            maker_id: product.maker_id.as_str().to_owned(),
            image: product.images.first().cloned(),
            unit_price_cents: product.price_cents,
            quantity,
            subtotal_cents: subtotal,
            stock: product.stock,
            orderable,
            note,
        });
    }
    let changed = !confirm.is_empty();
    for (id, price) in confirm {
        cart.confirm_price(&id, price);
    }
    Ok((view, changed))
}
