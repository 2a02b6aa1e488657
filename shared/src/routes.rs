//! The ALB routing table: which function serves which request, and which methods a path
//! serves. The single source of truth for the local ALB emulator and for the `not-found`
//! function (the listener's default action, which answers 405 with `Allow` from it); tests in
//! `local/tests` check that `template.yaml`'s listener rules and `openapi.yaml` agree.
//!
//! It lives in `shared`, not `local`, so that the `not-found` Lambda can read it without
//! linking the local stack. It is plain data and string matching: no I/O, no allocation
//! outside [`allowed_methods`].
//!
//! HEAD and OPTIONS: no rule routes them and the ALB does not answer them by itself, so
//! they reach the default action like any other unrouted method (405 on a known path, 404
//! elsewhere), and `Allow` never lists them. Adding them would take a listener rule each.

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
    /// The same path as `openapi.yaml` and `API.md` write it (`/products/{id}`), or, for a
    /// page, as the shop links it (`/listing/{id}`).
    pub api_path: &'static str,
    /// A JSON API operation (in `openapi.yaml`) or an HTML page of the web shop (not).
    pub kind: Kind,
}

/// What a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The JSON API of `API.md`: problem+json errors, described by `openapi.yaml`.
    Api,
    /// A page of the web shop: HTML, HTML error pages, cookie sessions.
    Page,
}

impl Route {
    pub fn is_page(&self) -> bool {
        self.kind == Kind::Page
    }
}

const fn route(
    priority: u32,
    method: &'static str,
    path: &'static str,
    function: &'static str,
    api_path: &'static str,
) -> Route {
    Route { priority, method, path, function, api_path, kind: Kind::Api }
}

const fn page(
    priority: u32,
    method: &'static str,
    path: &'static str,
    function: &'static str,
    api_path: &'static str,
) -> Route {
    Route { priority, method, path, function, api_path, kind: Kind::Page }
}

/// Every routed function, in priority order. A new route is one line here (with its rule in
/// `template.yaml` and, for the API, its operation in `openapi.yaml`); `Allow` headers
/// follow from it. Page paths never collide with the API's: none starts with an API
/// collection (`/products`, `/makers`, `/me`, `/orders`, `/maker`, `/webhooks`, `/health`,
/// `/maker-applications`).
pub const ROUTES: &[Route] = &[
    route(10, "GET", "/health", "health", "/health"),
    // Photos come before the product rules: `/products/*` would take their paths too (`*`
    // spans slashes), and the longest pattern first.
    route(15, "POST", "/products/*/photos/*/confirm", "confirm-photo", "/products/{id}/photos/{photo_id}/confirm"),
    route(16, "DELETE", "/products/*/photos/*", "delete-photo", "/products/{id}/photos/{photo_id}"),
    route(17, "POST", "/products/*/photos", "create-photo-upload", "/products/{id}/photos"),
    route(20, "GET", "/products", "list-products", "/products"),
    route(21, "POST", "/products", "create-product", "/products"),
    route(22, "GET", "/products/*", "get-product", "/products/{id}"),
    route(23, "PATCH", "/products/*", "update-product", "/products/{id}"),
    route(24, "DELETE", "/products/*", "archive-product", "/products/{id}"),
    route(30, "GET", "/makers/*", "get-maker", "/makers/{id}"),
    route(40, "GET", "/me", "get-me", "/me"),
    route(41, "PUT", "/me", "put-me", "/me"),
    route(50, "POST", "/orders", "create-order", "/orders"),
    route(51, "GET", "/orders", "list-orders", "/orders"),
    route(52, "GET", "/orders/*", "get-order", "/orders/{id}"),
    route(53, "POST", "/orders/*/cancel", "cancel-order", "/orders/{id}/cancel"),
    route(60, "GET", "/maker/orders", "list-maker-orders", "/maker/orders"),
    route(70, "POST", "/webhooks/stripe", "stripe-webhook", "/webhooks/stripe"),
    // `/maker-applications/mine` before the `*` patterns: `/maker-applications/*/approve`
    // cannot match it (it has no second segment), but the order keeps that obvious.
    route(80, "POST", "/maker-applications", "create-maker-application", "/maker-applications"),
    route(81, "GET", "/maker-applications", "list-maker-applications", "/maker-applications"),
    route(82, "GET", "/maker-applications/mine", "get-my-maker-application", "/maker-applications/mine"),
    route(83, "POST", "/maker-applications/*/approve", "approve-maker-application", "/maker-applications/{id}/approve"),
    route(84, "POST", "/maker-applications/*/reject", "reject-maker-application", "/maker-applications/{id}/reject"),
    // The web shop.
    page(200, "GET", "/", "web-home", "/"),
    page(201, "GET", "/sitemap.xml", "web-home", "/sitemap.xml"),
    page(202, "GET", "/robots.txt", "web-assets", "/robots.txt"),
    page(203, "GET", "/assets/*", "web-assets", "/assets/{file}"),
    page(210, "GET", "/search", "web-search", "/search"),
    page(220, "GET", "/listing/*", "web-listing", "/listing/{id}"),
    page(221, "POST", "/listing/*", "web-listing", "/listing/{id}"),
    page(230, "GET", "/shop/*", "web-shop", "/shop/{maker_id}"),
    page(240, "GET", "/cart", "web-cart", "/cart"),
    page(241, "POST", "/cart", "web-cart", "/cart"),
    page(250, "GET", "/sign-in", "web-sign-in", "/sign-in"),
    page(251, "POST", "/sign-in", "web-sign-in", "/sign-in"),
    page(252, "POST", "/sign-out", "web-sign-in", "/sign-out"),
    page(261, "GET", "/sign-in/google", "web-sign-in", "/sign-in/google"),
    page(262, "GET", "/sign-in/callback", "web-sign-in", "/sign-in/callback"),
    page(253, "GET", "/sign-up", "web-sign-up", "/sign-up"),
    page(254, "POST", "/sign-up", "web-sign-up", "/sign-up"),
    page(255, "GET", "/sign-up/confirm", "web-sign-up", "/sign-up/confirm"),
    page(256, "POST", "/sign-up/confirm", "web-sign-up", "/sign-up/confirm"),
    page(257, "GET", "/forgot-password", "web-password", "/forgot-password"),
    page(258, "POST", "/forgot-password", "web-password", "/forgot-password"),
    page(259, "GET", "/forgot-password/reset", "web-password", "/forgot-password/reset"),
    page(260, "POST", "/forgot-password/reset", "web-password", "/forgot-password/reset"),
    page(270, "GET", "/checkout", "web-checkout", "/checkout"),
    page(271, "POST", "/checkout", "web-checkout", "/checkout"),
    page(280, "GET", "/account/orders", "web-orders", "/account/orders"),
    page(281, "GET", "/account/orders/*", "web-order", "/account/orders/{id}"),
    page(282, "POST", "/account/orders/*", "web-order", "/account/orders/{id}"),
    page(290, "GET", "/account/profile", "web-profile", "/account/profile"),
    page(291, "POST", "/account/profile", "web-profile", "/account/profile"),
    // The makers' studio (its photo forms before its product pages: `*` spans slashes).
    page(298, "GET", "/studio/products/*/photos", "web-studio-photos", "/studio/products/{id}/photos"),
    page(299, "POST", "/studio/products/*/photos", "web-studio-photos", "/studio/products/{id}/photos"),
    page(300, "GET", "/studio", "web-studio", "/studio"),
    page(301, "GET", "/studio/products/*", "web-studio", "/studio/products/{id}"),
    page(302, "POST", "/studio/products/*", "web-studio", "/studio/products/{id}"),
    page(303, "GET", "/studio/shop", "web-studio", "/studio/shop"),
    page(304, "POST", "/studio/shop", "web-studio", "/studio/shop"),
    page(310, "GET", "/studio/orders", "web-studio-orders", "/studio/orders"),
    page(311, "GET", "/studio/orders/*", "web-studio-orders", "/studio/orders/{id}"),
    // The admins' desk.
    page(320, "GET", "/desk", "web-desk", "/desk"),
    page(321, "GET", "/desk/products", "web-desk", "/desk/products"),
    page(322, "GET", "/desk/products/*", "web-desk", "/desk/products/{id}"),
    page(323, "POST", "/desk/products/*", "web-desk", "/desk/products/{id}"),
    page(330, "GET", "/desk/orders", "web-desk-orders", "/desk/orders"),
    page(331, "GET", "/desk/orders/*", "web-desk-orders", "/desk/orders/{id}"),
    page(332, "POST", "/desk/orders/*", "web-desk-orders", "/desk/orders/{id}"),
    page(340, "GET", "/desk/applications", "web-desk-applications", "/desk/applications"),
    page(341, "POST", "/desk/applications/*", "web-desk-applications", "/desk/applications/{id}"),
    // Becoming a maker.
    page(350, "GET", "/sell", "web-sell", "/sell"),
    page(351, "POST", "/sell", "web-sell", "/sell"),
];
/// Whether `path` lies under one of the API's collections (`/products…`, `/me`, …): the
/// first segment of an API route's path. Everything else is the web shop's.
pub fn is_api_path(path: &str) -> bool {
    let first = |p: &str| p.trim_start_matches('/').split('/').next().unwrap_or_default().to_owned();
    let segment = first(path);
    ROUTES.iter().filter(|r| !r.is_page()).any(|r| first(r.api_path) == segment)
}

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

/// The methods that `path` serves, sorted and deduplicated (an `Allow` header's list);
/// empty when `path` is no resource of the API (a 404, whatever the method).
///
/// A route counts when its listener rule matches `path` *and* `path` has the shape of the
/// route's `api_path`, each `{param}` one non-empty segment. The second condition is what
/// the routed functions do: `/products/*` also matches `/products/a/b` and `/products/`,
/// which the ALB sends to get-product for a GET and get-product answers 404 (no such
/// product, see `http::path_id`); so for every other method they are unknown paths too,
/// not paths that serve GET.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = ROUTES
        .iter()
        .filter(|r| alb_pattern_matches(r.path, path) && api_path_matches(r.api_path, path))
        .map(|r| r.method)
        .collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

/// Whether `path` fills the template `api_path` (`/products/{id}`): the same segments,
/// each `{param}` standing for exactly one non-empty segment, the others literal.
pub fn api_path_matches(api_path: &str, path: &str) -> bool {
    let (mut template, mut segments) = (api_path.split('/'), path.split('/'));
    loop {
        match (template.next(), segments.next()) {
            (None, None) => return true,
            (Some(t), Some(s)) if t.starts_with('{') && t.ends_with('}') => {
                if s.is_empty() {
                    return false;
                }
            }
            (Some(t), Some(s)) if t == s => {}
            _ => return false,
        }
    }
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
    fn api_paths_are_told_from_the_shops() {
        for api in [
            "/products",
            "/products/x",
            "/me",
            "/orders/x/cancel",
            "/maker/orders",
            "/webhooks/stripe",
            "/health",
            "/maker-applications",
            "/maker-applications/mine",
            "/maker-applications/app_1/approve",
        ] {
            assert!(is_api_path(api), "{api}");
        }
        for page in ["/", "/nope", "/listing/x", "/account/orders", "/cart"] {
            assert!(!is_api_path(page), "{page}");
        }
    }

    #[test]
    fn routes_resolve_like_an_alb() {
        assert_eq!(route_for("GET", "/products").map(|r| r.function), Some("list-products"));
        assert_eq!(route_for("GET", "/products/prd_1").map(|r| r.function), Some("get-product"));
        assert_eq!(route_for("DELETE", "/products/prd_1").map(|r| r.function), Some("archive-product"));
        assert_eq!(route_for("PUT", "/products/prd_1"), None);
        assert_eq!(route_for("DELETE", "/products/p/photos/f").map(|r| r.function), Some("delete-photo"));
        assert_eq!(route_for("POST", "/products/p/photos/f/confirm").map(|r| r.function), Some("confirm-photo"));
        assert_eq!(route_for("POST", "/products/p/photos").map(|r| r.function), Some("create-photo-upload"));
        assert_eq!(route_for("GET", "/nope"), None);
        assert!(!alb_pattern_matches("/me", "/me/"));
        assert!(alb_pattern_matches("/a?c", "/abc"));
    }

    #[test]
    fn allowed_methods_are_the_sorted_methods_routed_at_a_path() {
        assert_eq!(allowed_methods("/health"), ["GET"]);
        assert_eq!(allowed_methods("/products"), ["GET", "POST"]);
        assert_eq!(allowed_methods("/products/prd_x"), ["DELETE", "GET", "PATCH"]);
        assert_eq!(allowed_methods("/makers/3f6c1a52"), ["GET"]);
        assert_eq!(allowed_methods("/me"), ["GET", "PUT"]);
        assert_eq!(allowed_methods("/maker-applications"), ["GET", "POST"]);
        assert_eq!(allowed_methods("/maker-applications/mine"), ["GET"]);
        assert_eq!(allowed_methods("/maker-applications/app_1/approve"), ["POST"]);
        assert_eq!(allowed_methods("/maker-applications/app_1/reject"), ["POST"]);
        assert_eq!(allowed_methods("/products/p/photos"), ["POST"]);
        assert_eq!(allowed_methods("/products/p/photos/f"), ["DELETE"]);
        assert_eq!(allowed_methods("/products/p/photos/f/confirm"), ["POST"]);
    }

    #[test]
    fn maker_application_paths_reach_their_own_functions() {
        let to = |method, path| route_for(method, path).map(|r| r.function);
        assert_eq!(to("GET", "/maker-applications/mine"), Some("get-my-maker-application"));
        assert_eq!(to("POST", "/maker-applications/mine"), None);
        assert_eq!(to("POST", "/maker-applications/app_1/approve"), Some("approve-maker-application"));
        assert_eq!(to("POST", "/maker-applications/mine/approve"), Some("approve-maker-application"));
        assert_eq!(to("POST", "/maker-applications/app_1/reject"), Some("reject-maker-application"));
        assert_eq!(to("GET", "/maker-applications/app_1"), None);
        assert_eq!(to("GET", "/maker-applications"), Some("list-maker-applications"));
        assert_eq!(to("POST", "/maker-applications"), Some("create-maker-application"));
    }

    #[test]
    fn paths_that_are_no_resource_allow_nothing() {
        for path in [
            "",
            "/nope",
            "/me/",
            "/ME",
            "/health/x",
            // The ALB pattern `/products/*` matches these, but get-product answers them 404.
            "/products/",
            "/products/a/b",
            "/products/a/",
            "/makers/",
            "/makers/a/b",
            "/productsx",
            "/maker-applications/",
            "/maker-applications/app_1",
            "/maker-applications/mine/",
            "/maker-applications//approve",
            "/maker-applications/a/b/approve",
        ] {
            assert!(allowed_methods(path).is_empty(), "{path:?} allows {:?}", allowed_methods(path));
        }
    }

    #[test]
    fn api_path_templates_take_one_non_empty_segment_per_parameter() {
        assert!(api_path_matches("/products/{id}", "/products/prd_1"));
        assert!(api_path_matches("/orders/{id}/cancel", "/orders/ord_1/cancel"));
        assert!(!api_path_matches("/orders/{id}/cancel", "/orders/ord_1"));
        assert!(!api_path_matches("/orders/{id}/cancel", "/orders//cancel"));
        assert!(!api_path_matches("/products/{id}", "/products"));
        assert!(!api_path_matches("/products/{id}", "/products/a/b"));
        assert!(api_path_matches("/me", "/me"));
        assert!(!api_path_matches("/me", "/me/"));
    }

    /// Every route answers at its own API path: its rule matches it, no rule of higher
    /// priority takes it, and `allowed_methods` lists its method there. A rule shadowed by
    /// a wider pattern would make `Allow` promise a method that another function answers.
    #[test]
    fn every_route_is_reached_at_its_api_path() {
        for r in ROUTES {
            let sample: String =
                r.api_path.split('/').map(|s| if s.starts_with('{') { "x1" } else { s }).collect::<Vec<_>>().join("/");
            assert_eq!(route_for(r.method, &sample), Some(r), "{} {sample}", r.method);
            let allowed = allowed_methods(&sample);
            assert!(allowed.contains(&r.method), "{} {sample}: {allowed:?}", r.method);
            assert!(allowed.windows(2).all(|w| w[0] < w[1]), "{sample}: {allowed:?} is not sorted and unique");
        }
    }
}
