//! The studio's orders (makers only, from the caller's current groups), each with only the
//! maker's own lines, as `GET /maker/orders` gives them:
//! - `GET /studio/orders?status=`: newest first, a page at a time. The first page's rows
//!   (`?part=rows`) refresh themselves every 5 s through htmx, so a new paid order appears
//!   without a reload; without JavaScript a link reloads the page.
//! - `GET /studio/orders/{id}`: the maker's lines, the address to ship to, the timeline.
//! - `GET /studio/orders/{id}/slip`: a packing slip to print (the print stylesheet leaves
//!   out everything but the slip).

use askama::Template;
use lambda_http::{Body, Request, Response};
use shared::domain::{MakerOrder, OrderId, OrderStatus};
use shared::web::timeline::{self, Step};
use shared::web::{self, Layout, Visit, filters, layout::url_encode, staff};
use shared::{App, Error, Result, http};

const PER_PAGE: usize = 20;
/// The statuses the list filters by, with their tab names (`None`: every order).
const TABS: [(Option<OrderStatus>, &str); 7] = [
    (None, "All"),
    (Some(OrderStatus::Paid), "To prepare"),
    (Some(OrderStatus::Preparing), "Being prepared"),
    (Some(OrderStatus::Shipped), "Shipped"),
    (Some(OrderStatus::OutForDelivery), "Out for delivery"),
    (Some(OrderStatus::Delivered), "Delivered"),
    (Some(OrderStatus::Cancelled), "Cancelled"),
];

/// The rows of the list: what the live part swaps.
#[derive(Template)]
#[template(path = "rows.html")]
struct Rows {
    orders: Vec<MakerOrder>,
    /// Where the rows ask for themselves again (the first page only).
    poll: Option<String>,
}

impl Rows {
    fn label(&self, status: &OrderStatus) -> &'static str {
        web::layout::status_label(*status)
    }
    fn tone(&self, status: &OrderStatus) -> &'static str {
        timeline::tone(*status)
    }
    fn units(&self, order: &MakerOrder) -> u64 {
        order.items.iter().map(|l| l.quantity).sum()
    }
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    layout: Layout,
    tabs: Vec<(String, &'static str, bool)>,
    here: String,
    rows: Rows,
    next_href: Option<String>,
    expired: bool,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    layout: Layout,
    order: MakerOrder,
    steps: Vec<Step>,
}

impl OrderPage {
    fn label(&self) -> &'static str {
        web::layout::status_label(self.order.status)
    }
    fn tone(&self) -> &'static str {
        timeline::tone(self.order.status)
    }
}

#[derive(Template)]
#[template(path = "slip.html")]
struct SlipPage {
    layout: Layout,
    order: MakerOrder,
    shop: String,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let mut visit = Visit::start(app, &req).await?;
    let Some(who) = visit.principal().cloned() else { return Ok(visit.sign_in_first()) };
    staff::studio(&who)?;
    let path = http::path(&req);
    if path == "/studio/orders" {
        return list(visit, &req).await;
    }
    let rest = path.strip_prefix("/studio/orders/").ok_or_else(|| Error::not_found("No such page."))?;
    let (id, slip) = match rest.split_once('/') {
        Some((id, "slip")) => (id, true),
        Some(_) => return Err(Error::not_found("No such page.")),
        None => (rest, false),
    };
    // Only orders with this maker's lines, and only those lines.
    let order = match OrderId::parse(id) {
        Some(id) => app.store.order(&id).await?,
        None => None,
    }
    .filter(|o| o.has_maker(&who.user_id))
    .map(|o| o.for_maker(&who.user_id))
    .ok_or_else(|| Error::not_found("No such order among yours."))?;
    if slip {
        let shop = app.store.maker_names(std::slice::from_ref(&who.user_id)).await?.remove(&who.user_id);
        let layout = visit.private_layout(format!("Packing slip {}", order.id.as_str()), "Orders in your studio.");
        let shop = shop.unwrap_or_else(|| "Makers Market".to_owned());
        let body = web::render(&SlipPage { layout, order, shop })?;
        return Ok(visit.respond(web::html(200, body)));
    }
    let steps = timeline::steps(order.status, &order.history);
    let layout = visit.private_layout(format!("Order {}", order.id.as_str()), "Orders in your studio.");
    let body = web::render(&OrderPage { layout, order, steps })?;
    Ok(visit.respond(web::html(200, body)))
}

async fn list(mut visit: Visit<'_>, req: &Request) -> Result<Response<Body>> {
    let app = visit.app();
    let who = visit.principal().cloned().ok_or_else(|| Error::unauthorized("no session"))?;
    let status = match http::query(req, "status") {
        None | Some("") => None,
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| Error::not_found("No such list of orders."))?),
    };
    let status_query = status.map(|s| format!("status={}", s.as_str())).unwrap_or_default();
    let secret = app.cursor_secret().await?;
    let scope = format!(
        "maker-orders|maker={}|status={}",
        who.user_id.as_str(),
        status.map(OrderStatus::as_str).unwrap_or_default()
    );
    let cursor = http::query(req, "cursor");
    let (orders, next, expired) = match cursor.map(|c| http::cursor::decode(secret, &scope, c)) {
        Some(Err(Error::Validation(_))) => (Vec::new(), None, true),
        Some(Err(other)) => return Err(other),
        start => {
            let page = app.store.list_maker_orders(&who.user_id, status, PER_PAGE, start.transpose()?).await?;
            (page.items, page.next.map(|k| http::cursor::encode(secret, &scope, &k)), false)
        }
    };
    let here =
        if status_query.is_empty() { "/studio/orders".to_owned() } else { format!("/studio/orders?{status_query}") };
    let poll = cursor.is_none().then(|| {
        let sep = if status_query.is_empty() { "?" } else { "&" };
        format!("{here}{sep}part=rows")
    });
    let rows = Rows { orders, poll };
    if http::query(req, "part") == Some("rows") {
        return Ok(visit.respond(web::html(200, web::render(&rows)?)));
    }
    let tabs = TABS
        .iter()
        .map(|(s, name)| {
            let href = s.map_or("/studio/orders".to_owned(), |s| format!("/studio/orders?status={}", s.as_str()));
            (href, *name, *s == status)
        })
        .collect();
    let next_href = next.map(|c| {
        let sep = if status_query.is_empty() { "?" } else { "&" };
        format!("{here}{sep}cursor={}", url_encode(&c))
    });
    let mut layout = visit.private_layout("Your orders", "Orders in your studio.");
    layout.htmx = rows.poll.is_some();
    let page = OrdersPage { layout, tabs, here, rows, next_href, expired };
    let body = web::render(&page)?;
    Ok(visit.respond(web::html(if expired { 400 } else { 200 }, body)))
}
