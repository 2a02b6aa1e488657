//! Cognito's post-confirmation trigger (moto cannot invoke triggers, so the handler gets the
//! events Cognito sends): a profile with the address, once; a welcome email, once.

use e2e::TestContext;
use local::notifications::{self, SentEmail};
use serde_json::{Value, json};
use shared::domain::UserId;

async fn stack() -> TestContext {
    let ctx = TestContext::new().await;
    notifications::verify_sender(&ctx.aws, shared::config::DEFAULT_MAIL_FROM).await.unwrap();
    ctx
}

async fn welcome_emails(address: &str) -> Vec<SentEmail> {
    let all = notifications::sent_emails(&e2e::endpoint()).await.unwrap();
    all.into_iter().filter(|m| m.to.iter().any(|to| to == address)).collect()
}

/// The sample event `events/<name>.json` for this user.
fn event(name: &str, username: &str, sub: &str, email: &str) -> Value {
    let mut event = e2e::sample_event(name);
    event["userName"] = json!(username);
    event["request"]["userAttributes"]["sub"] = json!(sub);
    event["request"]["userAttributes"]["email"] = json!(email);
    event
}

async fn trigger(ctx: &TestContext, event: &Value) -> Value {
    let parsed = serde_json::from_value(event.clone()).expect("a post-confirmation event");
    let returned = post_confirmation::handle(&ctx.app, parsed).await.expect("the trigger succeeds");
    serde_json::to_value(returned).unwrap()
}

#[tokio::test]
async fn post_confirmation_twice_makes_one_profile_and_one_welcome_email() {
    let ctx = stack().await;
    let user = &ctx.customer;
    let event = event("post-confirmation", &user.username, &user.sub, &user.email);

    let returned = trigger(&ctx, &event).await;
    // Cognito requires the event back.
    for field in ["triggerSource", "userName", "userPoolId", "region", "callerContext"] {
        assert_eq!(returned[field], event[field], "{field}");
    }
    assert_eq!(returned["request"]["userAttributes"], event["request"]["userAttributes"]);
    let first = ctx.get("/me").auth(user).send().await;
    first.expect(200);

    // Confirmed again (Cognito retried), twice at once for good measure.
    let (a, b) = tokio::join!(trigger(&ctx, &event), trigger(&ctx, &event));
    assert_eq!((a["userName"].clone(), b["userName"].clone()), (event["userName"].clone(), event["userName"].clone()));

    let me = ctx.get("/me").auth(user).send().await.json();
    assert_eq!(me["display_name"], "Ada Lovelace", "the name from the sign-up: {me}");
    assert_eq!(me["created_at"], first.json()["created_at"], "one profile, made once");
    let contact = ctx.app.store.contact(&UserId::new(user.sub.clone())).await.unwrap();
    assert_eq!(contact.email.as_deref(), Some(user.email.as_str()));
    let welcome = welcome_emails(&user.email).await;
    assert_eq!(welcome.len(), 1, "{welcome:?}");
    assert_eq!(welcome[0].subject, "Welcome to Makers Market");
    assert!(welcome[0].body.contains("Hello Ada Lovelace,"), "{}", welcome[0].body);
}

#[tokio::test]
async fn a_google_federated_sign_up_gets_a_profile_and_a_welcome_email() {
    let ctx = stack().await;
    let sub = ulid::Ulid::new().to_string().to_lowercase();
    let email = format!("grace.{}@gmail.example", e2e::unique("g"));
    let event = event("post-confirmation-google", "Google_117340952183417203456", &sub, &email);
    assert_eq!(event["request"]["userAttributes"]["cognito:user_status"], "EXTERNAL_PROVIDER");
    trigger(&ctx, &event).await;
    trigger(&ctx, &event).await;
    let contact = ctx.app.store.contact(&UserId::new(sub)).await.unwrap();
    assert_eq!(contact.email.as_deref(), Some(email.as_str()));
    assert_eq!(contact.username.as_deref(), Some("Google_117340952183417203456"));
    assert_eq!(contact.display_name.as_deref(), Some("Grace Hopper"));
    let welcome = welcome_emails(&email).await;
    assert_eq!(welcome.len(), 1, "{welcome:?}");
}

#[tokio::test]
async fn a_password_reset_confirmation_stores_the_address_but_sends_no_welcome() {
    let ctx = stack().await;
    let user = &ctx.other_customer;
    let mut event = event("post-confirmation", &user.username, &user.sub, &user.email);
    event["triggerSource"] = json!("PostConfirmation_ConfirmForgotPassword");
    trigger(&ctx, &event).await;
    let contact = ctx.app.store.contact(&UserId::new(user.sub.clone())).await.unwrap();
    assert_eq!(contact.email.as_deref(), Some(user.email.as_str()));
    assert!(welcome_emails(&user.email).await.is_empty());
}

/// A Cognito that cannot answer.
#[derive(Debug)]
struct DownDirectory;

impl shared::directory::Directory for DownDirectory {
    fn email_of<'a>(
        &'a self,
        _sub: &'a UserId,
        _username: Option<&'a str>,
    ) -> shared::directory::DirectoryFuture<'a, Option<String>> {
        Box::pin(async { Err(shared::Error::internal("looking a user up in Cognito", "connection refused")) })
    }

    fn add_to_group<'a>(&'a self, _username: &'a str, _group: &'a str) -> shared::directory::DirectoryFuture<'a, ()> {
        Box::pin(async { Err(shared::Error::internal("adding a user to a group", "connection refused")) })
    }

    fn remove_from_group<'a>(
        &'a self,
        _username: &'a str,
        _group: &'a str,
    ) -> shared::directory::DirectoryFuture<'a, ()> {
        Box::pin(async { Err(shared::Error::internal("removing a user from a group", "connection refused")) })
    }

    fn user_by_email<'a>(&'a self, _email: &'a str) -> shared::directory::DirectoryFuture<'a, Option<UserId>> {
        Box::pin(async { Err(shared::Error::internal("finding a user by email", "connection refused")) })
    }
}

#[tokio::test]
async fn a_profile_made_on_first_sight_takes_its_address_from_cognito() {
    let ctx = TestContext::new().await;
    let user = &ctx.maker;
    let sub = UserId::new(user.sub.clone());
    assert_eq!(ctx.app.store.contact(&sub).await.unwrap().email, None, "no profile before the first request");

    let me = ctx.get("/me").auth(user).send().await;
    me.expect(200);
    assert!(me.json().get("email").is_none(), "the address is stored, not shown: {}", me.json());
    let contact = ctx.app.store.contact(&sub).await.unwrap();
    assert_eq!(contact.email.as_deref(), Some(user.email.as_str()), "stored from Cognito's AdminGetUser");

    // PUT /me on a profile made before addresses were stored does the same.
    let other = &ctx.other_maker;
    let body = json!({"display_name": "João", "bio": "Cork and wood"});
    ctx.request("PUT", "/me").auth(other).json(&body).send().await.expect(200);
    let contact = ctx.app.store.contact(&UserId::new(other.sub.clone())).await.unwrap();
    assert_eq!(contact.email.as_deref(), Some(other.email.as_str()));
}

#[tokio::test]
async fn with_cognito_down_get_me_still_answers_and_the_address_waits_for_the_notifier() {
    let ctx = TestContext::new().await;
    let app = ctx.app_with(|_| {}).with_directory(std::sync::Arc::new(DownDirectory));
    let user = &ctx.customer;
    let req = ctx.get("/me").auth(user);
    let text = req.event().to_string();
    let answer = e2e::dispatch(&app, "get-me", lambda_http::request::from_str(&text).unwrap()).await;
    assert_eq!(answer.status(), 200);
    let contact = ctx.app.store.contact(&UserId::new(user.sub.clone())).await.unwrap();
    assert_eq!(contact.email, None, "nothing stored; the notifier fills it on first need");
    assert!(contact.display_name.is_some(), "the profile itself was made");
}
