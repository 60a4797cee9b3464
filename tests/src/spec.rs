//! The published OpenAPI (`spec/hpp-openapi-v1.1.yml`, vendored) as a checker: requests against
//! its request schemas with unknown properties forbidden, responses against the schema of their
//! operation and status. Validation is the `jsonschema` crate's; YAML is read by `serde_norway`.
//!
//! Where the spec is known to be wrong ([`KNOWN_DEFECTS`], from `hpp-api.md` section 8), it is
//! corrected here, in one place, each correction with its reason; nothing else is excused.

use std::path::PathBuf;

use serde_json::{Value, json};

/// Where the published spec is wrong or incomplete, and how the checker corrects it. Each entry:
/// what, and why (with the source in `hpp-api.md`).
pub const KNOWN_DEFECTS: &[(&str, &str)] = &[
    (
        "DistributionContactV1.access_id: enum dropped",
        "the enum lists three example values; the guides use UUIDs and other ids (hpp-api.md §8, open question 6)",
    ),
    (
        "DistributionRequestV1.template: enum dropped",
        "an enum of one value described as unused and possibly removed (hpp-api.md §8)",
    ),
    (
        "SessionResponseV1.status: TIMEOUT added",
        "the callback diagrams show TIMEOUT, which the enum lacks (hpp-api.md §8, open question 3)",
    ),
    (
        "POST /hpp/v1/sessions/{session_id}/distribution: 429 and 502 declared",
        "the Kustom guide and the seed document EMAIL_LIMIT_EXCEEDED (429) and BAD_GATEWAY (502) (hpp-api.md §8)",
    ),
    (
        "every operation: 405 declared where a path exists with another method, 401 everywhere",
        "HTTP itself: 405 for a path's undeclared method (RFC 9110 15.5.6), 401 for missing credentials \
         (the spec declares no securitySchemes, hpp-api.md §8)",
    ),
    (
        "error responses: bodies not checked",
        "the spec declares no error body (hpp-api.md §8; §2 documents the real shapes, checked elsewhere)",
    ),
];

/// The spec, corrected by [`KNOWN_DEFECTS`].
#[derive(Debug)]
pub struct Spec {
    doc: Value,
}

/// Where the spec is: `spec/` at the top of the repository (vendored; `spec/README.md` says where
/// it came from).
pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/hpp-openapi-v1.1.yml")
}

impl Spec {
    /// Loads the vendored spec. It is part of the repository, so its absence is a failure, never
    /// a skipped check.
    pub fn load() -> Self {
        let path = path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("the published spec is not at {} ({e}); it is vendored in spec/", path.display())
        });
        Self::from_yaml(&text)
    }

    /// A spec from its YAML text, corrected by [`KNOWN_DEFECTS`].
    pub fn from_yaml(text: &str) -> Self {
        let mut doc: Value = serde_norway::from_str(text).expect("the spec is YAML");
        correct(&mut doc);
        Self { doc }
    }

    /// The spec's path template and the operation object for `method` on `path` (a concrete path
    /// such as `/hpp/v1/sessions/abc`).
    fn operation(&self, method: &str, path: &str) -> Option<(String, &Value)> {
        let paths = self.doc["paths"].as_object()?;
        let segments: Vec<&str> = path.split('/').collect();
        paths.iter().find_map(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s);
            let operation = item.get(method.to_ascii_lowercase())?;
            matches.then(|| (template.clone(), operation))
        })
    }

    /// Checks a request body the SDK built, against its operation's schema with unknown
    /// properties forbidden.
    pub fn check_request(&self, method: &str, path: &str, body: &[u8]) -> Result<(), String> {
        let (template, operation) =
            self.operation(method, path).ok_or_else(|| format!("{method} {path} is no operation of the spec"))?;
        let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") else {
            return if body.is_empty() { Ok(()) } else { Err(format!("{method} {template} takes no body")) };
        };
        let instance: Value =
            serde_json::from_slice(body).map_err(|e| format!("{method} {template}: not JSON: {e}"))?;
        let mut components = self.doc["components"].clone();
        forbid_unknown_properties(&mut components);
        validate(schema, &components, &instance).map_err(|e| format!("{method} {template} request: {e}"))
    }

    /// Checks a response: its status is one the operation declares, and a declared JSON body
    /// validates against its schema.
    pub fn check_response(&self, method: &str, path: &str, status: u16, body: &[u8]) -> Result<(), String> {
        let (template, operation) =
            self.operation(method, path).ok_or_else(|| format!("{method} {path} is no operation of the spec"))?;
        let declared = operation["responses"]
            .get(status.to_string())
            .ok_or_else(|| format!("{method} {template} does not declare status {status}"))?;
        let Some(schema) = declared.pointer("/content/application~1json/schema") else { return Ok(()) };
        let instance: Value =
            serde_json::from_slice(body).map_err(|e| format!("{method} {template} {status}: not JSON: {e}"))?;
        validate(schema, &self.doc["components"], &instance).map_err(|e| format!("{method} {template} {status}: {e}"))
    }

    /// Every property of every schema: `(schema, property)`.
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (schema, body) in self.doc["components"]["schemas"].as_object().into_iter().flatten() {
            for property in body["properties"].as_object().into_iter().flatten().map(|(p, _)| p) {
                out.push((schema.clone(), property.clone()));
            }
        }
        out
    }
}

/// Applies [`KNOWN_DEFECTS`]' corrections.
fn correct(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    if let Some(access_id) = schemas.pointer_mut("/DistributionContactV1/properties/access_id") {
        access_id.as_object_mut().map(|o| o.remove("enum"));
    }
    if let Some(template) = schemas.pointer_mut("/DistributionRequestV1/properties/template") {
        template.as_object_mut().map(|o| o.remove("enum"));
    }
    if let Some(Value::Array(statuses)) = schemas.pointer_mut("/SessionResponseV1/properties/status/enum") {
        statuses.push(json!("TIMEOUT"));
    }
    let distribution = "/paths/~1hpp~1v1~1sessions~1{session_id}~1distribution/post/responses";
    if let Some(Value::Object(responses)) = doc.pointer_mut(distribution) {
        responses.insert("429".into(), json!({ "description": "EMAIL_LIMIT_EXCEEDED" }));
        responses.insert("502".into(), json!({ "description": "BAD_GATEWAY" }));
    }
    for item in doc["paths"].as_object_mut().into_iter().flatten().map(|(_, item)| item) {
        for (_, operation) in item.as_object_mut().into_iter().flatten() {
            if let Some(Value::Object(responses)) = operation.get_mut("responses") {
                responses.entry("401").or_insert_with(|| json!({ "description": "Unauthorized" }));
                responses.entry("405").or_insert_with(|| json!({ "description": "Method Not Allowed" }));
            }
        }
    }
}

/// `additionalProperties: false` on every object schema with properties.
fn forbid_unknown_properties(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(forbid_unknown_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_unknown_properties),
        _ => {}
    }
}

/// Validates `instance` against `schema`, whose `$ref`s point into `components`; formats
/// (`date-time`) are checked too.
fn validate(schema: &Value, components: &Value, instance: &Value) -> Result<(), String> {
    let mut root = schema.clone();
    if let Value::Object(map) = &mut root {
        map.insert("components".into(), components.clone());
    }
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("the spec's schema does not compile: {e}"))?;
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

/// A value through one model type: parsed and serialized again (`None` if it does not parse).
type RoundTrip = fn(Value) -> Option<Value>;

fn round<T: serde::de::DeserializeOwned + serde::Serialize>(value: Value) -> Option<Value> {
    serde_json::to_value(serde_json::from_value::<T>(value).ok()?).ok()
}

/// The model type that carries each schema of the spec: the schema's name, the type's, and the
/// round trip through it.
pub const MODEL_TYPES: &[(&str, &str, RoundTrip)] = {
    use hpp_core::__private::{ContactInformation, DistributionRequest};
    use hpp_core::model::*;
    &[
        ("SessionCreationRequestV1", "hpp_core::CreateSession", round::<hpp_core::CreateSession>),
        ("MerchantUrlsV1", "hpp_core::model::MerchantUrls", round::<MerchantUrls>),
        ("OptionsV1", "hpp_core::model::SessionOptions", round::<SessionOptions>),
        ("BackgroundImageV1", "hpp_core::model::BackgroundImage", round::<BackgroundImage>),
        ("SessionCreationResponseV1", "hpp_core::model::SessionCreated", round::<SessionCreated>),
        ("DistributionModuleV1", "hpp_core::model::DistributionModule", round::<DistributionModule>),
        ("SessionResponseV1", "hpp_core::model::Session", round::<Session>),
        ("CustomerV1", "hpp_core::model::Customer", round::<Customer>),
        ("MerchantManualIdentificationV1", "hpp_core::model::ManualIdentification", round::<ManualIdentification>),
        ("DistributionRequestV1", "hpp_core::Distribution (its body)", round::<DistributionRequest>),
        ("DistributionContactV1", "hpp_core::Distribution (its contact_information)", round::<ContactInformation>),
    ]
};

impl Spec {
    /// A value of `schema`'s type: its first enum value or example, else a placeholder.
    fn sample(&self, schema: &Value) -> Value {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap_or_default();
            return self.sample(&self.doc["components"]["schemas"][name]);
        }
        if let Some(first) = schema["enum"].get(0) {
            return first.clone();
        }
        match schema["type"].as_str() {
            Some("integer") => json!(1),
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            Some("array") => json!([self.sample(&schema["items"])]),
            Some("object") => {
                let properties = schema["properties"].as_object().into_iter().flatten();
                Value::Object(properties.map(|(name, p)| (name.clone(), self.sample(p))).collect())
            }
            _ if schema["format"] == "date-time" => json!("2038-01-19T03:14:07.000Z"),
            _ => json!("https://x.example/sample"),
        }
    }

    /// For every property of every schema, the model field that carries it (`Ok`), or why none
    /// does (`Err`): a schema without a model type, or a property the type drops on a round trip.
    pub fn carriers(&self) -> Vec<(String, Result<String, String>)> {
        self.properties()
            .into_iter()
            .map(|(schema, property)| {
                let name = format!("{schema}.{property}");
                let Some((_, model, through_model)) = MODEL_TYPES.iter().find(|(s, _, _)| *s == schema) else {
                    return (name, Err(format!("no model type for schema {schema}")));
                };
                let definition = &self.doc["components"]["schemas"][&schema]["properties"][&property];
                let mut input = serde_json::Map::new();
                input.insert(property.clone(), self.sample(definition));
                if schema == "SessionCreationRequestV1" && property != "payment_session_url" {
                    input.insert("payment_session_url".into(), json!("https://x.example/o"));
                }
                let kept = through_model(Value::Object(input)).is_some_and(|out| out.get(&property).is_some());
                let carrier = format!("{model}::{property}");
                (name, if kept { Ok(carrier) } else { Err(format!("{model} does not carry {property}")) })
            })
            .collect()
    }
}
