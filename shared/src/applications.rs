//! Becoming a maker (API.md, "Moderation and makers"): a signed-in customer applies, an
//! admin approves (the `makers` group, the shop profile, an email) or rejects with a note
//! (an email). Deciding is idempotent: the same decision again answers the same
//! application and sends no second email; the other decision is a 409.
//!
//! # Cognito and DynamoDB: which first
//!
//! Approval writes two systems that share no transaction: Cognito's group and the table.
//! The group is added **first**, then the table is written (application approved, open
//! application closed, shop profile filled) in one transaction conditional on the
//! application still being pending. So:
//! - Cognito down: a 503 and nothing written; the application stays pending, and a retry
//!   does the whole approval.
//! - The table write failing after the group was added: a 503 (or 500), the application
//!   stays pending with its applicant already in `makers`; a retry adds the group again
//!   (a no-op for a member) and writes the table. What is never possible is an application
//!   shown `approved` whose user is not a maker.
//! - A rejection that wins the race against an approval between the two steps: the
//!   approval takes the user out of `makers` again (best effort, logged if it fails) and
//!   answers 409.
//!
//! The email goes out after the decision is stored, directly from the deciding function
//! (as the post-confirmation trigger sends the welcome email): order emails travel through
//! the table's stream and the notifier because a transition has no caller to wait for
//! them, but a decision is an admin's request, and this keeps the decision functions off
//! the order-event bus. The mail marker makes it at most once per application; a send that
//! surely failed is logged and released, and deciding again sends it.

use crate::auth::Principal;
use crate::directory::MAKERS_GROUP;
use crate::domain::{Application, ApplicationId, ApplicationStatus, Decision, NewApplication};
use crate::{App, Error, Result, notify};

/// A signed-in customer applies to sell. Makers have a shop already (403); a user with an
/// application waiting for a decision gets a 409.
pub async fn apply(app: &App, who: &Principal, input: NewApplication) -> Result<Application> {
    if who.is_maker() {
        return Err(Error::forbidden("You are a maker already: your shop is open."));
    }
    let application = Application::new(&who.user_id, &who.username, input, app.now());
    app.store.create_application(&application).await?;
    tracing::info!(application_id = application.id.as_str(), "a maker application was made");
    Ok(application)
}

/// An admin decides the application `id`.
pub async fn decide(app: &App, who: &Principal, id: &ApplicationId, decision: Decision) -> Result<Application> {
    who.require_admin()?;
    let not_found = || Error::not_found("No such maker application.");
    let current = app.store.application(id).await?.ok_or_else(not_found)?;
    if let Some(done) = already(app, &current, &decision).await? {
        return Ok(done);
    }
    if decision == Decision::Approve {
        // Before the table: see the module's documentation.
        app.directory().await.add_to_group(&current.username, MAKERS_GROUP).await?;
    }
    let decided = current.decided(decision.status(), &who.user_id, decision.note().map(str::to_owned), app.now());
    if app.store.decide_application(&decided).await? {
        tracing::info!(
            application_id = decided.id.as_str(),
            status = decided.status.as_str(),
            "a maker application was decided"
        );
        email(app, &decided).await;
        return Ok(decided);
    }
    // Someone decided it between our read and our write.
    let now = app.store.application(id).await?.ok_or_else(not_found)?;
    match already(app, &now, &decision).await {
        Err(conflict) => {
            if decision == Decision::Approve {
                undo_group(app, &now).await;
            }
            Err(conflict)
        }
        Ok(Some(done)) => Ok(done),
        Ok(None) => Err(Error::internal(
            "deciding a maker application",
            "the application is pending but its applicant's open application is another",
        )),
    }
}

/// `Some` when `current` was already decided as `decision` says (its email made sure of),
/// a 409 when it was decided the other way, `None` while it is pending.
async fn already(app: &App, current: &Application, decision: &Decision) -> Result<Option<Application>> {
    match current.status {
        ApplicationStatus::Pending => Ok(None),
        status if status == decision.status() => {
            // A repeat: the same answer. The email went out before, unless its send failed.
            email(app, current).await;
            Ok(Some(current.clone()))
        }
        status => {
            Err(Error::conflict(format!("This application was already {}; a decision is final.", status.as_str())))
        }
    }
}

/// The applicant's email. Never the admin's failure: the decision stands, the log says why,
/// and deciding again sends an email whose send failed.
async fn email(app: &App, application: &Application) {
    match notify::application_decided(app, application).await {
        Ok(delivery) => tracing::info!(application_id = application.id.as_str(), ?delivery, "applicant notified"),
        Err(e) => tracing::error!(
            application_id = application.id.as_str(),
            error = %e,
            "the applicant's email failed; deciding again retries it"
        ),
    }
}

/// An approval lost the race to a rejection after it had added the applicant to `makers`.
async fn undo_group(app: &App, application: &Application) {
    if application.status != ApplicationStatus::Rejected {
        return;
    }
    if let Err(e) = app.directory().await.remove_from_group(&application.username, MAKERS_GROUP).await {
        tracing::error!(
            application_id = application.id.as_str(),
            error = %e,
            "a rejected applicant stays in the makers group: remove them by hand"
        );
    }
}
