//! The request encodings the Seldon wrapper accepts besides a JSON body: a `json` field in a
//! form or the query string, and `multipart/form-data` whose fields are the message's fields.

use axum::http::{HeaderMap, header};
use base64::Engine;
use bytes::Bytes;
use oxserve_core::{Error, Result};

/// The SeldonMessage JSON of a request: from a multipart form, the `json` field of a urlencoded
/// form or of the query string, else the body itself (also when a client such as `curl -d`
/// labels a JSON body as a form).
pub async fn message_text(headers: &HeaderMap, query: Option<&str>, body: Bytes) -> Result<Bytes> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("multipart/form-data") {
        return multipart_message(content_type, body).await;
    }
    if content_type.starts_with("application/x-www-form-urlencoded")
        && let Some(json) = json_field(&body)
    {
        return Ok(json);
    }
    if body.is_empty() {
        return query.and_then(|q| json_field(q.as_bytes())).ok_or_else(|| {
            Error::invalid("the request has no body and no 'json' query field; send a SeldonMessage")
        });
    }
    Ok(body)
}

fn json_field(urlencoded: &[u8]) -> Option<Bytes> {
    form_urlencoded::parse(urlencoded).find(|(k, _)| k == "json").map(|(_, v)| Bytes::from(v.into_owned()))
}

/// Builds a message from form parts as the Seldon wrapper does: `binData` is raw bytes (sent
/// base64 in JSON), `strData` is text, and every other part is the JSON of that field
/// (`data`, `meta`, `jsonData`).
async fn multipart_message(content_type: &str, body: Bytes) -> Result<Bytes> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| Error::invalid(format!("Content-Type: multipart/form-data without a boundary: {e}")))?;
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut message = serde_json::Map::new();
    while let Some(part) =
        parts.next_field().await.map_err(|e| Error::invalid(format!("multipart body: {e}")))?
    {
        let name = part.name().unwrap_or_default().to_string();
        let bytes =
            part.bytes().await.map_err(|e| Error::invalid(format!("multipart field '{name}': {e}")))?;
        let value = match name.as_str() {
            "binData" => serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            "strData" => serde_json::Value::String(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| Error::invalid("multipart field 'strData': not UTF-8 text"))?,
            ),
            "" => return Err(Error::invalid("multipart body: a part without a field name")),
            _ => serde_json::from_slice(&bytes)
                .map_err(|e| Error::invalid(format!("multipart field '{name}': invalid JSON: {e}")))?,
        };
        message.insert(name, value);
    }
    Ok(Bytes::from(serde_json::to_vec(&message).expect("a JSON map always serialises")))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    fn text(b: Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn json_bodies_forms_and_queries() {
        let body = Bytes::from_static(br#"{"strData":"x"}"#);
        assert_eq!(message_text(&headers("application/json"), None, body.clone()).await.unwrap(), body);
        assert_eq!(
            message_text(&headers("application/x-www-form-urlencoded"), None, body.clone()).await.unwrap(),
            body
        );
        let form = Bytes::from_static(b"json=%7B%22strData%22%3A%22y%22%7D");
        assert_eq!(
            text(message_text(&headers("application/x-www-form-urlencoded"), None, form).await.unwrap()),
            r#"{"strData":"y"}"#
        );
        let got = message_text(&HeaderMap::new(), Some("json=%7B%7D"), Bytes::new()).await.unwrap();
        assert_eq!(text(got), "{}");
        let e = message_text(&HeaderMap::new(), None, Bytes::new()).await.unwrap_err();
        assert!(e.message.contains("no body"), "{}", e.message);
    }

    #[tokio::test]
    async fn multipart_fields_become_message_fields() {
        let body = "--B\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{\"ndarray\":[[1,2]]}\r\n\
                    --B\r\nContent-Disposition: form-data; name=\"binData\"; filename=\"x.bin\"\r\n\r\n\x01\x02\r\n--B--\r\n";
        let got =
            message_text(&headers("multipart/form-data; boundary=B"), None, Bytes::from(body)).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(json, serde_json::json!({"data": {"ndarray": [[1, 2]]}, "binData": "AQI="}));
    }

    #[tokio::test]
    async fn bad_multipart_names_the_problem() {
        let body = "--B\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{oops\r\n--B--\r\n";
        let e = message_text(&headers("multipart/form-data; boundary=B"), None, Bytes::from(body))
            .await
            .unwrap_err();
        assert!(e.message.contains("multipart field 'meta'"), "{}", e.message);
        let e =
            message_text(&headers("multipart/form-data"), None, Bytes::from_static(b"x")).await.unwrap_err();
        assert!(e.message.contains("boundary"), "{}", e.message);
    }
}
