//! Profiles: a user's own details and, for makers, their public shop.

use super::item::{Item, get_bool, get_opt_s, get_s, s};
use super::{Store, sdk};
use crate::auth::Principal;
use crate::domain::{Address, MakerShop, Profile, ProfileUpdate, Timestamp, UserId};
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

pub(super) fn profile_key(user: &UserId) -> Item {
    HashMap::from([("pk".to_owned(), s(format!("USER#{}", user.as_str()))), ("sk".to_owned(), s("PROFILE"))])
}

fn address_value(a: &Address) -> AttributeValue {
    let mut map = HashMap::from([
        ("name".to_owned(), s(&a.name)),
        ("line1".to_owned(), s(&a.line1)),
        ("city".to_owned(), s(&a.city)),
        ("postal_code".to_owned(), s(&a.postal_code)),
        ("country".to_owned(), s(&a.country)),
    ]);
    if let Some(line2) = &a.line2 {
        map.insert("line2".to_owned(), s(line2));
    }
    AttributeValue::M(map)
}

pub(super) fn address_from(item: &Item) -> Result<Option<Address>> {
    let Some(value) = item.get("shipping_address") else { return Ok(None) };
    let map = value.as_m().map_err(|_| Error::internal("reading a stored profile", "shipping_address is not a map"))?;
    Ok(Some(Address {
        name: get_s(map, "name")?,
        line1: get_s(map, "line1")?,
        line2: get_opt_s(map, "line2"),
        city: get_s(map, "city")?,
        postal_code: get_s(map, "postal_code")?,
        country: get_s(map, "country")?,
    }))
}

/// A stored profile; roles come from the caller's token, not from here.
fn profile_from(item: &Item, who: &Principal) -> Result<Profile> {
    Ok(Profile {
        id: who.user_id.clone(),
        username: get_opt_s(item, "username").unwrap_or_else(|| who.username.clone()),
        display_name: get_s(item, "display_name")?,
        shipping_address: address_from(item)?,
        bio: get_opt_s(item, "bio"),
        location: get_opt_s(item, "location"),
        roles: who.roles.clone(),
        created_at: Timestamp::from_stored(get_s(item, "created_at")?),
        updated_at: Timestamp::from_stored(get_s(item, "updated_at")?),
        email: get_opt_s(item, "email"),
    })
}

impl Store {
    /// The caller's profile, created on first sight. One read when it exists and is in
    /// step with the caller's roles; otherwise one race-free upsert as well.
    pub async fn profile(&self, who: &Principal, now: &Timestamp) -> Result<Profile> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(&who.user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk("reading a profile"))?;
        if let Some(item) = out.item
            && get_bool(&item, "is_maker") == who.is_maker()
        {
            return profile_from(&item, who);
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(&who.user_id)))
            .update_expression(
                "SET entity = :entity, user_id = :uid, is_maker = :maker, \
                 username = if_not_exists(username, :username), \
                 display_name = if_not_exists(display_name, :username), \
                 created_at = if_not_exists(created_at, :now), updated_at = if_not_exists(updated_at, :now)",
            )
            .expression_attribute_values(":entity", s("profile"))
            .expression_attribute_values(":uid", s(who.user_id.as_str()))
            .expression_attribute_values(":maker", AttributeValue::Bool(who.is_maker()))
            .expression_attribute_values(":username", s(&who.username))
            .expression_attribute_values(":now", s(now.as_str()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk("creating a profile"))?;
        profile_from(&out.attributes.unwrap_or_default(), who)
    }

    /// Replaces the caller's editable profile fields (PUT), creating the profile if needed.
    pub async fn put_profile(&self, who: &Principal, update: &ProfileUpdate, now: &Timestamp) -> Result<Profile> {
        let mut set = vec![
            "entity = :entity",
            "user_id = :uid",
            "is_maker = :maker",
            "username = if_not_exists(username, :username)",
            "display_name = :display_name",
            "created_at = if_not_exists(created_at, :now)",
            "updated_at = :now",
        ];
        let mut remove = Vec::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":entity".to_owned(), s("profile")),
            (":uid".to_owned(), s(who.user_id.as_str())),
            (":maker".to_owned(), AttributeValue::Bool(who.is_maker())),
            (":username".to_owned(), s(&who.username)),
            (":display_name".to_owned(), s(&update.display_name)),
            (":now".to_owned(), s(now.as_str())),
        ]);
        match &update.shipping_address {
            Some(a) => {
                set.push("shipping_address = :address");
                values.insert(":address".to_owned(), address_value(a));
            }
            None => remove.push("shipping_address"),
        }
        for (name, placeholder, value) in [("bio", ":bio", &update.bio), ("#location", ":location", &update.location)] {
            match value {
                Some(v) => {
                    set.push(if name == "bio" { "bio = :bio" } else { "#location = :location" });
                    values.insert(placeholder.to_owned(), s(v));
                }
                None => remove.push(name),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(&who.user_id)))
            .update_expression(expression)
            // `location` is a DynamoDB reserved word.
            .expression_attribute_names("#location", "location")
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk("updating a profile"))?;
        profile_from(&out.attributes.unwrap_or_default(), who)
    }

    /// A maker's public shop: `None` for unknown users and users who are not makers.
    pub async fn maker_shop(&self, maker: &UserId) -> Result<Option<MakerShop>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(maker)))
            .send()
            .await
            .map_err(sdk("reading a maker"))?;
        let Some(item) = out.item.filter(|item| get_bool(item, "is_maker")) else { return Ok(None) };
        Ok(Some(MakerShop {
            id: maker.clone(),
            display_name: get_s(&item, "display_name")?,
            bio: get_opt_s(&item, "bio"),
            location: get_opt_s(&item, "location"),
            product_count: self.count_active_products(maker).await?,
        }))
    }
}

impl Store {
    /// The shop names of `makers` (one BatchGetItem): for product cards and pages that name
    /// their makers. Users who are not makers are left out.
    pub async fn maker_names(&self, makers: &[UserId]) -> Result<HashMap<UserId, String>> {
        let mut keys: Vec<Item> = Vec::new();
        for maker in makers {
            let key = profile_key(maker);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let items = self.batch_get(keys, "reading makers' names").await?;
        let mut names = HashMap::new();
        for item in items.iter().filter(|item| get_bool(item, "is_maker")) {
            let pk = get_s(item, "pk")?;
            if let Some(id) = pk.strip_prefix("USER#").and_then(UserId::parse) {
                names.insert(id, get_s(item, "display_name")?);
            }
        }
        Ok(names)
    }
}

/// What the mail code needs of a user: where to write, and what to call them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub user: UserId,
    /// Stored by the post-confirmation trigger, or filled in from Cognito on first need.
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// The Cognito username, to look the address up with.
    pub username: Option<String>,
}

impl Store {
    /// A user's contact details from their profile (all `None` when there is no profile).
    pub async fn contact(&self, user: &UserId) -> Result<Contact> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(user)))
            .projection_expression("email, display_name, username")
            .send()
            .await
            .map_err(sdk("reading a profile's contact details"))?;
        let item = out.item.unwrap_or_default();
        Ok(Contact {
            user: user.clone(),
            email: get_opt_s(&item, "email"),
            display_name: get_opt_s(&item, "display_name"),
            username: get_opt_s(&item, "username"),
        })
    }

    /// Stores `email` on `user`'s profile, creating a complete profile if there is none
    /// (as a customer: `GET /me` puts the maker flag in step with the token later). Fields
    /// already set are kept, but the address, which comes from Cognito, is replaced.
    /// Returns whether the profile was created now. Idempotent.
    pub async fn upsert_contact(
        &self,
        user: &UserId,
        username: Option<&str>,
        display_name: &str,
        email: &str,
        now: &Timestamp,
    ) -> Result<bool> {
        // Without a username (the notifier knew only the sub), the token's fills it later.
        let set_username = if username.is_some() { "username = if_not_exists(username, :username), " } else { "" };
        let mut update =
            self.client.update_item().table_name(&self.table).set_key(Some(profile_key(user))).update_expression(
                format!(
                    "SET entity = :entity, user_id = :uid, is_maker = if_not_exists(is_maker, :no), {set_username}\
                 display_name = if_not_exists(display_name, :display_name), email = :email, \
                 created_at = if_not_exists(created_at, :now), updated_at = if_not_exists(updated_at, :now)"
                ),
            );
        if let Some(username) = username {
            update = update.expression_attribute_values(":username", s(username));
        }
        let out = update
            .expression_attribute_values(":entity", s("profile"))
            .expression_attribute_values(":uid", s(user.as_str()))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":display_name", s(display_name))
            .expression_attribute_values(":email", s(email))
            .expression_attribute_values(":now", s(now.as_str()))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await
            .map_err(sdk("storing a profile's email"))?;
        Ok(out.attributes.is_none_or(|old| !old.contains_key("created_at")))
    }
}
