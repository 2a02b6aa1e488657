//! Paged Queries (newest first unless asked otherwise) on an index, shared by every list: bounded reads per
//! request, one extra item to know whether a next page exists, and start keys that must
//! be exactly the index's key attributes (anything else is a tampered cursor).

use super::item::{Item, get_s};
use super::{Store, sdk};
use crate::http::cursor::Key;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Query pages read per list request at most, so a selective filter cannot make one
/// request read the whole index.
const MAX_PAGES_PER_REQUEST: usize = 8;
/// Items read per page when filters may drop some of them.
const FILTERED_PAGE_SIZE: i32 = 100;

/// One Query: an index, its key attributes, the key condition and its values, and
/// optional filters.
#[derive(Debug, Default)]
pub(crate) struct IndexQuery {
    pub index: &'static str,
    pub key_attrs: [&'static str; 2],
    pub condition: &'static str,
    pub values: HashMap<String, AttributeValue>,
    pub names: HashMap<String, String>,
    pub filters: Vec<String>,
    /// Oldest first (ascending sort key) instead of newest first.
    pub oldest_first: bool,
}

impl IndexQuery {
    pub fn new(index: &'static str, key_attrs: [&'static str; 2], condition: &'static str) -> Self {
        Self { index, key_attrs, condition, ..Self::default() }
    }

    pub fn value(mut self, name: &str, value: AttributeValue) -> Self {
        self.values.insert(name.to_owned(), value);
        self
    }

    /// Reads the index in ascending order of its sort key: oldest first.
    pub fn oldest_first(mut self) -> Self {
        self.oldest_first = true;
        self
    }

    /// Adds `expression` to the filter (ANDed), with its values and names.
    pub fn filter(&mut self, expression: impl Into<String>) -> &mut Self {
        self.filters.push(expression.into());
        self
    }
}

impl Store {
    /// Items of `query`, newest first (or oldest first if it says so), `limit` at most, from `start`; with the key to go on
    /// from when there may be more. `context` names the list in error logs.
    pub(crate) async fn query_page(
        &self,
        query: IndexQuery,
        limit: usize,
        start: Option<Key>,
        context: &'static str,
    ) -> Result<(Vec<Item>, Option<Key>)> {
        let filtered = !query.filters.is_empty();
        let key_names = ["pk", "sk", query.key_attrs[0], query.key_attrs[1]];
        if let Some(start) = &start
            && (start.len() != key_names.len() || !key_names.iter().all(|k| start.contains_key(*k)))
        {
            return Err(Error::invalid("cursor", "is not a cursor of this query; start again without it"));
        }
        let filter = filtered.then(|| query.filters.join(" AND "));
        let names = (!query.names.is_empty()).then_some(query.names);

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
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(Some(query.values.clone()))
                .scan_index_forward(query.oldest_first)
                .limit(page_size)
                .set_exclusive_start_key(exclusive_start.take())
                .send()
                .await
                .map_err(sdk(context))?;
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
        Ok((items, next))
    }
}

fn key_of(item: &Item, names: &[&str]) -> Result<Key> {
    names.iter().map(|name| Ok(((*name).to_owned(), get_s(item, name)?))).collect()
}
