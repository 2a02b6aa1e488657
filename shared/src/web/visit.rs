//! A visit: the one cookie the shop sets, and who it says is here.
//!
//! **One cookie**, `mm` (`__Host-mm` over https), HttpOnly, `SameSite=Lax`, `Secure` over
//! https, `Path=/`, 30 days. Its value is sealed ([`crate::http::seal`], HMAC-SHA256 with
//! the key from Secrets Manager) JSON: a random visitor id (what the form token is derived
//! from), the signed-in session's random id and user, a visitor's cart, and a flash
//! message for the next page. One cookie, because an ALB in front of a Lambda function
//! passes one `Set-Cookie` per answer (single-value headers), and every answer here sets
//! at most one. A cookie that does not open (altered, or sealed with an old key) is a fresh
//! visit, and the page says so when it held a cart.
//!
//! **Signed in**: the session id points to a DynamoDB item holding Cognito's tokens
//! ([`crate::store::WebSession`]); no token reaches the browser, a URL or a log. An expired
//! access token is renewed with the refresh token; a session that cannot be renewed (signed
//! out elsewhere, refresh token revoked) is a signed-out visit. Roles come from the access
//! token, verified as the API verifies it, so a user taken out of a group loses what it
//! gave at the next renewal.

use super::layout::{Layout, UserBadge};
use super::{assets::Links, is_https};
use crate::auth::Principal;
use crate::config::Secret;
use crate::domain::{Cart, CartLine, UserId};
use crate::http::{self, seal};
use crate::store::WebSession;
use crate::{App, Result};
use aws_lc_rs::{digest, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use std::time::UNIX_EPOCH;

const COOKIE: &str = "mm";
const SECURE_COOKIE: &str = "__Host-mm";
const COOKIE_SCOPE: &str = "web-cookie";
const FORM_SCOPE: &str = "web-form";
/// Browsers keep cookies up to 4,096 bytes; a full cart of 50 lines seals to about 3.3 KB.
const MAX_COOKIE_BYTES: usize = 4000;
const MAX_AGE_SECS: u64 = 30 * 24 * 3600;
/// An access token this close to its expiry is renewed before use.
const RENEW_BEFORE_SECS: u64 = 60;

/// The signed-in part of the cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SessionRef {
    /// The random session id (the DynamoDB item is keyed by its SHA-256).
    id: String,
    /// The user's sub.
    user: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CookieState {
    #[serde(rename = "v")]
    visitor: String,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    session: Option<SessionRef>,
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    cart: Vec<CartLine>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    flash: Option<String>,
    /// A sign-in through Cognito's managed login, under way.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    oauth: Option<OAuthPending>,
}

/// What the callback of a managed-login sign-in must match: the `state` sent, the PKCE
/// verifier, and where to return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OAuthPending {
    state: String,
    verifier: String,
    next: String,
}

/// The signed-in user of a visit.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    /// Their profile's display name (their username until they have a profile).
    pub name: String,
    session_hash: String,
    tokens: WebSession,
}

impl SignedIn {
    /// The current access token (for Cognito calls made on the user's behalf).
    pub fn access_token(&self) -> &Secret {
        &self.tokens.access_token
    }
    pub fn refresh_token(&self) -> &Secret {
        &self.tokens.refresh_token
    }
}

/// One page request's visit: read at the start, written back (one `Set-Cookie`, only when
/// something changed) by [`Visit::respond`].
pub struct Visit<'a> {
    app: &'a App,
    secret: &'a Secret,
    state: CookieState,
    /// The cookie as it came, to know whether it must be set again.
    sent: Option<String>,
    https: bool,
    /// The cookie held something that did not open.
    pub tampered: bool,
    /// The signed-in user, if any.
    pub user: Option<SignedIn>,
    /// A signed-in user's cart (a visitor's lives in the cookie).
    account_cart: Cart,
    here: String,
    origin: String,
}

impl std::fmt::Debug for Visit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visit").field("signed_in", &self.user.is_some()).finish_non_exhaustive()
    }
}

fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG does not fail on the platforms Lambda runs; a zero id would still be
    // sealed, so no one else could have made it.
    let _ = rand::fill(&mut buf);
    B64.encode(buf)
}

fn sha256_hex(value: &str) -> String {
    digest::digest(&digest::SHA256, value.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in the request's `Cookie` header(s).
fn cookie_value<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

impl<'a> Visit<'a> {
    /// Reads the cookie and, when it names a session, the session, cart and profile (one
    /// round trip), renewing the access token when it has expired.
    pub async fn start(app: &'a App, req: &Request) -> Result<Self> {
        let secret = app.cursor_secret().await?;
        let https = is_https(req);
        let name = if https { SECURE_COOKIE } else { COOKIE };
        let sent = cookie_value(req, name).map(str::to_owned);
        let opened = sent
            .as_deref()
            .and_then(|v| seal::open(secret, COOKIE_SCOPE, v, MAX_COOKIE_BYTES))
            .and_then(|bytes| serde_json::from_slice::<CookieState>(&bytes).ok())
            .filter(|state| !state.visitor.is_empty());
        let tampered = sent.is_some() && opened.is_none();
        let state = opened.unwrap_or_else(|| CookieState { visitor: random_id(16), ..CookieState::default() });
        let host = http::header(req, "host").unwrap_or("localhost");
        let origin = format!("{}://{host}", if https { "https" } else { "http" });
        let here = here(req);
        let mut visit =
            Self { app, secret, state, sent, https, tampered, user: None, account_cart: Cart::default(), here, origin };
        visit.load_session().await?;
        Ok(visit)
    }

    async fn load_session(&mut self) -> Result<()> {
        let Some(session) = self.state.session.clone() else { return Ok(()) };
        let Some(user) = UserId::parse(&session.user) else {
            self.state.session = None;
            return Ok(());
        };
        let hash = sha256_hex(&session.id);
        let now = self.app.clock.now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let read = self.app.store.read_visit(&user, &hash, now).await?;
        let Some(mut tokens) = read.session else {
            self.state.session = None;
            return Ok(());
        };
        if tokens.access_expires_at <= now + RENEW_BEFORE_SECS {
            match super::account::renew(self.app, &tokens.refresh_token).await {
                Ok((access, expires_at)) => {
                    if !self.app.store.renew_session(&user, &hash, &access, expires_at).await? {
                        self.state.session = None;
                        return Ok(());
                    }
                    tokens.access_token = access;
                    tokens.access_expires_at = expires_at;
                }
                Err(err @ crate::Error::Unauthorized(_)) => {
                    // Revoked or expired: the session is over.
                    tracing::info!(error = %err, "a session could not be renewed: signed out");
                    self.app.store.delete_session(&user, &hash).await?;
                    self.state.session = None;
                    return Ok(());
                }
                // Cognito down is a 503, not a sign-out: the session is still good.
                Err(other) => return Err(other),
            }
        }
        let principal = match self.app.auth.verify(tokens.access_token.expose()).await {
            Ok(principal) if principal.user_id == user => principal,
            Ok(_) | Err(crate::Error::Unauthorized(_)) => {
                tracing::info!("a session's access token was refused: signed out");
                self.state.session = None;
                return Ok(());
            }
            Err(other) => return Err(other),
        };
        let name = shown_name(read.display_name, &principal);
        self.account_cart = read.cart;
        self.user = Some(SignedIn { principal, name, session_hash: hash, tokens });
        Ok(())
    }

    pub fn app(&self) -> &'a App {
        self.app
    }

    /// The signed-in caller, as the API's use cases take it.
    pub fn principal(&self) -> Option<&Principal> {
        self.user.as_ref().map(|u| &u.principal)
    }

    /// The token every state-changing form carries (`_token`).
    pub fn form_token(&self) -> String {
        seal::tag(self.secret, FORM_SCOPE, self.state.visitor.as_bytes())
    }

    /// Whether `token` is this visit's form token.
    pub fn form_token_matches(&self, token: &str) -> bool {
        seal::verify(self.secret, FORM_SCOPE, self.state.visitor.as_bytes(), token)
    }

    /// The shop's own origin as the browser sees it (`https://shop.example`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The cart: the account's when signed in, else the cookie's.
    pub fn cart(&self) -> Cart {
        match self.user {
            Some(_) => self.account_cart.clone(),
            None => Cart::from_lines(self.state.cart.clone()),
        }
    }

    /// Keeps `cart` as the visit's cart: in DynamoDB when signed in, else in the cookie.
    pub async fn save_cart(&mut self, cart: Cart) -> Result<()> {
        match &self.user {
            Some(user) => {
                self.app.store.put_cart(&user.principal.user_id, &cart, &self.app.now()).await?;
                self.account_cart = cart;
            }
            None => self.state.cart = cart.into_lines(),
        }
        Ok(())
    }

    /// Starts a managed-login sign-in: a fresh `state` and PKCE verifier kept in the cookie;
    /// returns the state and the S256 code challenge for the authorize URL.
    pub fn start_oauth(&mut self, next: String) -> (String, String) {
        let (state, verifier) = (random_id(24), random_id(32));
        let challenge = B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
        self.state.oauth = Some(OAuthPending { state: state.clone(), verifier, next });
        (state, challenge)
    }

    /// The PKCE verifier and `next` of the sign-in under way, if `state` is its state (then
    /// forgotten: a callback is used once).
    pub fn finish_oauth(&mut self, state: &str) -> Option<(String, String)> {
        let pending = self.state.oauth.take()?;
        let same = pending.state.len() == state.len()
            && aws_lc_rs::constant_time::verify_slices_are_equal(pending.state.as_bytes(), state.as_bytes()).is_ok();
        same.then_some((pending.verifier, pending.next))
    }

    /// A message for the next page.
    pub fn flash(&mut self, message: impl Into<String>) {
        self.state.flash = Some(message.into());
    }

    /// The page's layout, taking the flash message (it shows once).
    pub fn layout(&mut self, title: impl Into<String>, description: impl Into<String>) -> Layout {
        let mut flash = self.state.flash.take();
        if self.tampered && flash.is_none() {
            flash = Some("Your session could not be read, so it was started afresh; your cart may be empty.".into());
            self.tampered = false;
        }
        Layout {
            title: title.into(),
            description: description.into(),
            canonical: None,
            noindex: false,
            user: self.user.as_ref().map(|u| UserBadge {
                name: u.name.clone(),
                is_maker: u.principal.is_maker(),
                is_admin: u.principal.is_admin(),
            }),
            cart_count: self.cart().units(),
            form_token: self.form_token(),
            flash,
            query: String::new(),
            here: self.here.clone(),
            links: Links::get(),
            htmx: false,
            stripe_js: None,
        }
    }

    /// [`Visit::layout`] for a page that is nobody's business but its user's (the studio,
    /// the desk, an application): search engines are asked not to index it.
    pub fn private_layout(&mut self, title: impl Into<String>, description: impl Into<String>) -> Layout {
        Layout { noindex: true, ..self.layout(title, description) }
    }

    /// The absolute URL of `path` on this shop (`SITE_URL`, else the request's origin).
    pub fn absolute(&self, path: &str) -> String {
        let base = self.app.config.web.site_url.as_deref().unwrap_or(&self.origin);
        format!("{base}{path}")
    }

    /// Starts a session for a user who just signed in: a new visitor id and session id
    /// (nothing from before sign-in is kept that could have been planted), the visitor's
    /// cart merged into the account's.
    pub async fn sign_in(&mut self, principal: Principal, tokens: WebSession) -> Result<()> {
        let id = random_id(32);
        let hash = sha256_hex(&id);
        let now = self.app.clock.now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        self.app.store.put_session(&principal.user_id, &hash, &tokens, now).await?;
        let visitor_cart = Cart::from_lines(std::mem::take(&mut self.state.cart));
        let read = self.app.store.read_visit(&principal.user_id, &hash, now).await?;
        let mut cart = read.cart;
        if !visitor_cart.is_empty() {
            cart.merge(visitor_cart);
            self.app.store.put_cart(&principal.user_id, &cart, &self.app.now()).await?;
        }
        self.state.visitor = random_id(16);
        self.state.session = Some(SessionRef { id, user: principal.user_id.as_str().to_owned() });
        let name = shown_name(read.display_name, &principal);
        self.account_cart = cart;
        self.user = Some(SignedIn { principal, name, session_hash: hash, tokens });
        Ok(())
    }

    /// Ends the session here: the item is deleted and the cookie forgets it (with a new
    /// visitor id). The refresh token is revoked by the caller first.
    pub async fn sign_out(&mut self) -> Result<()> {
        if let Some(user) = self.user.take() {
            self.app.store.delete_session(&user.principal.user_id, &user.session_hash).await?;
        }
        self.state = CookieState { visitor: random_id(16), ..CookieState::default() };
        self.account_cart = Cart::default();
        Ok(())
    }

    /// `response` with the cookie set again when the visit changed it (or it was new).
    pub fn respond(self, mut response: Response<Body>) -> Response<Body> {
        let payload = serde_json::to_vec(&self.state).unwrap_or_default();
        let sealed = seal::seal(self.secret, COOKIE_SCOPE, &payload);
        if self.sent.as_deref() == Some(sealed.as_str()) {
            return response;
        }
        let (name, secure) = if self.https { (SECURE_COOKIE, "; Secure") } else { (COOKIE, "") };
        let cookie = format!("{name}={sealed}; Path=/; Max-Age={MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        response
    }

    /// The answer for a page that needs a signed-in user and has none: to sign-in, then back.
    pub fn sign_in_first(self) -> Response<Body> {
        let next = super::layout::url_encode(&self.here);
        self.respond(super::see_other(&format!("/sign-in?next={next}")))
    }
}

/// What the header calls a user: their profile's name, unless it is only Cognito's username
/// (an email pool's is a generated id).
fn shown_name(display_name: Option<String>, principal: &Principal) -> String {
    display_name
        .filter(|n| n != &principal.username && !n.trim().is_empty())
        .unwrap_or_else(|| "Your account".to_owned())
}

/// The request's path and query, as a `next` to return to.
fn here(req: &Request) -> String {
    let path = http::path(req);
    let query = req.uri().query().filter(|q| !q.is_empty());
    super::safe_next(Some(&match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }))
}
