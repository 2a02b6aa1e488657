use super::{Check, Timestamp, non_null, text};
use serde::{Deserialize, Serialize};

/// A user's id: the Cognito `sub`. Makers' ids are their users' ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn new(sub: impl Into<String>) -> Self {
        Self(sub.into())
    }

    /// `None` unless `value` could be a Cognito `sub` (a UUID-like token).
    pub fn parse(value: &str) -> Option<Self> {
        ((1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Maker,
    Admin,
}

/// A postal address, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

impl Address {
    pub(crate) fn check(self, check: &mut Check, at: &str) -> Option<Self> {
        let field = |name: &str| format!("{at}.{name}");
        let name = check.take(&field("name"), text(&self.name, true, 100, false));
        let line1 = check.take(&field("line1"), text(&self.line1, true, 200, false));
        let line2 = match self.line2.as_deref().map(|l| text(l, false, 200, false)) {
            None => Some(None),
            Some(Ok(l)) if l.is_empty() => Some(None),
            Some(result) => check.take(&field("line2"), result).map(Some),
        };
        let city = check.take(&field("city"), text(&self.city, true, 100, false));
        let postal_code = check.take(&field("postal_code"), text(&self.postal_code, true, 20, false));
        let country = check.take(
            &field("country"),
            is_country(&self.country)
                .then(|| self.country.clone())
                .ok_or_else(|| "must be an ISO 3166-1 alpha-2 country code such as PT".to_owned()),
        );
        Some(Self {
            name: name?,
            line1: line1?,
            line2: line2?,
            city: city?,
            postal_code: postal_code?,
            country: country?,
        })
    }
}

/// ISO 3166-1 alpha-2, officially assigned codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ \
BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET \
FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR \
IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN \
MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR \
TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Every country code an address may carry (`openapi.yaml`'s `Country` enum; a test
/// keeps the two equal).
pub fn countries() -> impl Iterator<Item = &'static str> {
    COUNTRIES.split(' ')
}

fn is_country(code: &str) -> bool {
    code.len() == 2 && countries().any(|c| c == code)
}

/// `PUT /me` as the client sends it: the whole editable profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    pub display_name: String,
    #[serde(default)]
    pub shipping_address: Option<Address>,
    #[serde(default)]
    pub bio: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
}

/// A checked `PUT /me`. Absent optional fields clear what was stored: PUT replaces.
#[derive(Debug, Clone)]
pub struct ProfileUpdate {
    pub display_name: String,
    pub shipping_address: Option<Address>,
    pub bio: Option<String>,
    pub location: Option<String>,
}

impl ProfileUpdate {
    /// Checks `input`; only makers have a shop, so only they may set `bio` and `location`.
    pub fn parse(input: ProfileInput, is_maker: bool) -> crate::Result<Self> {
        if !is_maker && (input.bio.is_some() || input.location.is_some()) {
            return Err(crate::Error::forbidden("Only makers have a shop bio and location."));
        }
        let mut check = Check::default();
        let display_name = check.take("display_name", text(&input.display_name, true, 80, false));
        let shipping_address = match input.shipping_address {
            None => Some(None),
            Some(address) => address.check(&mut check, "shipping_address").map(Some),
        };
        let optional = |check: &mut Check, field: &str, value: Option<String>, max: usize, multiline: bool| match value
        {
            None => Some(None),
            Some(v) => check.take(field, text(&v, false, max, multiline)).map(|t| (!t.is_empty()).then_some(t)),
        };
        let bio = optional(&mut check, "bio", input.bio, 2000, true);
        let location = optional(&mut check, "location", input.location, 100, false);
        check.finish(|| {
            Some(Self {
                display_name: display_name?,
                shipping_address: shipping_address?,
                bio: bio?,
                location: location?,
            })
        })
    }
}

/// A user's own profile, as `GET /me` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub shipping_address: Option<Address>,
    pub bio: Option<String>,
    pub location: Option<String>,
    pub roles: Vec<Role>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Where emails go, from Cognito: stored, never shown (`GET /me` has no email field).
    #[serde(skip)]
    pub email: Option<String>,
}

/// A maker's public shop, as `GET /makers/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MakerShop {
    pub id: UserId,
    pub display_name: String,
    pub bio: Option<String>,
    pub location: Option<String>,
    pub product_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> Address {
        Address {
            name: "Ana".into(),
            line1: "Rua 1".into(),
            line2: None,
            city: "Porto".into(),
            postal_code: "4000-001".into(),
            country: "PT".into(),
        }
    }

    fn input() -> ProfileInput {
        ProfileInput { display_name: "Ana".into(), shipping_address: Some(address()), bio: None, location: None }
    }

    #[test]
    fn a_customer_may_not_set_a_shop_bio() {
        let mut i = input();
        i.bio = Some("I make bowls".into());
        assert!(matches!(ProfileUpdate::parse(i, false), Err(crate::Error::Forbidden(_))));
    }

    #[test]
    fn address_fields_are_named_by_their_path() {
        let mut i = input();
        i.shipping_address = Some(Address { country: "XX".into(), city: String::new(), ..address() });
        let fields: Vec<String> = match ProfileUpdate::parse(i, true) {
            Err(crate::Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => vec![format!("{other:?}")],
        };
        assert_eq!(fields, ["shipping_address.city", "shipping_address.country"]);
    }

    #[test]
    fn countries_are_iso_codes() {
        assert!(is_country("PT") && is_country("GB") && is_country("ZW"));
        assert!(!is_country("pt") && !is_country("UK") && !is_country("PRT") && !is_country(""));
    }
}
