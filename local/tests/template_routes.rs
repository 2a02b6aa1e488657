//! `template.yaml`'s ALB listener rules route exactly like `shared::routes::ROUTES`, so the
//! local ALB emulator and the cloud agree on which function answers which request.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::{Mapping, Value};
use shared::routes::ROUTES;

const TEMPLATE: &str = include_str!("../../template.yaml");

/// A resolved listener rule: (priority, method, ALB path pattern, function binary).
type Rule = (u32, String, String, String);

struct Template {
    resources: Mapping,
}

impl Template {
    fn load() -> Self {
        let doc: Value = serde_yaml::from_str(TEMPLATE).unwrap_or_else(|e| panic!("template.yaml is not YAML: {e}"));
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_else(|| panic!("template.yaml has no Resources mapping"));
        Self { resources }
    }

    fn resource(&self, logical_id: &str) -> &Value {
        self.resources
            .get(logical_id)
            .unwrap_or_else(|| panic!("template.yaml references resource {logical_id}, which does not exist"))
    }

    /// `(logical id, resource)` of every resource of this CloudFormation type.
    fn of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources.iter().filter_map(move |(id, res)| {
            let id = id.as_str()?;
            (res.get("Type").and_then(Value::as_str) == Some(ty)).then_some((id, res))
        })
    }

    /// The function resources, by binary name (`Metadata.BuildProperties.Binary`).
    fn functions_by_binary(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (id, res) in self.of_type("AWS::Serverless::Function") {
            let binary = binary_of(id, res);
            if let Some(other) = out.insert(binary.clone(), id.to_owned()) {
                panic!("functions {other} and {id} both build binary {binary}");
            }
        }
        out
    }
}

fn binary_of(id: &str, function: &Value) -> String {
    function
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("function {id} has no Metadata.BuildProperties.Binary"))
        .to_owned()
}

/// A CloudFormation intrinsic function, in short (`!Ref X`, a YAML tag) or long form
/// (`{Ref: X}`, `{"Fn::GetAtt": [X, Arn]}`): its name without `!`/`Fn::` and its argument.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_owned(), &t.value)),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            (k == "Ref" || k.starts_with("Fn::")).then(|| (k.trim_start_matches("Fn::").to_owned(), arg))
        }
        _ => None,
    }
}

/// The logical id that `!Ref X` names.
fn ref_target(v: &Value) -> Option<&str> {
    match intrinsic(v)? {
        (name, Value::String(s)) if name == "Ref" => Some(s.as_str()),
        _ => None,
    }
}

/// The logical id whose `Arn` `!GetAtt X.Arn` (or `{"Fn::GetAtt": [X, Arn]}`) names.
fn arn_target(v: &Value) -> Option<&str> {
    let (name, arg) = intrinsic(v)?;
    if name != "GetAtt" {
        return None;
    }
    match arg {
        Value::String(s) => s.strip_suffix(".Arn"),
        Value::Sequence(parts) if parts.len() == 2 && parts[1].as_str() == Some("Arn") => parts[0].as_str(),
        _ => None,
    }
}

/// A function named by ARN (`!GetAtt F.Arn`) or by name (`!Ref F`).
fn function_target(v: &Value) -> Option<&str> {
    arn_target(v).or_else(|| ref_target(v))
}

fn props<'a>(id: &str, res: &'a Value) -> &'a Value {
    res.get("Properties").unwrap_or_else(|| panic!("{id} has no Properties"))
}

fn single_string(id: &str, what: &str, v: Option<&Value>) -> String {
    let values = v.and_then(Value::as_sequence).unwrap_or_else(|| panic!("{id}: {what} has no Values list"));
    match values.as_slice() {
        [Value::String(s)] => s.clone(),
        other => panic!("{id}: {what} must have exactly one string value, has {other:?}"),
    }
}

/// Follows a listener rule to the binary it forwards to.
fn resolve_rule(t: &Template, id: &str, rule: &Value) -> Rule {
    let p = props(id, rule);
    let priority = p
        .get("Priority")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| panic!("{id} has no literal integer Priority"));

    let listener = p.get("ListenerArn").and_then(ref_target);
    let protocol = listener.map(|l| props(l, t.resource(l))).and_then(|l| l.get("Protocol")).and_then(Value::as_str);
    assert_eq!(protocol, Some("HTTPS"), "{id} must be a rule of the HTTPS listener (ListenerArn: !Ref <it>)");

    let (mut method, mut path) = (None, None);
    for cond in p.get("Conditions").and_then(Value::as_sequence).into_iter().flatten() {
        match cond.get("Field").and_then(Value::as_str) {
            Some("http-request-method") => {
                let v = cond.get("HttpRequestMethodConfig").and_then(|c| c.get("Values"));
                assert!(
                    method.replace(single_string(id, "http-request-method", v)).is_none(),
                    "{id}: two method conditions"
                );
            }
            Some("path-pattern") => {
                let v = cond.get("PathPatternConfig").and_then(|c| c.get("Values"));
                assert!(path.replace(single_string(id, "path-pattern", v)).is_none(), "{id}: two path conditions");
            }
            other => panic!("{id}: unexpected condition field {other:?}"),
        }
    }
    let method = method.unwrap_or_else(|| panic!("{id} has no http-request-method condition"));
    let path = path.unwrap_or_else(|| panic!("{id} has no path-pattern condition"));

    let actions = p.get("Actions").and_then(Value::as_sequence).map(Vec::as_slice).unwrap_or_default();
    let [action] = actions else {
        panic!("{id} must have exactly one action, has {}", actions.len());
    };
    (priority, method, path, forward_target(t, id, action))
}

/// Follows a forward action through its target group to the binary of its one function.
fn forward_target(t: &Template, id: &str, action: &Value) -> String {
    assert_eq!(action.get("Type").and_then(Value::as_str), Some("forward"), "{id}: the action must be a forward");
    let tg_id = action
        .get("TargetGroupArn")
        .and_then(ref_target)
        .unwrap_or_else(|| panic!("{id}: the forward action needs TargetGroupArn: !Ref <a target group>"));

    let tg = t.resource(tg_id);
    assert_eq!(
        tg.get("Type").and_then(Value::as_str),
        Some("AWS::ElasticLoadBalancingV2::TargetGroup"),
        "{id} forwards to {tg_id}, which is not a target group"
    );
    let tgp = props(tg_id, tg);
    assert_eq!(tgp.get("TargetType").and_then(Value::as_str), Some("lambda"), "{tg_id}: TargetType must be lambda");
    let targets = tgp.get("Targets").and_then(Value::as_sequence).map(Vec::as_slice).unwrap_or_default();
    let [target] = targets else {
        panic!("{tg_id} must have exactly one target, has {}", targets.len());
    };
    let fn_id = target
        .get("Id")
        .and_then(arn_target)
        .unwrap_or_else(|| panic!("{tg_id}: the target Id must be !GetAtt <function>.Arn"));
    let function = t.resource(fn_id);
    assert_eq!(
        function.get("Type").and_then(Value::as_str),
        Some("AWS::Serverless::Function"),
        "{tg_id} targets {fn_id}, which is not an AWS::Serverless::Function"
    );

    binary_of(fn_id, function)
}

fn expected_rules() -> BTreeSet<Rule> {
    ROUTES.iter().map(|r| (r.priority, r.method.to_owned(), r.path.to_owned(), r.function.to_owned())).collect()
}

fn template_rules(t: &Template) -> BTreeSet<Rule> {
    let mut out = BTreeSet::new();
    let mut priorities = BTreeMap::new();
    for (id, rule) in t.of_type("AWS::ElasticLoadBalancingV2::ListenerRule") {
        let resolved = resolve_rule(t, id, rule);
        if let Some(other) = priorities.insert(resolved.0, id) {
            panic!("listener rules {other} and {id} share priority {}", resolved.0);
        }
        out.insert(resolved);
    }
    out
}

fn show(rules: &BTreeSet<Rule>) -> String {
    rules
        .iter()
        .map(|(prio, method, path, function)| format!("\n    {prio:>5} {method:<7} {path:<20} -> {function}"))
        .collect()
}

/// `get-product` → `GetProduct`: the prefix of the function's logical ids.
fn pascal(function: &str) -> String {
    function
        .split('-')
        .map(|part| {
            let mut cs = part.chars();
            cs.next().map(|c| c.to_ascii_uppercase().to_string() + cs.as_str()).unwrap_or_default()
        })
        .collect()
}

#[test]
fn listener_rules_route_exactly_like_the_route_table() {
    let t = Template::load();
    let expected = expected_rules();
    let actual = template_rules(&t);
    let missing: BTreeSet<_> = expected.difference(&actual).cloned().collect();
    let extra: BTreeSet<_> = actual.difference(&expected).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "template.yaml listener rules differ from shared/src/routes.rs\n  \
         in routes.rs but not in template.yaml:{}\n  in template.yaml but not in routes.rs:{}",
        show(&missing),
        show(&extra),
    );
}

#[test]
fn every_routed_function_has_a_function_a_log_group_and_an_alb_permission() {
    let t = Template::load();
    let functions = t.functions_by_binary();
    let permissions: Vec<(&str, &Value)> = t.of_type("AWS::Lambda::Permission").collect();

    for name in shared::routes::functions() {
        let fn_id = functions.get(name).unwrap_or_else(|| panic!("no AWS::Serverless::Function builds binary {name}"));
        assert_eq!(*fn_id, format!("{}Function", pascal(name)), "function resource naming convention");

        // Its own log group, with a retention.
        let p = props(fn_id, t.resource(fn_id));
        let logging = p.get("LoggingConfig").unwrap_or_else(|| panic!("{fn_id} has no LoggingConfig"));
        assert_eq!(logging.get("LogFormat").and_then(Value::as_str), Some("JSON"), "{fn_id}: LogFormat");
        let lg_id = logging
            .get("LogGroup")
            .and_then(ref_target)
            .unwrap_or_else(|| panic!("{fn_id}: LoggingConfig.LogGroup must be !Ref <its AWS::Logs::LogGroup>"));
        let lg = t.resource(lg_id);
        assert_eq!(lg.get("Type").and_then(Value::as_str), Some("AWS::Logs::LogGroup"), "{lg_id}");
        assert!(
            props(lg_id, lg).get("RetentionInDays").is_some(),
            "{lg_id} (the log group of {fn_id}) has no RetentionInDays"
        );

        // The ALB may invoke it.
        let permission = permissions.iter().find(|(_, res)| {
            let pp = res.get("Properties");
            pp.and_then(|pp| pp.get("FunctionName")).and_then(function_target) == Some(fn_id.as_str())
                && pp.and_then(|pp| pp.get("Principal")).and_then(Value::as_str)
                    == Some("elasticloadbalancing.amazonaws.com")
        });
        let (perm_id, perm) = permission.unwrap_or_else(|| {
            panic!("no AWS::Lambda::Permission lets elasticloadbalancing.amazonaws.com invoke {fn_id}")
        });
        let pp = props(perm_id, perm);
        assert_eq!(pp.get("Action").and_then(Value::as_str), Some("lambda:InvokeFunction"), "{perm_id}: Action");
        assert!(pp.get("SourceAccount").is_some(), "{perm_id} must restrict SourceAccount");
        assert!(
            pp.get("SourceArn").is_none(),
            "{perm_id}: a SourceArn of the target group makes a dependency cycle; use SourceAccount"
        );
    }
}

#[test]
fn requests_no_rule_matches_go_to_the_default_function() {
    let t = Template::load();
    let https = t
        .of_type("AWS::ElasticLoadBalancingV2::Listener")
        .find(|(id, l)| props(id, l).get("Protocol").and_then(Value::as_str) == Some("HTTPS"));
    let (id, listener) = https.expect("an HTTPS listener");
    let actions = props(id, listener).get("DefaultActions").and_then(Value::as_sequence).expect("DefaultActions");
    let [action] = actions.as_slice() else { panic!("{id} must have exactly one default action") };
    assert_eq!(forward_target(&t, id, action), shared::routes::DEFAULT_FUNCTION);
}

#[test]
fn only_the_health_function_is_health_checked() {
    let t = Template::load();
    for (id, tg) in t.of_type("AWS::ElasticLoadBalancingV2::TargetGroup") {
        let p = props(id, tg);
        let binary = p
            .get("Targets")
            .and_then(Value::as_sequence)
            .and_then(|targets| targets.first())
            .and_then(|target| target.get("Id"))
            .and_then(arn_target)
            .map(|fn_id| binary_of(fn_id, t.resource(fn_id)));
        let enabled = p.get("HealthCheckEnabled").and_then(Value::as_bool);
        if binary.as_deref() == Some("health") {
            assert_eq!(enabled, Some(true), "{id}: health check must be enabled");
            assert_eq!(p.get("HealthCheckPath").and_then(Value::as_str), Some("/health"), "{id}: health check path");
        } else {
            assert_eq!(enabled, Some(false), "{id}: only the health function's target group is health-checked");
        }
    }
}

#[test]
fn the_parser_follows_short_and_long_intrinsics() {
    let short: Value = serde_yaml::from_str("!GetAtt A.Arn").unwrap_or(Value::Null);
    let long: Value = serde_yaml::from_str("{'Fn::GetAtt': [A, Arn]}").unwrap_or(Value::Null);
    let r#ref: Value = serde_yaml::from_str("!Ref B").unwrap_or(Value::Null);
    let long_ref: Value = serde_yaml::from_str("{Ref: B}").unwrap_or(Value::Null);
    assert_eq!(arn_target(&short), Some("A"));
    assert_eq!(arn_target(&long), Some("A"));
    assert_eq!(ref_target(&r#ref), Some("B"));
    assert_eq!(ref_target(&long_ref), Some("B"));
    assert_eq!(ref_target(&short), None);
}
