//! GET /products: active products, filtered, newest first, paginated.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::catalogue::{list_products, product_filter};
use shared::domain::Product;
use shared::store::StatusFilter;
use shared::{App, Error, Result, http};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let filter = product_filter(|name| http::query(&req, name))?;
    if filter.status != StatusFilter::Active {
        // Archived products are listed only to their maker (their dashboard) and admins.
        let who = app.auth.authenticate(&req).await?;
        if !filter.maker_id.as_ref().is_some_and(|maker| who.may_manage(maker)) {
            return Err(Error::forbidden(
                "Archived products are listed only to their maker and admins: give maker_id of your own shop.",
            ));
        }
    }
    let limit = http::page_limit(&req)?;
    let (items, next_cursor) = list_products(app, &filter, limit, http::query(&req, "cursor")).await?;
    #[derive(Serialize)]
    struct List {
        items: Vec<Product>,
        next_cursor: Option<String>,
    }
    http::json(200, &List { items, next_cursor })
}
