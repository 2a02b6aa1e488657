//! checkov's findings on `template.yaml` are fixed, or skipped inline in the resource's
//! `Metadata` with a reason: no bare skip, no skip of a check on a resource it cannot apply to.

use serde_yaml::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (resource, resource type, check id, comment) for every inline skip.
fn skips(template: &Value) -> Vec<(String, String, String, String)> {
    let resources = template["Resources"].as_mapping().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (id, resource) in &resources {
        let id = id.as_str().unwrap_or_default().to_owned();
        let ty = resource["Type"].as_str().unwrap_or_default().to_owned();
        for skip in resource["Metadata"]["checkov"]["skip"].as_sequence().into_iter().flatten() {
            out.push((
                id.clone(),
                ty.clone(),
                skip["id"].as_str().unwrap_or_default().to_owned(),
                skip["comment"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

#[test]
fn every_checkov_skip_names_a_check_and_gives_a_reason() {
    let skips = skips(&template());
    assert!(!skips.is_empty(), "the template's skips were not found");
    for (resource, _, id, comment) in &skips {
        assert!(id.starts_with("CKV_AWS_"), "{resource}: a skip must name a check id, got {id:?}");
        assert!(comment.split_whitespace().count() >= 8, "{resource}: skip of {id} needs a reason, got {comment:?}");
    }
}

#[test]
fn only_functions_without_an_event_to_keep_skip_the_dead_letter_queue_check() {
    let template = template();
    for (resource, _, id, _) in skips(&template) {
        if id != "CKV_AWS_116" {
            continue;
        }
        let props = &template["Resources"][resource.as_str()]["Properties"];
        let on_failure = &props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        let stream_on_failure = props["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|events| events.values())
            .any(|event| !event["Properties"]["DestinationConfig"]["OnFailure"].is_null());
        let synchronous = template["Resources"].as_mapping().into_iter().flat_map(|r| r.values()).any(|other| {
            let p = &other["Properties"];
            let invoked_by = p["Principal"].as_str().unwrap_or_default();
            other["Type"].as_str() == Some("AWS::Lambda::Permission")
                && ["elasticloadbalancing.amazonaws.com", "cognito-idp.amazonaws.com"].contains(&invoked_by)
                && serde_yaml::to_string(&p["FunctionName"]).unwrap_or_default().contains(resource.as_str())
        });
        // An SQS event source whose queue dead-letters what failed (its redrive policy).
        let queue_dead_letters =
            props["Events"].as_mapping().into_iter().flat_map(|events| events.values()).any(|event| {
                event["Type"].as_str() == Some("SQS")
                    && serde_yaml::to_string(&event["Properties"]["Queue"]).ok().is_some_and(|queue| {
                        template["Resources"].as_mapping().into_iter().flatten().any(|(id, res)| {
                            queue.contains(id.as_str().unwrap_or("?"))
                                && !res["Properties"]["RedrivePolicy"]["deadLetterTargetArn"].is_null()
                        })
                    })
            });
        assert!(
            synchronous || !on_failure.is_null() || stream_on_failure || queue_dead_letters,
            "{resource} skips the DLQ check but is neither invoked synchronously nor has an on-failure destination or a dead-lettering queue"
        );
    }
}
