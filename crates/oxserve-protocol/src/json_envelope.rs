//! The JSON plumbing every REST codec shares: parsing a request envelope with errors that name
//! the field at fault, writing compact JSON, and the small bodies that KServe's V1 and V2 REST
//! protocols have in common.
//!
//! Tensor elements never pass through here: they stay raw text in the envelope until
//! [`crate::json_data`] decodes them into a typed buffer.

use oxserve_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::error::Category;

/// Parses a request body that must be one JSON object.
///
/// A type error names its field (`inputs[0].shape[1]: invalid type…`); a body that is not JSON
/// at all (bad syntax, cut short, not UTF-8) gives `invalid JSON: …`. A list is refused up
/// front: serde would read it as the struct's fields in order, which no client means.
pub(crate) fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
    let text = std::str::from_utf8(body).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?;
    if text.trim_ascii_start().starts_with('[') {
        return Err(Error::invalid("the body must be a JSON object, not a list"));
    }
    // Tracking the path costs as much as the parse itself on a small body, so it is paid only
    // when the body turns out to be bad and the error needs the field's name.
    let mut de = serde_json::Deserializer::from_str(text);
    if let Ok(value) = T::deserialize(&mut de).and_then(|value| de.end().map(|()| value)) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        error(e.into_inner(), &path)
    })?;
    de.end().map_err(|e| error(e, "."))?;
    Ok(value)
}

fn error(error: serde_json::Error, path: &str) -> Error {
    match error.classify() {
        Category::Data if path == "." => Error::invalid(error.to_string()),
        Category::Data => Error::invalid(format!("{path}: {error}")),
        Category::Syntax | Category::Eof | Category::Io => Error::invalid(format!("invalid JSON: {error}")),
    }
}

/// `value` as compact JSON.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    write_json(&mut out, value);
    out
}

/// Appends `value` as compact JSON. Only for values that always serialise (strings, numbers,
/// derived structs of them, `serde_json` maps): writing those into a `Vec` cannot fail.
pub(crate) fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("serialising plain JSON values into a Vec cannot fail");
}

/// `{"error": "..."}`: the body of every non-2xx answer of KServe's REST protocols, V2 and V1.
pub fn encode_error(message: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
    }
    to_json(&ErrorBody { error: message })
}

/// `{"models": [...]}`: KServe's model listing, V2's `GET /v2/models` and V1's `GET /v1/models`.
pub fn encode_model_list(names: &[&str]) -> Vec<u8> {
    #[derive(Serialize)]
    struct ModelList<'a> {
        models: &'a [&'a str],
    }
    to_json(&ModelList { models: names })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Envelope {
        id: String,
        shape: Vec<i64>,
    }

    fn message(body: &[u8]) -> String {
        parse::<Envelope>(body).unwrap_err().message
    }

    #[test]
    fn errors_name_the_field_or_say_the_body_is_not_json() {
        assert_eq!(parse::<Envelope>(br#" {"id":"a","shape":[1]} "#).unwrap().shape, vec![1]);
        assert!(message(br#"{"id":"a","shape":[1,"x"]}"#).starts_with("shape[1]: invalid type: string"));
        assert!(message(br#"{"shape":[1]}"#).starts_with("missing field `id`"));
        assert!(message(br#"{"id":"a","shape":[1]"#).starts_with("invalid JSON: EOF"));
        assert!(message(br#"{"id":"a","shape":[1]} x"#).starts_with("invalid JSON: trailing characters"));
        assert!(message(b"{\"id\":\"\xff\"}").starts_with("invalid JSON: invalid utf-8"));
        assert_eq!(message(b" [1]"), "the body must be a JSON object, not a list");
    }

    #[test]
    fn shared_bodies() {
        assert_eq!(encode_error("bad \"x\"\n"), br#"{"error":"bad \"x\"\n"}"#);
        assert_eq!(encode_model_list(&["a", "b"]), br#"{"models":["a","b"]}"#);
        let mut out = b"x=".to_vec();
        write_json(&mut out, &BTreeMap::from([("k", 1)]));
        assert_eq!(out, br#"x={"k":1}"#);
    }
}
