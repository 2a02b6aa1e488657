//! The ALB routing table: which function serves which request. The single source of truth
//! for the local ALB emulator; a test checks that `template.yaml`'s listener rules agree.

/// One ALB listener rule: an HTTP method and an ALB path pattern (`*` matches any run of
/// characters, `?` exactly one), forwarded to one function's target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Listener rule priority (lower wins), as in `template.yaml`.
    pub priority: u32,
    pub method: &'static str,
    pub path: &'static str,
    /// The function's crate and binary name (`functions/<name>`).
    pub function: &'static str,
    /// The same path as `openapi.yaml` and `API.md` write it (`/products/{id}`).
    pub api_path: &'static str,
}

const fn route(
    priority: u32,
    method: &'static str,
    path: &'static str,
    function: &'static str,
    api_path: &'static str,
) -> Route {
    Route { priority, method, path, function, api_path }
}

/// Every routed function, in priority order.
pub const ROUTES: &[Route] = &[
    route(10, "GET", "/health", "health", "/health"),
    route(20, "GET", "/products", "list-products", "/products"),
    route(21, "POST", "/products", "create-product", "/products"),
    route(22, "GET", "/products/*", "get-product", "/products/{id}"),
    route(23, "PATCH", "/products/*", "update-product", "/products/{id}"),
    route(24, "DELETE", "/products/*", "archive-product", "/products/{id}"),
    route(30, "GET", "/makers/*", "get-maker", "/makers/{id}"),
    route(40, "GET", "/me", "get-me", "/me"),
    route(41, "PUT", "/me", "put-me", "/me"),
];

/// The listener's default action: the function that answers requests no rule matches.
pub const DEFAULT_FUNCTION: &str = "not-found";

/// Every function behind the ALB: the routed ones in routing order, then the default.
pub fn functions() -> impl Iterator<Item = &'static str> {
    ROUTES.iter().map(|r| r.function).chain(std::iter::once(DEFAULT_FUNCTION))
}

/// The function an ALB with these rules sends `method path` to, the default one included.
pub fn function_for(method: &str, path: &str) -> &'static str {
    route_for(method, path).map_or(DEFAULT_FUNCTION, |r| r.function)
}

/// The function an ALB with these rules forwards `method path` to, if any.
pub fn route_for(method: &str, path: &str) -> Option<&'static Route> {
    let mut rules: Vec<&Route> = ROUTES.iter().collect();
    rules.sort_by_key(|r| r.priority);
    rules.into_iter().find(|r| r.method.eq_ignore_ascii_case(method) && alb_pattern_matches(r.path, path))
}

/// ALB path-pattern semantics: case-sensitive, `*` matches zero or more characters
/// (including `/`), `?` matches exactly one character.
pub fn alb_pattern_matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((b'?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_like_an_alb() {
        assert_eq!(route_for("GET", "/products").map(|r| r.function), Some("list-products"));
        assert_eq!(route_for("GET", "/products/prd_1").map(|r| r.function), Some("get-product"));
        assert_eq!(route_for("DELETE", "/products/prd_1").map(|r| r.function), Some("archive-product"));
        assert_eq!(route_for("PUT", "/products/prd_1"), None);
        assert_eq!(route_for("GET", "/nope"), None);
        assert!(!alb_pattern_matches("/me", "/me/"));
        assert!(alb_pattern_matches("/a?c", "/abc"));
    }
}
