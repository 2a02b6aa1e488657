//! A shopping cart: which products, how many of each, and the price each was added at (to
//! tell the shopper when a price changed since). The same limits as an order's lines, so
//! that a cart can always become an order.

use super::ProductId;
use serde::{Deserialize, Serialize};

/// Most lines in a cart: an order takes at most 50.
pub const MAX_LINES: usize = 50;
/// Most units of one product: an order line takes at most 100.
pub const MAX_QUANTITY: u32 = 100;

/// One product in a cart. Serialized as a compact `[id, quantity, price_cents]`, since a
/// visitor's cart rides in a cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine(pub ProductId, pub u32, pub u64);

impl CartLine {
    pub fn product_id(&self) -> &ProductId {
        &self.0
    }
    pub fn quantity(&self) -> u32 {
        self.1
    }
    /// The unit price when the line was added or last confirmed.
    pub fn seen_price_cents(&self) -> u64 {
        self.2
    }
}

/// What changing a cart can refuse, each with a sentence for the shopper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartRefusal {
    Quantity,
    TooManyLines,
}

impl CartRefusal {
    pub fn message(&self) -> String {
        match self {
            Self::Quantity => format!("Choose a quantity from 1 to {MAX_QUANTITY}."),
            Self::TooManyLines => format!("A cart holds at most {MAX_LINES} different products."),
        }
    }
}

/// The lines of a cart, valid by construction: quantities 1–100, at most 50 lines, no
/// product twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    lines: Vec<CartLine>,
}

impl Cart {
    /// The valid lines among `lines` (a stored or sealed cart is trusted only this far).
    pub fn from_lines(lines: Vec<CartLine>) -> Self {
        let mut cart = Self::default();
        for line in lines {
            if (1..=MAX_QUANTITY).contains(&line.1)
                && cart.lines.len() < MAX_LINES
                && !cart.lines.iter().any(|l| l.0 == line.0)
            {
                cart.lines.push(line);
            }
        }
        cart
    }

    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    pub fn into_lines(self) -> Vec<CartLine> {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Units in the cart.
    pub fn units(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.1)).sum()
    }

    /// Adds `quantity` units of `product` (at `price_cents`), on top of those already in.
    pub fn add(&mut self, product: &ProductId, quantity: u32, price_cents: u64) -> Result<(), CartRefusal> {
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(CartRefusal::Quantity);
        }
        if let Some(line) = self.lines.iter_mut().find(|l| &l.0 == product) {
            line.1 = line.1.saturating_add(quantity).min(MAX_QUANTITY);
            line.2 = price_cents;
            return Ok(());
        }
        if self.lines.len() >= MAX_LINES {
            return Err(CartRefusal::TooManyLines);
        }
        self.lines.push(CartLine(product.clone(), quantity, price_cents));
        Ok(())
    }

    /// Sets the units of a product already in the cart; `false` when it is not in it.
    pub fn set(&mut self, product: &ProductId, quantity: u32) -> Result<bool, CartRefusal> {
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(CartRefusal::Quantity);
        }
        Ok(self.lines.iter_mut().find(|l| &l.0 == product).map(|line| line.1 = quantity).is_some())
    }

    /// Takes a product out; `false` when it was not in.
    pub fn remove(&mut self, product: &ProductId) -> bool {
        let before = self.lines.len();
        self.lines.retain(|l| &l.0 != product);
        self.lines.len() != before
    }

    /// Records the price now shown for `product`, so that a changed price is told once.
    pub fn confirm_price(&mut self, product: &ProductId, price_cents: u64) {
        if let Some(line) = self.lines.iter_mut().find(|l| &l.0 == product) {
            line.2 = price_cents;
        }
    }

    /// A visitor's cart merged into an account's at sign-in: the units of a product in both
    /// add up (at most 100), new products join while there is room.
    pub fn merge(&mut self, other: Cart) {
        for line in other.lines {
            // Only a full cart refuses, and then the line is left out.
            let _ = self.add(&line.0, line.1, line.2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ProductId {
        ProductId::parse(&format!("prd_01JAAAAAAAAAAAAAAAAAAAAA{:02}", n)).unwrap_or_else(ProductId::generate)
    }

    #[test]
    fn adding_a_product_twice_adds_up_its_units_within_the_limit() {
        let mut cart = Cart::default();
        assert_eq!(cart.add(&id(1), 2, 500), Ok(()));
        assert_eq!(cart.add(&id(1), 3, 600), Ok(()));
        assert_eq!(cart.lines(), &[CartLine(id(1), 5, 600)]);
        assert_eq!(cart.add(&id(1), 100, 600), Ok(()));
        assert_eq!(cart.lines()[0].quantity(), MAX_QUANTITY);
        assert_eq!(cart.add(&id(2), 0, 1), Err(CartRefusal::Quantity));
        assert_eq!(cart.add(&id(2), 101, 1), Err(CartRefusal::Quantity));
        assert_eq!(cart.units(), 100);
    }

    #[test]
    fn quantities_are_set_and_lines_removed_only_within_the_rules() {
        let mut cart = Cart::default();
        assert_eq!(cart.add(&id(1), 1, 500), Ok(()));
        assert_eq!(cart.set(&id(1), 7), Ok(true));
        assert_eq!(cart.set(&id(2), 7), Ok(false));
        assert_eq!(cart.set(&id(1), 0), Err(CartRefusal::Quantity));
        assert_eq!(cart.set(&id(1), 1000), Err(CartRefusal::Quantity));
        assert_eq!(cart.lines()[0].quantity(), 7);
        assert!(cart.remove(&id(1)));
        assert!(!cart.remove(&id(1)));
        assert!(cart.is_empty());
    }

    #[test]
    fn a_cart_holds_at_most_fifty_products_and_stored_lines_are_checked() {
        let mut cart = Cart::default();
        for n in 0..50 {
            assert_eq!(cart.add(&id(n), 1, 100), Ok(()));
        }
        assert_eq!(cart.add(&id(60), 1, 100), Err(CartRefusal::TooManyLines));
        let stored = Cart::from_lines(vec![
            CartLine(id(1), 0, 1),
            CartLine(id(2), 101, 1),
            CartLine(id(3), 2, 1),
            CartLine(id(3), 4, 1),
        ]);
        assert_eq!(stored.lines(), &[CartLine(id(3), 2, 1)]);
    }

    #[test]
    fn merging_a_visitors_cart_adds_up_units() {
        let mut account = Cart::from_lines(vec![CartLine(id(1), 2, 100)]);
        account.merge(Cart::from_lines(vec![CartLine(id(1), 99, 120), CartLine(id(2), 1, 300)]));
        assert_eq!(account.lines(), &[CartLine(id(1), 100, 120), CartLine(id(2), 1, 300)]);
    }
}
