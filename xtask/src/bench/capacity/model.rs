//! DynamoDB's capacity rules applied to what the capacity bench captured: item sizes from
//! the items themselves, read and write units per request, the writes each global secondary
//! index takes, and the write units each partition key took. Pure: no I/O.
//!
//! The rules (DynamoDB developer guide, "Item sizes and formats", "Read/write capacity
//! mode", "Global secondary indexes: provisioned throughput considerations"):
//! - an item's size is the sum of its attribute names' and values' sizes (UTF-8 bytes for
//!   strings, about one byte per two significant digits plus one for numbers, 1 byte for a
//!   boolean or null, 3 bytes plus 1 per element for a list or map, plus the elements);
//! - a write takes 1 unit per KB (rounded up) of the larger of the item before and after; a
//!   delete, of the item deleted; a transactional write twice that; a condition check in a
//!   transaction is charged as a write of its item; a write whose condition fails is still
//!   charged;
//! - each global secondary index a write changes takes its own writes: a put of the new
//!   entry, a delete of the old one, both when the index key changed, an update (the new
//!   entry) when a projected attribute changed, nothing when none did;
//! - a read takes 1 unit per 4 KB (rounded up) read, half of it when eventually consistent
//!   (always, on an index), twice when transactional; a query's size is the sum of the
//!   items it read (filtered out or not), rounded up once.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// An item in DynamoDB's JSON wire format (`{"pk": {"S": "…"}, …}`).
pub type Item = Map<String, Value>;

/// Whether a transaction's writes to an index are charged twice, as its table writes are.
/// DynamoDB documents the doubling (prepare and commit) for the items of a transaction; the
/// indexes are maintained after the commit, like any write's, so this model charges their
/// writes once. The capacity document states what doubling them would change.
pub const TRANSACTION_DOUBLES_INDEX_WRITES: bool = false;

/// The size of a number: about one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let mantissa = n.split(['e', 'E']).next().unwrap_or(n);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// The size of one attribute value.
pub fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else { return 0 };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(1, number_size),
        "B" => inner.as_str().map_or(0, |b| b.trim_end_matches('=').len() * 3 / 4),
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(str::len).sum()),
        "NS" => inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(number_size).sum()),
        "BS" => inner
            .as_array()
            .map_or(0, |a| a.iter().filter_map(Value::as_str).map(|b| b.trim_end_matches('=').len() * 3 / 4).sum()),
        "L" => 3 + inner.as_array().map_or(0, |a| a.iter().map(|e| value_size(e) + 1).sum()),
        "M" => 3 + inner.as_object().map_or(0, |m| m.iter().map(|(k, e)| k.len() + value_size(e) + 1).sum()),
        _ => 0,
    }
}

/// The size of an item: its attribute names and values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, v)| name.len() + value_size(v)).sum()
}

/// Write units of `bytes`: 1 per KB, at least 1.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Read units of `bytes` read in one request: 1 per 4 KB, at least 1.
pub fn read_units(bytes: usize) -> f64 {
    bytes.div_ceil(4096).max(1) as f64
}

/// A key attribute's value as text (`S`, `N` or `B`).
pub fn key_text(item: &Item, attribute: &str) -> Option<String> {
    let v = item.get(attribute)?.as_object()?;
    v.get("S").or_else(|| v.get("N")).or_else(|| v.get("B")).and_then(Value::as_str).map(str::to_owned)
}

/// What an index carries besides its keys and the table's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

/// A global secondary index, as DescribeTable tells it.
#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub pk: String,
    pub sk: Option<String>,
    pub projection: Projection,
}

/// The table's keys and indexes, as DescribeTable tells them.
#[derive(Debug, Clone)]
pub struct Schema {
    pub table: String,
    pub pk: String,
    pub sk: Option<String>,
    pub indexes: Vec<Index>,
}

impl Schema {
    /// The table's primary key of `item`.
    pub fn key_of(&self, item: &Item) -> Item {
        std::iter::once(&self.pk).chain(&self.sk).filter_map(|a| item.get(a).map(|v| (a.clone(), v.clone()))).collect()
    }

    /// The entry `index` holds for `item`, if the item is in it (has its key attributes).
    pub fn entry(&self, index: &Index, item: &Item) -> Option<Item> {
        if !item.contains_key(&index.pk) || index.sk.as_ref().is_some_and(|sk| !item.contains_key(sk)) {
            return None;
        }
        if index.projection == Projection::All {
            return Some(item.clone());
        }
        let mut keep: Vec<&String> =
            [Some(&self.pk), self.sk.as_ref(), Some(&index.pk), index.sk.as_ref()].into_iter().flatten().collect();
        if let Projection::Include(extra) = &index.projection {
            keep.extend(extra);
        }
        Some(item.iter().filter(|(k, _)| keep.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// What a write request did to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Put,
    Update,
    Delete,
    /// A `ConditionCheck` of a transaction.
    Check,
}

/// One item a write request named, with the item before and after the request.
#[derive(Debug, Clone)]
pub struct Written {
    pub action: Action,
    pub key: Item,
    pub before: Option<Item>,
    pub after: Option<Item>,
}

/// Units one write of one item cost, and where they landed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteCost {
    pub table: f64,
    /// (index, partition key of the entry, units), one per index write.
    pub index: Vec<(String, String, f64)>,
}

impl WriteCost {
    pub fn index_total(&self) -> f64 {
        self.index.iter().map(|(_, _, u)| u).sum()
    }
}

/// The cost of one item's write. `ok`: the request succeeded (else only the attempt on the
/// table is charged: a failed condition or a cancelled transaction writes no index).
pub fn write_cost(schema: &Schema, w: &Written, transactional: bool, ok: bool) -> WriteCost {
    write_cost_with(schema, w, transactional, ok, TRANSACTION_DOUBLES_INDEX_WRITES)
}

/// [`write_cost`], saying whether a transaction's index writes are doubled.
pub fn write_cost_with(schema: &Schema, w: &Written, transactional: bool, ok: bool, double_index: bool) -> WriteCost {
    let factor = if transactional { 2.0 } else { 1.0 };
    let size = |i: &Option<Item>| i.as_ref().map_or(0, item_size);
    let bytes = match (w.action, ok) {
        (Action::Put | Action::Update, true) => size(&w.before).max(size(&w.after)),
        _ => size(&w.before),
    };
    let mut cost = WriteCost { table: write_units(bytes) * factor, index: Vec::new() };
    if !ok || w.action == Action::Check {
        return cost;
    }
    let index_factor = if transactional && double_index { 2.0 } else { 1.0 };
    for index in &schema.indexes {
        let old = w.before.as_ref().and_then(|i| schema.entry(index, i));
        let new = w.after.as_ref().and_then(|i| schema.entry(index, i));
        let pk = |e: &Item| key_text(e, &index.pk).unwrap_or_default();
        let key = |e: &Item| (key_text(e, &index.pk), index.sk.as_ref().and_then(|sk| key_text(e, sk)));
        let mut charge =
            |e: &Item| cost.index.push((index.name.clone(), pk(e), write_units(item_size(e)) * index_factor));
        match (&old, &new) {
            (None, None) => {}
            (Some(o), None) => charge(o),
            (None, Some(n)) => charge(n),
            (Some(o), Some(n)) if key(o) != key(n) => {
                charge(o);
                charge(n);
            }
            (Some(o), Some(n)) if o != n => charge(n),
            _ => {}
        }
    }
    cost
}

/// What an id in a partition key stands for: it decides how that key's load scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// No id: one key for every order (`CATALOG`, `DUE#DELIVERY#3`).
    Shared,
    Order,
    Customer,
    Maker,
    Product,
    /// An id the bench did not make (a Stripe event's): one key per occurrence, like an order.
    Other,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Order => "order",
            Self::Customer => "customer",
            Self::Maker => "maker",
            Self::Product => "product",
            Self::Other => "other id",
        }
    }
}

/// Whether a key segment looks like an id the bench did not make (a ULID, a UUID, a
/// Stripe id): long, with digits. Shard numbers and slugs are not.
fn id_like(segment: &str) -> bool {
    segment.len() >= 10 && segment.bytes().any(|b| b.is_ascii_digit())
}

/// The ids the bench made, by kind, with how many of its orders each took part in.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    pub known: BTreeMap<String, (Kind, u64)>,
}

impl Ids {
    pub fn add(&mut self, id: &str, kind: Kind) {
        self.known.entry(id.to_owned()).or_insert((kind, 0)).1 += 1;
    }

    /// `ORDER#01J…#MAIL` → (`ORDER#<order>#MAIL`, its kind, orders the id took part in).
    pub fn pattern(&self, key: &str) -> (String, Kind, u64) {
        let mut kind = Kind::Shared;
        let mut touches = 0;
        let pattern = key
            .split('#')
            .map(|segment| {
                if let Some((k, n)) = self.known.get(segment) {
                    if kind == Kind::Shared || kind == Kind::Other {
                        (kind, touches) = (*k, *n);
                    }
                    format!("<{}>", k.name())
                } else if !segment.is_empty() && segment.len() <= 4 && segment.bytes().all(|b| b.is_ascii_digit()) {
                    // A shard (`DUE#DELIVERY#3`) or a counter (`ATTEMPT#2`): one pattern.
                    "<n>".to_owned()
                } else if id_like(segment) {
                    if kind == Kind::Shared {
                        (kind, touches) = (Kind::Other, 1);
                    }
                    "<id>".to_owned()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("#");
        (pattern, kind, touches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        assert_eq!(item_size(&item(json!({"pk": {"S": "ORDER#1"}}))), 2 + 7);
        assert_eq!(number_size("12345"), 4);
        assert_eq!(number_size("-0.00120"), 2);
        assert_eq!(number_size("0"), 1);
        assert_eq!(value_size(&json!({"BOOL": true})), 1);
        // A map: 3 bytes, then each element's name, value and 1 byte.
        assert_eq!(value_size(&json!({"M": {"a": {"S": "xy"}}})), 3 + 1 + 2 + 1);
        assert_eq!(value_size(&json!({"L": [{"S": "xy"}, {"NULL": true}]})), 3 + 3 + 2);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(0), 1.0);
        assert_eq!(read_units(4097), 2.0);
    }

    fn schema() -> Schema {
        Schema {
            table: "t".to_owned(),
            pk: "pk".to_owned(),
            sk: Some("sk".to_owned()),
            indexes: vec![
                Index {
                    name: "gsi3".to_owned(),
                    pk: "gsi3pk".to_owned(),
                    sk: Some("gsi3sk".to_owned()),
                    projection: Projection::KeysOnly,
                },
                Index { name: "gsi1".to_owned(), pk: "gsi1pk".to_owned(), sk: None, projection: Projection::All },
            ],
        }
    }

    #[test]
    fn a_changed_index_key_is_a_delete_and_a_put_and_an_untouched_projection_no_write() {
        let before = item(json!({"pk": {"S": "ORDER#1"}, "sk": {"S": "ORDER"}, "status": {"S": "paid"},
            "gsi3pk": {"S": "DUE#DELIVERY#3"}, "gsi3sk": {"S": "a"}, "gsi1pk": {"S": "CUSTOMER#c"}}));
        let mut after = before.clone();
        after.insert("status".to_owned(), json!({"S": "preparing"}));
        after.insert("gsi3sk".to_owned(), json!({"S": "b"}));
        let w = Written {
            action: Action::Update,
            key: schema().key_of(&before),
            before: Some(before.clone()),
            after: Some(after),
        };
        let cost = write_cost_with(&schema(), &w, true, true, true);
        assert_eq!(cost.table, 2.0);
        let on: Vec<(&str, &str)> = cost.index.iter().map(|(i, k, _)| (i.as_str(), k.as_str())).collect();
        // gsi3: key changed (delete + put); gsi1 (ALL): status changed (an update).
        assert_eq!(on, [("gsi3", "DUE#DELIVERY#3"), ("gsi3", "DUE#DELIVERY#3"), ("gsi1", "CUSTOMER#c")]);
        assert_eq!(cost.index_total(), 6.0);

        // A KEYS_ONLY index whose keys did not change takes no write.
        let mut same = before.clone();
        same.insert("note".to_owned(), json!({"S": "x"}));
        let w =
            Written { action: Action::Update, key: schema().key_of(&before), before: Some(before), after: Some(same) };
        let cost = write_cost(&schema(), &w, false, true);
        assert_eq!(cost.index.iter().map(|(i, _, _)| i.as_str()).collect::<Vec<_>>(), ["gsi1"]);

        // A failed condition: the table attempt only.
        let failed = write_cost(&schema(), &w, false, false);
        assert_eq!((failed.table, failed.index.len()), (1.0, 0));
    }

    #[test]
    fn keys_are_grouped_by_the_ids_they_hold() {
        let mut ids = Ids::default();
        ids.add("01JORDER0000000000000000001", Kind::Order);
        ids.add("c1f0e9a2-0000-4000-8000-000000000001", Kind::Customer);
        ids.add("c1f0e9a2-0000-4000-8000-000000000001", Kind::Customer);
        assert_eq!(ids.pattern("ORDER#01JORDER0000000000000000001"), ("ORDER#<order>".to_owned(), Kind::Order, 1));
        assert_eq!(
            ids.pattern("CUSTOMER#c1f0e9a2-0000-4000-8000-000000000001"),
            ("CUSTOMER#<customer>".to_owned(), Kind::Customer, 2)
        );
        assert_eq!(ids.pattern("DUE#DELIVERY#12"), ("DUE#DELIVERY#<n>".to_owned(), Kind::Shared, 0));
        assert_eq!(ids.pattern("STRIPE_EVENT#evt_1QAbc234"), ("STRIPE_EVENT#<id>".to_owned(), Kind::Other, 1));
    }
}
