//! `openapi.yaml` describes exactly the routed operations of `shared::routes::ROUTES`, and
//! declares what every handler can answer (request id, 500, 401 where a token is read).

use std::collections::BTreeSet;

use serde_yaml::{Mapping, Value};
use shared::routes::ROUTES;

const SPEC: &str = include_str!("../../openapi.yaml");
const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn spec() -> Value {
    serde_yaml::from_str(SPEC).unwrap_or_else(|e| panic!("openapi.yaml is not YAML: {e}"))
}

/// Every `(METHOD, path, operation)` in `paths`.
fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let paths = spec.get("paths").and_then(Value::as_mapping).unwrap_or_else(|| panic!("openapi.yaml has no paths"));
    let mut out = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().unwrap_or_else(|| panic!("non-string path key {path:?}"));
        let item = item.as_mapping().unwrap_or_else(|| panic!("{path} is not a path item"));
        for (key, op) in item {
            if let Some(method) = key.as_str().filter(|k| HTTP_METHODS.contains(k)) {
                out.push((method.to_ascii_uppercase(), path.to_owned(), op));
            }
        }
    }
    out
}

/// Follows a local `$ref` (`#/components/...`) once, if there is one.
fn deref<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    let Some(r) = v.get("$ref").and_then(Value::as_str) else {
        return v;
    };
    let pointer = r.strip_prefix("#/").unwrap_or_else(|| panic!("only local $refs are supported, found {r}"));
    pointer.split('/').try_fold(spec, |node, part| node.get(part)).unwrap_or_else(|| panic!("dangling $ref {r}"))
}

fn responses(op: &Value) -> &Mapping {
    op.get("responses").and_then(Value::as_mapping).unwrap_or_else(|| panic!("operation without responses"))
}

/// Whether a bearer token is read: declared security other than `[]` (public).
fn reads_a_token(spec: &Value, op: &Value) -> bool {
    let security = op.get("security").or_else(|| spec.get("security"));
    security
        .and_then(Value::as_sequence)
        .is_some_and(|reqs| reqs.iter().any(|req| req.as_mapping().is_some_and(|m| !m.is_empty())))
}

#[test]
fn the_spec_has_exactly_the_routed_operations() {
    let spec = spec();
    let documented: BTreeSet<(String, String)> = operations(&spec).into_iter().map(|(m, p, _)| (m, p)).collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|r| !r.is_page())
        .map(|r| (r.method.to_ascii_uppercase(), r.api_path.to_owned()))
        .collect();
    let show = |set: BTreeSet<&(String, String)>| -> String {
        set.into_iter().map(|(m, p)| format!("\n    {m} {p}")).collect()
    };
    let undocumented = show(routed.difference(&documented).collect());
    let unrouted = show(documented.difference(&routed).collect());
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "openapi.yaml differs from shared/src/routes.rs\n  routed but not in openapi.yaml:{undocumented}\n  \
         in openapi.yaml but not routed:{unrouted}"
    );
}

#[test]
fn every_response_carries_the_request_id() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        for (status, response) in responses(op) {
            let response = deref(&spec, response);
            let header = response.get("headers").and_then(|h| h.get("x-request-id"));
            assert!(header.is_some(), "{method} {path} response {status:?} does not declare the x-request-id header");
        }
    }
}

#[test]
fn every_operation_declares_500_and_token_readers_declare_401() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        let statuses: BTreeSet<String> = responses(op)
            .keys()
            .map(|k| match k {
                Value::Number(n) => n.to_string(),
                other => other.as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        assert!(statuses.contains("500"), "{method} {path} does not declare 500");
        if reads_a_token(&spec, op) {
            assert!(statuses.contains("401"), "{method} {path} reads a token but does not declare 401");
        }
        assert!(op.get("operationId").and_then(Value::as_str).is_some(), "{method} {path} has no operationId");
    }
}
