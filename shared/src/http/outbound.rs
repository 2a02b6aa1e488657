//! The HTTPS client the functions use to call third-party APIs (Stripe, Resend): rustls
//! with the system's roots, HTTP/1.1, a connect timeout, and connections kept between
//! invocations of a warm function, since a TLS handshake per call would cost more than the
//! call.

use crate::{Error, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::time::Duration;

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How long an idle connection is kept. Not long, and below the idle timeouts of the load
/// balancers in front of Stripe: the other side may have closed it while the function was
/// frozen, and an expired one is dropped before it is reused.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A client whose connections give up after `connect_timeout`; plain `http://` is allowed
/// for the local emulators.
pub fn https_client(connect_timeout: Duration) -> Result<HttpsClient> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| Error::internal("loading TLS roots", e))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(https))
}
