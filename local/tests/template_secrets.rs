//! `template.yaml` hands the functions secret ids, never secret values, and lets exactly the
//! functions that read a secret read it.

use serde_yaml::Value;
use serde_yaml::value::TaggedValue;

fn template_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn template() -> Value {
    serde_yaml::from_str(&template_text()).unwrap_or_else(|e| panic!("template.yaml: {e}"))
}

/// The resource `value` is `!Ref` to, if it is one.
fn ref_to(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = tagged.as_ref();
            (tag == "!Ref").then(|| value.as_str()).flatten()
        }
        _ => None,
    }
}

/// `value`, or for `!If [condition, a, b]` its first branch (what holds when the condition
/// does, as for `RESEND_SECRET_ID: !If [UsesResend, !Ref ResendSecret, !Ref AWS::NoValue]`).
fn when_true(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!If" => tagged.value.get(1).unwrap_or(value),
        _ => value,
    }
}

/// The functions, as (binary name, properties).
fn functions(template: &Value) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap_or_else(|| panic!("template.yaml has no Resources"))
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_default().to_owned();
            (binary, r["Properties"].clone())
        })
        .collect()
}

/// The secrets a function may read: the `!Ref` targets of its GetSecretValue statements.
fn readable_secrets(props: &Value) -> Vec<String> {
    let mut secrets = Vec::new();
    for policy in props["Policies"].as_sequence().into_iter().flatten() {
        let policy = when_true(policy);
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            let actions: Vec<&str> =
                statement["Action"].as_sequence().into_iter().flatten().filter_map(Value::as_str).collect();
            if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
                assert_eq!(actions, ["secretsmanager:GetSecretValue"], "only reads: {statement:?}");
                let target = ref_to(&statement["Resource"]);
                let target = target.unwrap_or_else(|| panic!("a secret grant names one secret: {statement:?}"));
                secrets.push(target.to_owned());
            }
        }
    }
    secrets
}

/// Whether the function crate's code calls one of `accessors` (`cursor_secret()`).
fn source_calls(binary: &str, accessors: &[&str]) -> bool {
    let dir = format!("{}/../functions/{binary}/src", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .filter_map(|f| std::fs::read_to_string(f.path()).ok())
        .any(|text| accessors.iter().any(|accessor| text.contains(accessor)))
}

/// What a function calls that reads each secret. The order functions reach Stripe's keys
/// through `shared::orders`, not by calling `stripe_secrets()` themselves: `App::with_stripe()`
/// in their `main.rs` is what lets `App::payments()` (and with it `stripe_secrets()`) work,
/// so it is the mark of a function that reads the Stripe secret.
/// The mailing functions reach Resend's key through `shared::notify`'s senders (`App::mailer()`
/// reads it when `EMAIL_PROVIDER=resend`): calling one of them is their mark, and so are
/// `applications::decide`, which emails the applicant through `notify`, and
/// `catalogue::moderate_product`, which emails the maker of a product taken down or back.
/// The cursor secret also seals the web shop's cookie and form tokens: every page that
/// starts a `Visit` reads it, and so does a list through `catalogue::list_products`.
const ACCESSORS: [(&[&str], &str, &str); 3] = [
    (&["cursor_secret()", "Visit::start(", "list_products(app"], "CursorSecret", "CURSOR_SECRET_ID"),
    (&["stripe_secrets()", "with_stripe()"], "StripeSecret", "STRIPE_SECRET_ID"),
    (
        &["notify::order_status_changed", "notify::welcome", "applications::decide", "catalogue::moderate_product"],
        "ResendSecret",
        "RESEND_SECRET_ID",
    ),
];

#[test]
fn no_secret_is_resolved_into_the_environment() {
    assert!(!template_text().contains("{{resolve:secretsmanager"), "secrets are read at run time");
    let template = template();
    let global = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(ref_to(&global["CURSOR_SECRET_ID"]), Some("CursorSecret"));
    let mut environments = vec![("Globals".to_owned(), global.clone())];
    environments.extend(functions(&template).into_iter().map(|(f, p)| (f, p["Environment"]["Variables"].clone())));
    for (owner, variables) in environments {
        for (name, value) in variables.as_mapping().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            // Stripe's publishable key is public by design: Stripe.js shows it to every browser.
            if (name.contains("SECRET") || name.ends_with("_KEY")) && name != "STRIPE_PUBLISHABLE_KEY" {
                assert!(name.ends_with("_SECRET_ID"), "{owner}: {name} looks like a secret value");
                assert!(ref_to(when_true(value)).is_some(), "{owner}: {name} is the !Ref of a secret");
            }
        }
    }
}

#[test]
fn exactly_the_functions_that_read_a_secret_may_read_it() {
    let template = template();
    for secret in ["CursorSecret", "StripeSecret", "ResendSecret"] {
        assert_eq!(template["Resources"][secret]["Type"].as_str(), Some("AWS::SecretsManager::Secret"));
    }
    let functions = functions(&template);
    assert!(functions.iter().any(|(f, _)| f == "list-products"), "the functions are found");
    for (binary, props) in &functions {
        let readable = readable_secrets(props);
        for (accessors, secret, variable) in ACCESSORS {
            let uses = source_calls(binary, accessors);
            assert_eq!(
                readable.iter().any(|s| s == secret),
                uses,
                "{binary}: may read {secret} iff it calls one of {accessors:?}"
            );
            if secret != "CursorSecret" {
                // Only the functions that read the Stripe or Resend secret are even told
                // where it is.
                let told = ref_to(when_true(&props["Environment"]["Variables"][variable]));
                assert_eq!(told, uses.then_some(secret), "{binary}: {variable}");
            }
        }
    }
}

/// The functions that talk to Stripe, by the mark above: the order functions that create,
/// cancel or refund payments or take Stripe's webhooks. A list here so that losing the mark
/// (a refactor of `main.rs`) fails this test instead of silently dropping a grant.
#[test]
fn the_stripe_functions_are_the_ones_that_may_read_the_stripe_secret() {
    let template = template();
    let mut readers: Vec<String> = functions(&template)
        .into_iter()
        .filter(|(_, props)| readable_secrets(props).iter().any(|s| s == "StripeSecret"))
        .map(|(binary, _)| binary)
        .collect();
    readers.sort();
    assert_eq!(
        readers,
        [
            "cancel-order",
            "create-order",
            "payment-expirer",
            "stripe-webhook",
            "web-checkout",
            "web-desk-orders",
            "web-order"
        ]
    );
}

#[test]
fn the_stripe_secret_starts_as_a_placeholder_with_both_keys() {
    let template = template();
    let text = template["Resources"]["StripeSecret"]["Properties"]["SecretString"].as_str().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(json, serde_json::json!({"secret_key": "", "webhook_secret": ""}));
    assert_eq!(ref_to(&template["Outputs"]["StripeSecretArn"]["Value"]), Some("StripeSecret"));
}
