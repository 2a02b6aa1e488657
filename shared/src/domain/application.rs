//! Maker applications: a customer asks to sell; an admin approves or rejects with a note.

use super::{Check, Timestamp, UserId, text, ulid_id};
use serde::{Deserialize, Serialize};

ulid_id!(
    /// A maker application's id: `app_` + a ULID.
    ApplicationId,
    "app_"
);

/// Where an application stands. Only `pending` moves, once, to one of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationStatus {
    Pending,
    Approved,
    Rejected,
}

impl ApplicationStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Approved, Self::Rejected];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// The longest shop name, bio and location: the profile's limits, since approval copies
/// them into the shop profile (`display_name`, `bio`, `location`).
pub const MAX_SHOP_NAME: usize = 80;
pub const MAX_BIO: usize = 2000;
pub const MAX_LOCATION: usize = 100;
/// The longest note a rejection carries.
pub const MAX_NOTE: usize = 1000;

/// `POST /maker-applications` as the client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationInput {
    pub shop_name: String,
    pub bio: String,
    pub location: String,
}

/// A checked application, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    pub shop_name: String,
    pub bio: String,
    pub location: String,
}

impl NewApplication {
    /// Checks `input` with the profile's text rules: every field required, no control
    /// characters (the bio may have line breaks), no invisible formatting characters.
    pub fn parse(input: ApplicationInput) -> crate::Result<Self> {
        let mut check = Check::default();
        let shop_name = check.take("shop_name", text(&input.shop_name, true, MAX_SHOP_NAME, false));
        let bio = check.take("bio", text(&input.bio, true, MAX_BIO, true));
        let location = check.take("location", text(&input.location, true, MAX_LOCATION, false));
        check.finish(|| Some(Self { shop_name: shop_name?, bio: bio?, location: location? }))
    }
}

/// `POST /maker-applications/{id}/reject` as the client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionInput {
    pub note: String,
}

impl RejectionInput {
    /// The note, checked (1–1000 characters, line breaks allowed).
    pub fn parse(self) -> crate::Result<String> {
        let mut check = Check::default();
        let note = check.take("note", text(&self.note, true, MAX_NOTE, true));
        check.finish(|| note)
    }
}

/// A maker application, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Application {
    pub id: ApplicationId,
    /// The applicant.
    pub user_id: UserId,
    /// The applicant's Cognito username, which the group is added by. Not shown.
    #[serde(skip)]
    pub username: String,
    pub shop_name: String,
    pub bio: String,
    pub location: String,
    pub status: ApplicationStatus,
    /// The admin's note of a rejection; `null` otherwise.
    pub note: Option<String>,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    /// The admin who decided.
    pub decided_by: Option<UserId>,
}

impl Application {
    pub fn new(user: &UserId, username: &str, input: NewApplication, now: Timestamp) -> Self {
        Self {
            id: ApplicationId::generate(),
            user_id: user.clone(),
            username: username.to_owned(),
            shop_name: input.shop_name,
            bio: input.bio,
            location: input.location,
            status: ApplicationStatus::Pending,
            note: None,
            created_at: now,
            decided_at: None,
            decided_by: None,
        }
    }

    /// This application decided `to` by `admin` at `now`, with `note` (rejections).
    pub fn decided(&self, to: ApplicationStatus, admin: &UserId, note: Option<String>, now: Timestamp) -> Self {
        Self { status: to, note, decided_at: Some(now), decided_by: Some(admin.clone()), ..self.clone() }
    }
}

/// An admin's decision on an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject { note: String },
}

impl Decision {
    pub fn status(&self) -> ApplicationStatus {
        match self {
            Self::Approve => ApplicationStatus::Approved,
            Self::Reject { .. } => ApplicationStatus::Rejected,
        }
    }

    pub fn note(&self) -> Option<&str> {
        match self {
            Self::Approve => None,
            Self::Reject { note } => Some(note),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(shop_name: &str, bio: &str, location: &str) -> ApplicationInput {
        ApplicationInput { shop_name: shop_name.into(), bio: bio.into(), location: location.into() }
    }

    fn fields(result: crate::Result<NewApplication>) -> Vec<String> {
        match result {
            Err(crate::Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn an_application_is_trimmed_and_keeps_the_bios_line_breaks() {
        let app = NewApplication::parse(input(" Clay & Co ", "Bowls.\nMugs.", "Porto")).ok();
        assert_eq!(app.map(|a| (a.shop_name, a.bio)), Some(("Clay & Co".into(), "Bowls.\nMugs.".into())));
    }

    #[test]
    fn every_invalid_field_is_named() {
        let long = "x".repeat(MAX_SHOP_NAME + 1);
        assert_eq!(fields(NewApplication::parse(input(&long, " ", "Por\u{202E}to"))), ["shop_name", "bio", "location"]);
        assert_eq!(fields(NewApplication::parse(input("Shop", "ok", "Porto\nLisboa"))), ["location"]);
    }

    #[test]
    fn a_rejection_needs_a_note_of_at_most_1000_characters() {
        assert!(RejectionInput { note: "  ".into() }.parse().is_err());
        assert!(RejectionInput { note: "x".repeat(MAX_NOTE + 1) }.parse().is_err());
        assert_eq!(RejectionInput { note: "Photos, please.".into() }.parse().ok().as_deref(), Some("Photos, please."));
    }

    #[test]
    fn statuses_read_back_from_their_names() {
        for s in ApplicationStatus::ALL {
            assert_eq!(ApplicationStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ApplicationStatus::parse("Pending"), None);
    }
}
