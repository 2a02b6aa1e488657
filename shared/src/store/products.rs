//! Products: the catalogue, its indexes and a maker's edits.

use super::item::{Item, get_n, get_opt_s, get_s, get_string_list, n, s, string_list};
use super::query::IndexQuery;
use super::{Read, Store, is_condition_failure, sdk};
use crate::domain::{
    Category, Currency, Photo, PhotoId, PhotoState, PhotoType, Product, ProductId, ProductStatus, Timestamp, UserId,
};
use crate::http::cursor::Key;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, Put, Select, TransactWriteItem, Update};
use std::collections::HashMap;

const CATALOG: &str = "CATALOG";
const PRODUCT_SK: &str = "PRODUCT";
const STOCK_SK: &str = "STOCK";

pub(super) fn product_key(id: &ProductId) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("PRODUCT#{}", id.as_str()))), ("sk".to_owned(), s(PRODUCT_SK))])
}

/// The key of a product's stock item, `PRODUCT#<id>` / `STOCK`.
pub(super) fn stock_key(id: &ProductId) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("PRODUCT#{}", id.as_str()))), ("sk".to_owned(), s(STOCK_SK))])
}

/// A product's stock item: the units a reservation takes, kept apart from the product so
/// that an order (or its release) writes ~100 bytes and no index, instead of rewriting the
/// whole product into `gsi1`, `gsi2` and `gsi3`. It also carries the two facts a
/// reservation checks, `status` and `price_cents`, copied from the product by every write
/// that changes them ([`Store::replace_product`]), so that a reservation touches this item
/// alone.
fn stock_item(p: &Product) -> Item {
    let mut item = stock_key(&p.id);
    item.extend([
        ("entity".to_owned(), s("stock")),
        ("stock".to_owned(), n(p.stock)),
        ("status".to_owned(), s(p.status.as_str())),
        ("price_cents".to_owned(), n(p.price_cents)),
    ]);
    item
}

/// The products among `items` (product and stock items, in any order), each with the
/// stock of its stock item. A product stored before stock had its own item keeps the
/// `stock` it carries.
pub(super) fn joined_products(items: Vec<Item>) -> Result<Vec<Product>> {
    let sk = |item: &Item| item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let pk = |item: &Item| item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let (stocks, products): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|i| sk(i) == STOCK_SK);
    let stock_of: HashMap<String, u64> =
        stocks.iter().map(|i| Ok((pk(i), get_n(i, "stock")?))).collect::<Result<_>>()?;
    products
        .iter()
        .filter(|i| sk(i) == PRODUCT_SK)
        .map(|item| {
            let mut product = from_item(item)?;
            if let Some(stock) = stock_of.get(&pk(item)) {
                product.stock = *stock;
            }
            Ok(product)
        })
        .collect()
}

fn to_item(p: &Product) -> Item {
    let mut item = product_key(&p.id);
    let active = p.status == ProductStatus::Active;
    item.extend([
        ("entity".to_owned(), s("product")),
        ("id".to_owned(), s(p.id.as_str())),
        ("maker_id".to_owned(), s(p.maker_id.as_str())),
        ("title".to_owned(), s(&p.title)),
        ("description".to_owned(), s(&p.description)),
        ("price_cents".to_owned(), n(p.price_cents)),
        ("currency".to_owned(), s("eur")),
        ("category".to_owned(), s(p.category.as_str())),
        ("images".to_owned(), string_list(&p.images)),
        ("photos".to_owned(), AttributeValue::L(p.photos.iter().map(photo_to_value).collect())),
        ("status".to_owned(), s(p.status.as_str())),
        ("created_at".to_owned(), s(p.created_at.as_str())),
        ("updated_at".to_owned(), s(p.updated_at.as_str())),
        ("version".to_owned(), n(p.version)),
        ("gsi2pk".to_owned(), s(format!("MAKER#{}", p.maker_id.as_str()))),
        ("gsi2sk".to_owned(), s(format!("{}{}", maker_sort_prefix(p.status), p.id.as_str()))),
    ]);
    if let Some(note) = &p.moderation_note {
        item.insert("moderation_note".to_owned(), s(note));
    }
    let words = p.title_words();
    if !words.is_empty() {
        item.insert("title_words".to_owned(), AttributeValue::Ss(words));
    }
    if active {
        item.extend([
            ("gsi1pk".to_owned(), s(CATALOG)),
            ("gsi1sk".to_owned(), s(p.id.as_str())),
            ("gsi3pk".to_owned(), s(format!("CATEGORY#{}", p.category.as_str()))),
            ("gsi3sk".to_owned(), s(p.id.as_str())),
        ]);
    }
    item
}

pub(super) fn from_item(item: &Item) -> Result<Product> {
    let corrupt = |what: &str| Error::internal("reading a stored product", format!("invalid {what}"));
    Ok(Product {
        id: ProductId::parse(&get_s(item, "id")?).ok_or_else(|| corrupt("id"))?,
        maker_id: UserId::new(get_s(item, "maker_id")?),
        title: get_s(item, "title")?,
        description: get_s(item, "description")?,
        price_cents: get_n(item, "price_cents")?,
        currency: Currency::Eur,
        // On the stock item ([`joined_products`]); here only on products stored before it.
        stock: get_n(item, "stock").unwrap_or(0),
        category: Category::parse(&get_s(item, "category")?).map_err(|_| corrupt("category"))?,
        images: get_string_list(item, "images")?,
        photos: match item.get("photos") {
            None => Vec::new(),
            Some(list) => {
                list.as_l().map_err(|_| corrupt("photos"))?.iter().map(photo_from_value).collect::<Result<_>>()?
            }
        },
        status: ProductStatus::parse(&get_s(item, "status")?).ok_or_else(|| corrupt("status"))?,
        moderation_note: get_opt_s(item, "moderation_note"),
        created_at: Timestamp::from_stored(get_s(item, "created_at")?),
        updated_at: Timestamp::from_stored(get_s(item, "updated_at")?),
        version: get_n(item, "version")?,
    })
}

/// One photo, as a map in the product's `photos` list (display order): `id`, `content_type`,
/// `created_at`, `state` (`pending` | `attached`), `ready`, and for an attached one its
/// `width`, `height` and `base_url`.
fn photo_to_value(photo: &Photo) -> AttributeValue {
    let mut map = HashMap::from([
        ("id".to_owned(), s(photo.id.as_str())),
        ("content_type".to_owned(), s(photo.content_type.mime())),
        ("created_at".to_owned(), s(photo.created_at.as_str())),
        ("ready".to_owned(), AttributeValue::Bool(photo.ready)),
    ]);
    match &photo.state {
        PhotoState::Pending => {
            map.insert("state".to_owned(), s("pending"));
        }
        PhotoState::Attached { width, height, base_url } => {
            map.extend([
                ("state".to_owned(), s("attached")),
                ("width".to_owned(), n(u64::from(*width))),
                ("height".to_owned(), n(u64::from(*height))),
                ("base_url".to_owned(), s(base_url)),
            ]);
        }
    }
    AttributeValue::M(map)
}

fn photo_from_value(value: &AttributeValue) -> Result<Photo> {
    let corrupt = |what: &str| Error::internal("reading a stored photo", format!("invalid {what}"));
    let item = value.as_m().map_err(|_| corrupt("photo"))?;
    let side = |name: &str| get_n(item, name).and_then(|v| u32::try_from(v).map_err(|_| corrupt(name)));
    let state = match get_s(item, "state")?.as_str() {
        "pending" => PhotoState::Pending,
        "attached" => {
            PhotoState::Attached { width: side("width")?, height: side("height")?, base_url: get_s(item, "base_url")? }
        }
        _ => return Err(corrupt("state")),
    };
    Ok(Photo {
        id: PhotoId::parse(&get_s(item, "id")?).ok_or_else(|| corrupt("id"))?,
        content_type: PhotoType::parse(&get_s(item, "content_type")?).ok_or_else(|| corrupt("content_type"))?,
        created_at: Timestamp::from_stored(get_s(item, "created_at")?),
        state,
        ready: super::item::get_bool(item, "ready"),
    })
}

/// How `gsi2sk` starts for a product with `status`, so that one `begins_with` finds a
/// maker's products of one status.
fn maker_sort_prefix(status: ProductStatus) -> &'static str {
    match status {
        ProductStatus::Active => "A#",
        ProductStatus::Archived => "X#",
        ProductStatus::Removed => "R#",
    }
}

/// Which statuses a list shows. Only a maker's own list (or an admin) may ask for more
/// than active products; the handler enforces that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFilter {
    #[default]
    Active,
    Archived,
    Removed,
    All,
}

impl StatusFilter {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "archived" => Some(Self::Archived),
            "removed" => Some(Self::Removed),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::Removed => "removed",
            Self::All => "all",
        }
    }

    /// The `gsi2sk` prefix of a maker's products with this status.
    fn maker_prefix(self) -> &'static str {
        match self {
            Self::Active => maker_sort_prefix(ProductStatus::Active),
            Self::Archived => maker_sort_prefix(ProductStatus::Archived),
            Self::Removed => maker_sort_prefix(ProductStatus::Removed),
            Self::All => "",
        }
    }
}

/// What `GET /products` asks for. Public lists show active products only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    pub category: Option<Category>,
    pub maker_id: Option<UserId>,
    /// Anything but `Active` needs `maker_id`.
    pub status: StatusFilter,
    /// Lower-case words that must all be in the title.
    pub words: Vec<String>,
    pub min_price_cents: Option<u64>,
    pub max_price_cents: Option<u64>,
}

impl ProductFilter {
    /// A canonical rendering, which a cursor is bound to.
    pub fn scope(&self) -> String {
        format!(
            "products|s={}|m={}|c={}|q={}|min={}|max={}",
            self.status.as_str(),
            self.maker_id.as_ref().map(UserId::as_str).unwrap_or_default(),
            self.category.as_ref().map(Category::as_str).unwrap_or_default(),
            self.words.join(" "),
            self.min_price_cents.map(|v| v.to_string()).unwrap_or_default(),
            self.max_price_cents.map(|v| v.to_string()).unwrap_or_default(),
        )
    }
}

/// One page of a list and where the next one starts.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Key>,
}

impl Store {
    /// A product with its stock: one BatchGetItem of its two items. `Read::Latest` for a
    /// read that an edit writes back; `Read::Recent` for one that only shows it (a product
    /// page: checkout reads again, consistently, before it reserves anything).
    pub async fn get_product(&self, id: &ProductId, read: Read) -> Result<Option<Product>> {
        let items = self.batch_get_read(vec![product_key(id), stock_key(id)], read, "reading a product").await?;
        Ok(joined_products(items)?.pop())
    }

    /// The products among `ids` that exist, with their stock, in one BatchGetItem per 50
    /// products (a cart's view, the sitemap's neighbours).
    pub async fn get_products(&self, ids: &[ProductId], read: Read) -> Result<Vec<Product>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = ids.to_vec();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids.dedup();
        let keys = ids.iter().flat_map(|id| [product_key(id), stock_key(id)]).collect();
        joined_products(self.batch_get_read(keys, read, "reading products").await?)
    }

    /// Writes a new product and, in the same transaction, marks its maker's profile as a
    /// shop (creating the profile if the maker never opened `/me`).
    pub async fn create_product(&self, product: &Product, maker_username: &str) -> Result<()> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(product)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(sdk("building a product write"))?;
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(super::profiles::profile_key(&product.maker_id)))
            .update_expression(
                "SET is_maker = :t, entity = :entity, user_id = :uid, \
                 username = if_not_exists(username, :username), \
                 display_name = if_not_exists(display_name, :username), \
                 created_at = if_not_exists(created_at, :now), updated_at = if_not_exists(updated_at, :now)",
            )
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":entity", s("profile"))
            .expression_attribute_values(":uid", s(product.maker_id.as_str()))
            .expression_attribute_values(":username", s(maker_username))
            .expression_attribute_values(":now", s(product.created_at.as_str()))
            .build()
            .map_err(sdk("building a profile update"))?;
        // Two creates by one maker at once both touch the profile, and DynamoDB cancels one
        // of the transactions (TransactionConflict). That is a retry, not a failure.
        let stock = Put::builder()
            .table_name(&self.table)
            .set_item(Some(stock_item(product)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(sdk("building a stock write"))?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().put(stock).build(),
            TransactWriteItem::builder().update(profile).build(),
        ];
        self.transact_retrying(items, "creating a product", |_| false).await.map(|_| ())
    }

    /// Replaces `before` with `next` if nobody wrote the product since `before` was read
    /// (its `version`). `Ok(false)` when someone did: read again and retry. A change of
    /// stock, status or price also updates the stock item, in the same transaction; a new
    /// stock only if no order took or gave back units since `before.stock` was read.
    pub async fn replace_product(&self, before: &Product, next: &Product) -> Result<bool> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(next)))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", n(before.version))
            .build()
            .map_err(sdk("building a product write"))?;
        let stock_changed = next.stock != before.stock;
        if !stock_changed && next.status == before.status && next.price_cents == before.price_cents {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_values(put.expression_attribute_values)
                .send()
                .await;
            return match result {
                Ok(_) => Ok(true),
                Err(err) if is_condition_failure(&err) => Ok(false),
                Err(err) => Err(sdk("updating a product")(err)),
            };
        }
        let mut stock = Update::builder()
            .table_name(&self.table)
            .set_key(Some(stock_key(&next.id)))
            .update_expression("SET entity = :entity, #status = :status, price_cents = :price, stock = :stock")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":entity", s("stock"))
            .expression_attribute_values(":status", s(next.status.as_str()))
            .expression_attribute_values(":price", n(next.price_cents))
            .expression_attribute_values(":stock", n(next.stock));
        // A product stored before stock had its own item gets one now, from its own stock.
        stock = if stock_changed {
            stock
                .condition_expression("attribute_not_exists(pk) OR stock = :read_stock")
                .expression_attribute_values(":read_stock", n(before.stock))
        } else {
            stock.update_expression(
                "SET entity = :entity, #status = :status, price_cents = :price, stock = if_not_exists(stock, :stock)",
            )
        };
        let stock = stock.build().map_err(sdk("building a stock write"))?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(stock).build()];
        let refused = |err: &super::TransactError| {
            super::cancellation_codes(err).iter().any(|c| c.as_deref() == Some("ConditionalCheckFailed"))
        };
        self.transact_retrying(items, "updating a product", refused).await
    }

    /// Products matching `filter`, newest first, `limit` at most, from `start`.
    pub async fn list_products(
        &self,
        filter: &ProductFilter,
        limit: usize,
        start: Option<Key>,
    ) -> Result<Page<Product>> {
        let mut query = index_query(filter);
        if let (Some(category), Some(_)) = (&filter.category, &filter.maker_id) {
            query.filter("category = :category");
            query.values.insert(":category".into(), s(category.as_str()));
        }
        if let Some(min) = filter.min_price_cents {
            query.filter("price_cents >= :min");
            query.values.insert(":min".into(), n(min));
        }
        if let Some(max) = filter.max_price_cents {
            query.filter("price_cents <= :max");
            query.values.insert(":max".into(), n(max));
        }
        for (i, word) in filter.words.iter().enumerate() {
            query.filter(format!("contains(#words, :w{i})"));
            query.values.insert(format!(":w{i}"), s(word));
            query.names.insert("#words".into(), "title_words".into());
        }
        let (items, next) = self.query_page(query, limit, start, "listing products").await?;
        // The index holds the products; their stock is on their stock items: one more
        // (eventually consistent) read for the page, so that an order never rewrites the
        // index entries.
        let order: Vec<String> = items.iter().filter_map(|i| get_s(i, "id").ok()).collect();
        let stock_keys = items
            .iter()
            .filter_map(|i| i.get("pk").cloned())
            .map(|pk| HashMap::from([("pk".to_owned(), pk), ("sk".to_owned(), s(STOCK_SK))]));
        let stocks = if items.is_empty() {
            Vec::new()
        } else {
            self.batch_get_read(stock_keys.collect(), Read::Recent, "reading a page's stock").await?
        };
        let mut products: HashMap<String, Product> = joined_products(items.into_iter().chain(stocks).collect())?
            .into_iter()
            .map(|p| (p.id.as_str().to_owned(), p))
            .collect();
        let items = order.iter().filter_map(|id| products.remove(id)).collect();
        Ok(Page { items, next })
    }

    /// How many active products `maker` has.
    pub async fn count_active_products(&self, maker: &UserId) -> Result<u64> {
        let query = index_query(&ProductFilter { maker_id: Some(maker.clone()), ..ProductFilter::default() });
        let values = query.values;
        let mut count = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(query.index)
                .key_condition_expression(query.condition)
                .set_expression_attribute_values(Some(values.clone()))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk("counting a maker's products"))?;
            count += out.count.max(0) as u64;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }
}

fn index_query(filter: &ProductFilter) -> IndexQuery {
    if let Some(maker) = &filter.maker_id {
        let pk = s(format!("MAKER#{}", maker.as_str()));
        match filter.status.maker_prefix() {
            "" => IndexQuery::new("gsi2", ["gsi2pk", "gsi2sk"], "gsi2pk = :pk").value(":pk", pk),
            prefix => IndexQuery::new("gsi2", ["gsi2pk", "gsi2sk"], "gsi2pk = :pk AND begins_with(gsi2sk, :status)")
                .value(":pk", pk)
                .value(":status", s(prefix)),
        }
    } else if let Some(category) = &filter.category {
        IndexQuery::new("gsi3", ["gsi3pk", "gsi3sk"], "gsi3pk = :pk")
            .value(":pk", s(format!("CATEGORY#{}", category.as_str())))
    } else {
        IndexQuery::new("gsi1", ["gsi1pk", "gsi1sk"], "gsi1pk = :pk").value(":pk", s(CATALOG))
    }
}
