//! Reading and writing DynamoDB attribute maps.

use crate::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn corrupt(name: &str) -> Error {
    Error::internal("reading a stored item", format!("attribute {name} is missing or has the wrong type"))
}

pub(crate) fn get_s(item: &Item, name: &str) -> Result<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().ok_or_else(|| corrupt(name))
}

pub(crate) fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub(crate) fn get_n(item: &Item, name: &str) -> Result<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).ok_or_else(|| corrupt(name))
}

pub(crate) fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

pub(crate) fn get_string_list(item: &Item, name: &str) -> Result<Vec<String>> {
    match item.get(name) {
        None => Ok(Vec::new()),
        Some(value) => value
            .as_l()
            .map_err(|_| corrupt(name))?
            .iter()
            .map(|v| v.as_s().cloned().map_err(|_| corrupt(name)))
            .collect(),
    }
}

pub(crate) fn string_list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect())
}
