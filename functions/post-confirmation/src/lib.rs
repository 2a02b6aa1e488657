//! Cognito's post-confirmation trigger: creates the user's profile with the address from
//! the event (idempotently: a second run changes nothing), sends the welcome email once,
//! and returns the event, as Cognito requires.
//!
//! Runs after a sign-up is confirmed (`PostConfirmation_ConfirmSignUp`, also the first
//! sign-in of a Google-federated user) and after a forgotten password is reset
//! (`PostConfirmation_ConfirmForgotPassword`): the profile is ensured either way, the
//! welcome email only after a sign-up. A failing welcome email does not fail the trigger
//! (Cognito would show the user an error for an account that is already confirmed); a
//! failing profile write does, since there is nothing else to report it with.

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource as Source,
};
use shared::domain::UserId;
use shared::email::is_address;
use shared::{App, Error, notify};

pub async fn handle(
    app: &App,
    event: CognitoEventUserPoolsPostConfirmation,
) -> shared::Result<CognitoEventUserPoolsPostConfirmation> {
    let attributes = &event.request.user_attributes;
    let sub = attributes
        .get("sub")
        .and_then(|sub| UserId::parse(sub))
        .ok_or_else(|| Error::bad_request("the post-confirmation event has no valid sub"))?;
    let username = event.cognito_event_user_pools_header.user_name.clone().unwrap_or_else(|| sub.as_str().to_owned());
    let Some(email) = attributes.get("email").filter(|e| is_address(e)) else {
        // A federated user whose provider shares no address: the notifier asks Cognito later.
        tracing::warn!(user = sub.as_str(), "confirmed user has no email address: no profile address, no welcome");
        return Ok(event);
    };
    let name = ["name", "given_name", "preferred_username"]
        .iter()
        .find_map(|a| attributes.get(*a).map(|v| v.trim()).filter(|v| !v.is_empty()))
        .unwrap_or(&username)
        .chars()
        .take(80)
        .collect::<String>();
    let created = app.store.upsert_contact(&sub, Some(&username), &name, email, &app.now()).await?;
    tracing::info!(user = sub.as_str(), created, "profile ensured with the user's email");
    let sign_up = matches!(event.cognito_event_user_pools_header.trigger_source, Some(Source::ConfirmSignUp));
    if sign_up {
        match notify::welcome(app, &sub, &name, email).await {
            Ok(delivery) => tracing::info!(user = sub.as_str(), ?delivery, "welcome email"),
            Err(e) => tracing::error!(user = sub.as_str(), error = %e, "the welcome email failed"),
        }
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_events_are_post_confirmation_events() {
        for text in [
            include_str!("../../../events/post-confirmation.json"),
            include_str!("../../../events/post-confirmation-google.json"),
        ] {
            let event: Result<CognitoEventUserPoolsPostConfirmation, _> = serde_json::from_str(text);
            let event = event.map_err(|e| e.to_string());
            assert!(
                matches!(
                    event.as_ref().map(|e| e.cognito_event_user_pools_header.trigger_source.clone()),
                    Ok(Some(Source::ConfirmSignUp))
                ),
                "{event:?}"
            );
            assert!(event.as_ref().is_ok_and(|e| e.request.user_attributes.contains_key("email")));
            // What goes back to Cognito: the same event, with an empty response.
            let back = event.map(|e| serde_json::to_value(e).unwrap_or_default()).unwrap_or_default();
            let sent: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            assert_eq!(back["response"], serde_json::json!({}));
            for field in ["version", "triggerSource", "region", "userPoolId", "userName", "callerContext"] {
                assert_eq!(back[field], sent[field], "{field}");
            }
            assert_eq!(back["request"]["userAttributes"], sent["request"]["userAttributes"]);
        }
    }
}
