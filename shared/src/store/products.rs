//! Products: the catalogue, its indexes and a maker's edits.

use super::item::{Item, get_n, get_s, get_string_list, n, s, string_list};
use super::{Store, is_condition_failure, sdk};
use crate::domain::{Category, Currency, Product, ProductId, ProductStatus, Timestamp, UserId};
use crate::http::cursor::Key;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, Put, Select, TransactWriteItem, Update};
use std::collections::HashMap;

const CATALOG: &str = "CATALOG";
/// Query pages read per list request at most, so a selective filter cannot make one
/// request read the whole catalogue.
const MAX_PAGES_PER_REQUEST: usize = 8;
/// Items read per page when filters may drop some of them.
const FILTERED_PAGE_SIZE: i32 = 100;
/// Retries of a transaction DynamoDB cancelled because another one touched the same item.
const TRANSACTION_RETRIES: u64 = 3;

fn is_transaction_conflict<R>(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match err.as_service_error() {
        Some(E::TransactionCanceledException(cancelled)) => {
            cancelled.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"))
        }
        _ => false,
    }
}

fn product_key(id: &ProductId) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("PRODUCT#{}", id.as_str()))), ("sk".to_owned(), s("PRODUCT"))])
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
        ("stock".to_owned(), n(p.stock)),
        ("category".to_owned(), s(p.category.as_str())),
        ("images".to_owned(), string_list(&p.images)),
        ("status".to_owned(), s(p.status.as_str())),
        ("created_at".to_owned(), s(p.created_at.as_str())),
        ("updated_at".to_owned(), s(p.updated_at.as_str())),
        ("version".to_owned(), n(p.version)),
        ("gsi2pk".to_owned(), s(format!("MAKER#{}", p.maker_id.as_str()))),
        ("gsi2sk".to_owned(), s(format!("{}{}", maker_sort_prefix(p.status), p.id.as_str()))),
    ]);
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

fn from_item(item: &Item) -> Result<Product> {
    let corrupt = |what: &str| Error::internal("reading a stored product", format!("invalid {what}"));
    Ok(Product {
        id: ProductId::parse(&get_s(item, "id")?).ok_or_else(|| corrupt("id"))?,
        maker_id: UserId::new(get_s(item, "maker_id")?),
        title: get_s(item, "title")?,
        description: get_s(item, "description")?,
        price_cents: get_n(item, "price_cents")?,
        currency: Currency::Eur,
        stock: get_n(item, "stock")?,
        category: Category::parse(&get_s(item, "category")?).map_err(|_| corrupt("category"))?,
        images: get_string_list(item, "images")?,
        status: ProductStatus::parse(&get_s(item, "status")?).ok_or_else(|| corrupt("status"))?,
        created_at: Timestamp::from_stored(get_s(item, "created_at")?),
        updated_at: Timestamp::from_stored(get_s(item, "updated_at")?),
        version: get_n(item, "version")?,
    })
}

/// How `gsi2sk` starts for a product with `status`, so that one `begins_with` finds a
/// maker's products of one status.
fn maker_sort_prefix(status: ProductStatus) -> &'static str {
    match status {
        ProductStatus::Active => "A#",
        ProductStatus::Archived => "X#",
    }
}

/// Which statuses a list shows. Only a maker's own list (or an admin) may ask for more
/// than active products; the handler enforces that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFilter {
    #[default]
    Active,
    Archived,
    All,
}

impl StatusFilter {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "archived" => Some(Self::Archived),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::All => "all",
        }
    }

    /// The `gsi2sk` prefix of a maker's products with this status.
    fn maker_prefix(self) -> &'static str {
        match self {
            Self::Active => maker_sort_prefix(ProductStatus::Active),
            Self::Archived => maker_sort_prefix(ProductStatus::Archived),
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

struct IndexQuery {
    index: &'static str,
    key_attrs: [&'static str; 2],
    condition: &'static str,
    values: Vec<(&'static str, AttributeValue)>,
}

impl Store {
    pub async fn get_product(&self, id: &ProductId) -> Result<Option<Product>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(product_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk("reading a product"))?;
        out.item.as_ref().map(from_item).transpose()
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
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .transact_items(TransactWriteItem::builder().update(profile.clone()).build())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(err) if attempt < TRANSACTION_RETRIES && is_transaction_conflict(&err) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(25 * attempt)).await;
                }
                Err(err) => return Err(sdk("creating a product")(err)),
            }
        }
    }

    /// Replaces a product if nobody wrote it since `next.version - 1` was read.
    /// `Ok(false)` when someone did: read again and retry.
    pub async fn replace_product(&self, next: &Product) -> Result<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(next)))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", n(next.version.saturating_sub(1)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk("updating a product")(err)),
        }
    }

    /// Products matching `filter`, newest first, `limit` at most, from `start`.
    pub async fn list_products(
        &self,
        filter: &ProductFilter,
        limit: usize,
        start: Option<Key>,
    ) -> Result<Page<Product>> {
        let query = index_query(filter);
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> =
            query.values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let mut filters: Vec<String> = Vec::new();
        if let (Some(category), Some(_)) = (&filter.category, &filter.maker_id) {
            filters.push("category = :category".into());
            values.insert(":category".into(), s(category.as_str()));
        }
        if let Some(min) = filter.min_price_cents {
            filters.push("price_cents >= :min".into());
            values.insert(":min".into(), n(min));
        }
        if let Some(max) = filter.max_price_cents {
            filters.push("price_cents <= :max".into());
            values.insert(":max".into(), n(max));
        }
        for (i, word) in filter.words.iter().enumerate() {
            filters.push(format!("contains(#words, :w{i})"));
            values.insert(format!(":w{i}"), s(word));
            names.insert("#words".into(), "title_words".into());
        }
        let filtered = !filters.is_empty();
        let key_names = ["pk", "sk", query.key_attrs[0], query.key_attrs[1]];
        if let Some(start) = &start
            && (start.len() != key_names.len() || !key_names.iter().all(|k| start.contains_key(*k)))
        {
            return Err(Error::invalid("cursor", "is not a cursor of this query; start again without it"));
        }

        let mut items = Vec::new();
        let mut exclusive_start: Option<Item> =
            start.map(|k| k.into_iter().map(|(name, value)| (name, AttributeValue::S(value))).collect());
        for _ in 0..MAX_PAGES_PER_REQUEST {
            // One more than asked for tells us whether another page exists.
            let page_size = if filtered { FILTERED_PAGE_SIZE } else { (limit + 1 - items.len()) as i32 };
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(query.index)
                .key_condition_expression(query.condition)
                .set_filter_expression(filtered.then(|| filters.join(" AND ")))
                .set_expression_attribute_names((!names.is_empty()).then(|| names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(page_size)
                .set_exclusive_start_key(exclusive_start.take())
                .send()
                .await
                .map_err(sdk("listing products"))?;
            items.extend(out.items.unwrap_or_default());
            exclusive_start = out.last_evaluated_key;
            if items.len() > limit || exclusive_start.is_none() {
                break;
            }
        }

        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| key_of(last, &key_names)).transpose()?
        } else {
            // Out of pages (nothing more), or out of budget (resume where reading stopped).
            exclusive_start.map(|lek| key_of(&lek, &key_names)).transpose()?
        };
        let items = items.iter().map(from_item).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    /// How many active products `maker` has.
    pub async fn count_active_products(&self, maker: &UserId) -> Result<u64> {
        let query = index_query(&ProductFilter { maker_id: Some(maker.clone()), ..ProductFilter::default() });
        let values: HashMap<String, AttributeValue> =
            query.values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
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
        let pk = (":pk", s(format!("MAKER#{}", maker.as_str())));
        match filter.status.maker_prefix() {
            "" => IndexQuery {
                index: "gsi2",
                key_attrs: ["gsi2pk", "gsi2sk"],
                condition: "gsi2pk = :pk",
                values: vec![pk],
            },
            prefix => IndexQuery {
                index: "gsi2",
                key_attrs: ["gsi2pk", "gsi2sk"],
                condition: "gsi2pk = :pk AND begins_with(gsi2sk, :status)",
                values: vec![pk, (":status", s(prefix))],
            },
        }
    } else if let Some(category) = &filter.category {
        IndexQuery {
            index: "gsi3",
            key_attrs: ["gsi3pk", "gsi3sk"],
            condition: "gsi3pk = :pk",
            values: vec![(":pk", s(format!("CATEGORY#{}", category.as_str())))],
        }
    } else {
        IndexQuery {
            index: "gsi1",
            key_attrs: ["gsi1pk", "gsi1sk"],
            condition: "gsi1pk = :pk",
            values: vec![(":pk", s(CATALOG))],
        }
    }
}

fn key_of(item: &Item, names: &[&str]) -> Result<Key> {
    names.iter().map(|name| Ok(((*name).to_owned(), get_s(item, name)?))).collect()
}
