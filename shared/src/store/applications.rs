//! Maker applications.
//!
//! | access pattern                          | key / index                                            | operation |
//! |-----------------------------------------|--------------------------------------------------------|-----------|
//! | application by id                       | `pk=MAKERAPP#<id>`, `sk=MAKERAPP`                      | GetItem (consistent) |
//! | a user's latest and open application    | `pk=USER#<sub>`, `sk=MAKERAPP`: `latest_application_id`, `open_application_id` (only while pending) | GetItem (consistent) |
//! | apply (one open application per user)   | Put application (`attribute_not_exists`) + Update the user's item (`attribute_not_exists(open_application_id)`) | TransactWriteItems |
//! | applications by status, oldest first    | `gsi1`: `gsi1pk=MAKERAPPS#<status>`, `gsi1sk=<id>`     | Query, ascending |
//! | decide (approve / reject)               | Update application (`status = pending`) + Update the user's item (`open_application_id = <id>`, removed) [+ Update the profile: the shop, `is_maker`] | TransactWriteItems |
//!
//! The per-user item is what makes "one open application" hold under concurrency: two
//! applications at once both condition on it, and DynamoDB lets exactly one transaction
//! through. Reading first and writing after would let both in.

use super::item::{Item, get_opt_s, get_s, s};
use super::{Page, Store, TransactError, cancellation_codes, sdk};
use crate::domain::{Application, ApplicationId, ApplicationStatus, Timestamp, UserId};
use crate::http::cursor::Key;
use crate::store::query::IndexQuery;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;

const SORT_KEY: &str = "MAKERAPP";

fn application_key(id: &ApplicationId) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("MAKERAPP#{}", id.as_str()))), ("sk".to_owned(), s(SORT_KEY))])
}

fn applicant_key(user: &UserId) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("USER#{}", user.as_str()))), ("sk".to_owned(), s(SORT_KEY))])
}

fn status_partition(status: ApplicationStatus) -> String {
    format!("MAKERAPPS#{}", status.as_str())
}

fn to_item(a: &Application) -> Item {
    let mut item = application_key(&a.id);
    item.extend([
        ("entity".to_owned(), s("maker_application")),
        ("id".to_owned(), s(a.id.as_str())),
        ("user_id".to_owned(), s(a.user_id.as_str())),
        ("username".to_owned(), s(&a.username)),
        ("shop_name".to_owned(), s(&a.shop_name)),
        ("bio".to_owned(), s(&a.bio)),
        ("location".to_owned(), s(&a.location)),
        ("status".to_owned(), s(a.status.as_str())),
        ("created_at".to_owned(), s(a.created_at.as_str())),
        ("gsi1pk".to_owned(), s(status_partition(a.status))),
        ("gsi1sk".to_owned(), s(a.id.as_str())),
    ]);
    item
}

fn from_item(item: &Item) -> Result<Application> {
    let corrupt = |what: &str| Error::internal("reading a stored maker application", format!("invalid {what}"));
    let id = ApplicationId::parse(&get_s(item, "id")?).ok_or_else(|| corrupt("id"))?;
    let user_id = UserId::parse(&get_s(item, "user_id")?).ok_or_else(|| corrupt("user_id"))?;
    let status = ApplicationStatus::parse(&get_s(item, "status")?).ok_or_else(|| corrupt("status"))?;
    Ok(Application {
        id,
        user_id,
        username: get_s(item, "username")?,
        shop_name: get_s(item, "shop_name")?,
        bio: get_s(item, "bio")?,
        location: get_s(item, "location")?,
        status,
        note: get_opt_s(item, "note"),
        created_at: Timestamp::from_stored(get_s(item, "created_at")?),
        decided_at: get_opt_s(item, "decided_at").map(Timestamp::from_stored),
        decided_by: get_opt_s(item, "decided_by").as_deref().and_then(UserId::parse),
    })
}

impl Store {
    /// Stores a new pending application, unless its applicant already has one open: then a
    /// 409 and nothing is written.
    pub async fn create_application(&self, application: &Application) -> Result<()> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(application)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(sdk("building a maker application write"))?;
        let applicant = Update::builder()
            .table_name(&self.table)
            .set_key(Some(applicant_key(&application.user_id)))
            .update_expression(
                "SET entity = :entity, user_id = :uid, latest_application_id = :id, open_application_id = :id",
            )
            .condition_expression("attribute_not_exists(open_application_id)")
            .expression_attribute_values(":entity", s("maker_applicant"))
            .expression_attribute_values(":uid", s(application.user_id.as_str()))
            .expression_attribute_values(":id", s(application.id.as_str()))
            .build()
            .map_err(sdk("building a maker application write"))?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(applicant).build()];
        // The applicant's item refused: an application of theirs is still open.
        let open_already = |err: &TransactError| {
            cancellation_codes(err).get(1).and_then(Option::as_deref) == Some("ConditionalCheckFailed")
        };
        if self.transact_retrying(items, "creating a maker application", open_already).await? {
            Ok(())
        } else {
            Err(Error::conflict(
                "You already have an application waiting for a decision; you will hear from us by email.",
            ))
        }
    }

    pub async fn application(&self, id: &ApplicationId) -> Result<Option<Application>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(application_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk("reading a maker application"))?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// `user`'s latest application, whatever its status.
    pub async fn latest_application(&self, user: &UserId) -> Result<Option<Application>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(applicant_key(user)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk("reading a user's maker application"))?;
        let Some(latest) = out.item.as_ref().and_then(|item| get_opt_s(item, "latest_application_id")) else {
            return Ok(None);
        };
        let id = ApplicationId::parse(&latest)
            .ok_or_else(|| Error::internal("reading a user's maker application", "invalid latest_application_id"))?;
        self.application(&id).await
    }

    /// Applications in `status`, oldest first (a queue: the longest waiting come first).
    pub async fn list_applications(
        &self,
        status: ApplicationStatus,
        limit: usize,
        start: Option<Key>,
    ) -> Result<Page<Application>> {
        let query = IndexQuery::new("gsi1", ["gsi1pk", "gsi1sk"], "gsi1pk = :pk")
            .value(":pk", s(status_partition(status)))
            .oldest_first();
        let (items, next) = self.query_page(query, limit, start, "listing maker applications").await?;
        let items = items.iter().map(from_item).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    /// Records `decided` (the pending application `decided.id`, approved or rejected) if it
    /// is still pending, closing its applicant's open application; an approval also fills
    /// the applicant's shop profile (name, bio, location) and marks them a maker, in the
    /// same transaction. `Ok(false)` when it was no longer pending (decided by someone else
    /// meanwhile: read it again).
    pub async fn decide_application(&self, decided: &Application) -> Result<bool> {
        let now = decided.decided_at.clone().unwrap_or_else(|| decided.created_at.clone());
        let decider = decided.decided_by.as_ref().map(UserId::as_str).unwrap_or_default();
        let mut set = vec!["#status = :to", "gsi1pk = :partition", "decided_at = :now", "decided_by = :by"];
        let mut values = HashMap::from([
            (":to".to_owned(), s(decided.status.as_str())),
            (":pending".to_owned(), s(ApplicationStatus::Pending.as_str())),
            (":partition".to_owned(), s(status_partition(decided.status))),
            (":now".to_owned(), s(now.as_str())),
            (":by".to_owned(), s(decider)),
        ]);
        if let Some(note) = &decided.note {
            set.push("note = :note");
            values.insert(":note".to_owned(), s(note));
        }
        let application = Update::builder()
            .table_name(&self.table)
            .set_key(Some(application_key(&decided.id)))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(sdk("building a maker application decision"))?;
        let applicant = Update::builder()
            .table_name(&self.table)
            .set_key(Some(applicant_key(&decided.user_id)))
            .update_expression("REMOVE open_application_id")
            .condition_expression("open_application_id = :id")
            .expression_attribute_values(":id", s(decided.id.as_str()))
            .build()
            .map_err(sdk("building a maker application decision"))?;
        let mut items = vec![
            TransactWriteItem::builder().update(application).build(),
            TransactWriteItem::builder().update(applicant).build(),
        ];
        if decided.status == ApplicationStatus::Approved {
            let profile = Update::builder()
                .table_name(&self.table)
                .set_key(Some(super::profiles::profile_key(&decided.user_id)))
                .update_expression(
                    "SET entity = :entity, user_id = :uid, is_maker = :t, \
                     username = if_not_exists(username, :username), \
                     display_name = :shop_name, bio = :bio, #location = :location, \
                     created_at = if_not_exists(created_at, :now), updated_at = :now",
                )
                // `location` is a DynamoDB reserved word.
                .expression_attribute_names("#location", "location")
                .expression_attribute_values(":entity", s("profile"))
                .expression_attribute_values(":uid", s(decided.user_id.as_str()))
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .expression_attribute_values(":username", s(&decided.username))
                .expression_attribute_values(":shop_name", s(&decided.shop_name))
                .expression_attribute_values(":bio", s(&decided.bio))
                .expression_attribute_values(":location", s(&decided.location))
                .expression_attribute_values(":now", s(now.as_str()))
                .build()
                .map_err(sdk("building a shop profile update"))?;
            items.push(TransactWriteItem::builder().update(profile).build());
        }
        // A condition refused: the application was no longer pending.
        let decided_meanwhile = |err: &TransactError| {
            cancellation_codes(err).iter().any(|c| c.as_deref() == Some("ConditionalCheckFailed"))
        };
        self.transact_retrying(items, "deciding a maker application", decided_meanwhile).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NewApplication;

    #[test]
    fn an_application_round_trips_through_its_item() {
        let new = NewApplication { shop_name: "Clay & Co".into(), bio: "Bowls".into(), location: "Porto".into() };
        let app = Application::new(
            &UserId::new("u-1"),
            "u-1",
            new,
            Timestamp::from_stored("2026-12-03T10:00:00.000Z".into()),
        );
        let rejected = app.decided(
            ApplicationStatus::Rejected,
            &UserId::new("admin-1"),
            Some("More photos".into()),
            Timestamp::from_stored("2026-12-03T11:00:00.000Z".into()),
        );
        for a in [app, rejected] {
            let mut item = to_item(&a);
            if let Some(note) = &a.note {
                item.insert("note".into(), s(note));
            }
            if let (Some(at), Some(by)) = (&a.decided_at, &a.decided_by) {
                item.insert("decided_at".into(), s(at.as_str()));
                item.insert("decided_by".into(), s(by.as_str()));
            }
            assert_eq!(from_item(&item).ok(), Some(a));
        }
    }
}
