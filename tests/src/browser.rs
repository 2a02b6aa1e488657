//! A scripted browser for the page handlers: it keeps the shop's cookie, sends forms as a
//! browser does (urlencoded, with `Origin`), and reads what a page shows. Requests go
//! through the same ALB events and route table as the API's tests.

use crate::{TestContext, TestResponse};

/// The shop as the test context serves it.
pub const ORIGIN: &str = "http://127.0.0.1:3000";

/// One browser: its cookie jar holds the shop's one cookie.
pub struct Browser<'c> {
    ctx: &'c TestContext,
    /// Another configuration of the same stack (`TestContext::app_with`), if any.
    app: Option<&'c shared::App>,
    cookie: Option<String>,
}

impl<'c> Browser<'c> {
    pub fn new(ctx: &'c TestContext) -> Self {
        Self { ctx, app: None, cookie: None }
    }

    /// A browser of the shop served by `app` (the same stack, configured otherwise).
    pub fn on(ctx: &'c TestContext, app: &'c shared::App) -> Self {
        Self { ctx, app: Some(app), cookie: None }
    }

    async fn send(&self, request: crate::TestRequest<'c>) -> TestResponse {
        match self.app {
            Some(app) => self.ctx.send_event_to(app, request.event()).await,
            None => request.send().await,
        }
    }

    /// The cookie as the browser holds it (`name=value`).
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// Replaces the cookie (a tampered one, say).
    pub fn set_cookie(&mut self, cookie: Option<String>) {
        self.cookie = cookie;
    }

    fn keep_cookie(&mut self, response: &TestResponse) {
        if let Some(set) = response.header("set-cookie") {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
    }

    fn request(&self, method: &str, path_and_query: &str) -> crate::TestRequest<'c> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut request = self.ctx.request(method, path).header("accept", "text/html");
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            request = request.query(&name, &value);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request
    }

    /// GET `path` (with its query), keeping the cookie the page sets.
    pub async fn get(&mut self, path: &str) -> TestResponse {
        let response = self.send(self.request("GET", path)).await;
        self.keep_cookie(&response);
        response
    }

    /// POSTs `fields` to `path` from this site, with the form token of the page at `from`.
    pub async fn submit(&mut self, from: &str, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let page = self.get(from).await;
        let token = form_token(&page.text()).unwrap_or_default();
        let mut all = vec![("_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all, Some(ORIGIN)).await
    }

    /// POSTs exactly `fields` to `path`, with `origin` as the `Origin` header (if any).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> TestResponse {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut request = self.request("POST", path).raw_body("application/x-www-form-urlencoded", &body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = self.send(request).await;
        self.keep_cookie(&response);
        response
    }
}

/// `value` percent-encoded as the pages encode query values.
pub fn url_encode(value: &str) -> String {
    shared::web::layout::url_encode(value)
}

/// The value of the first `_token` hidden field in a page.
pub fn form_token(html: &str) -> Option<String> {
    let at = html.find("name=\"_token\" value=\"")? + "name=\"_token\" value=\"".len();
    html[at..].split('"').next().map(str::to_owned)
}

/// The text of a page without its tags (for "the page says …" assertions).
pub fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl TestResponse {
    /// Asserts an HTML page with this status.
    #[track_caller]
    pub fn page(&self, status: u16) -> String {
        self.expect(status);
        assert_eq!(self.header("content-type"), Some("text/html; charset=utf-8"), "{}", self.text());
        self.text()
    }

    /// Asserts a 303 to `location`.
    #[track_caller]
    pub fn redirects_to(&self, location: &str) {
        assert_eq!((self.status, self.header("location")), (303, Some(location)), "{}", self.text());
    }
}

/// The last code moto's Cognito made for `email` (`purpose`: `sign-up` or `password`), as
/// the user reads it in their email (the launcher writes it to `MM_TEST_COGNITO_EVENTS`).
pub fn cognito_code(email: &str, purpose: &str) -> Option<String> {
    cognito_events().into_iter().rev().find_map(|e| {
        (e["kind"] == "code" && e["email"] == email && e["purpose"] == purpose)
            .then(|| e["code"].as_str().map(str::to_owned))
            .flatten()
    })
}

/// The post-confirmation trigger event moto's Cognito wrote for `email`'s sign-up.
pub fn post_confirmation_event(email: &str) -> Option<serde_json::Value> {
    cognito_events()
        .into_iter()
        .rev()
        .find(|e| e["kind"] == "post_confirmation" && e["event"]["request"]["userAttributes"]["email"] == email)
        .map(|e| e["event"].clone())
}

fn cognito_events() -> Vec<serde_json::Value> {
    let path = std::env::var("MM_TEST_COGNITO_EVENTS").unwrap_or_else(|_| {
        panic!("MM_TEST_COGNITO_EVENTS is not set: run the tests with `cargo xtask test`, which starts moto")
    });
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Ages every web session of user `sub` past its access token's expiry, so that the next
/// page renews it with the refresh token (and gets the groups Cognito gives now). Returns
/// the session items as they were.
pub async fn expire_sessions(
    ctx: &TestContext,
    sub: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let store = &ctx.app.store;
    let sessions = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :s)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{sub}")))
        .expression_attribute_values(":s", AttributeValue::S("SESSION#".into()))
        .send()
        .await
        .expect("reading the sessions");
    let items = sessions.items.unwrap_or_default();
    for item in &items {
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .update_expression("SET access_expires_at = :past")
            .expression_attribute_values(":past", AttributeValue::N("1".into()))
            .send()
            .await
            .expect("ageing a session");
    }
    items
}
