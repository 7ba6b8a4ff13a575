use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Full, Metrics, app_with, full, metadata, plain};

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json =
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    (status, json)
}

async fn post(app: &Router, path: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

/// The error info of a Seldon error body, after checking its status, code and reason.
fn error_info(answer: &(StatusCode, Value), status: StatusCode, reason: &str) -> String {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["status"]["code"], status.as_u16(), "{body}");
    assert_eq!(body["status"]["reason"], reason, "{body}");
    body["status"]["info"].as_str().unwrap().to_string()
}

async fn metrics_text(app: &Router) -> String {
    let response = app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn transform_input_answers_the_units_message_and_publishes_its_metrics() {
    let (app, _) = full().await;
    let body = r#"{"data":{"names":["a","b"],"ndarray":[[1,2],[3,4]]},
                   "meta":{"puid":"p1","tags":{"team":"risk",
                           "report":{"key":"transforms","type":"COUNTER","value":2,"tags":{"direction":"in"}}},
                           "metrics":[{"key":"from_client","type":"COUNTER","value":5}]}}"#;
    let (status, answer) = post(&app, "/transform-input", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"], json!({"names": ["a", "b"], "ndarray": [[1, 2], [3, 4]]}));
    let meta = &answer["meta"];
    assert_eq!(meta["puid"], "p1");
    assert_eq!((&meta["tags"]["team"], &meta["tags"]["stage"]), (&json!("risk"), &json!("input")));
    let keys: Vec<&str> =
        meta["metrics"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["from_client", "transforms"]);
    assert!(meta["requestPath"]["full"].as_str().unwrap().starts_with("oxserve:"), "{meta}");

    let text = metrics_text(&app).await;
    assert!(
        text.contains(r#"transforms_total{direction="in",method="inputtransform",model_name="full"} 2"#),
        "{text}"
    );
    assert!(!text.contains("from_client"), "a caller's metrics are not the unit's to publish:\n{text}");
    post(&app, "/transform-input", body).await;
    assert!(metrics_text(&app).await.contains(r#"model_name="full"} 4"#));
}

#[tokio::test]
async fn transform_output_takes_the_query_form_and_sets_gauges() {
    let (app, _) = full().await;
    let message =
        r#"{"strData":"hello","meta":{"tags":{"report":{"key":"queue","type":"GAUGE","value":-3.5}}}}"#;
    let query: String = form_urlencoded::Serializer::new(String::new()).append_pair("json", message).finish();
    let (status, answer) =
        send(&app, Request::get(format!("/transform-output?{query}")).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["strData"], "hello");
    assert_eq!(answer["meta"]["tags"]["stage"], "output");
    assert!(metrics_text(&app).await.contains(r#"queue{method="outputtransform",model_name="full"} -3.5"#));
}

#[tokio::test]
async fn predict_publishes_unit_metrics_too() {
    let (app, _) = full().await;
    let body = r#"{"data":{"ndarray":[1]},"meta":{"tags":{"report":[
                    {"key":"rows","type":"COUNTER","value":1},{"key":"latency","type":"TIMER","value":20}]}}}"#;
    let (status, answer) = post(&app, "/api/v1.0/predictions", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["meta"]["metrics"].as_array().unwrap().len(), 2);
    let text = metrics_text(&app).await;
    assert!(text.contains(r#"rows_total{method="predict",model_name="full"} 1"#), "{text}");
    assert!(text.contains(r#"latency_count{method="predict",model_name="full"} 1"#), "{text}");
    assert!(text.contains(r#"latency_sum{method="predict",model_name="full"} 0.02"#), "{text}");
    // 20 ms is past the 0.0190… s bound and within the next one.
    assert!(
        text.contains(r#"latency_bucket{method="predict",model_name="full",le="0.019018554321561583"} 0"#)
    );
    assert!(
        text.contains(r#"latency_bucket{method="predict",model_name="full",le="0.023471850096327324"} 1"#)
    );
    assert!(text.contains(r#"latency_bucket{method="predict",model_name="full",le="+Inf"} 1"#), "{text}");
}

#[tokio::test]
async fn route_answers_the_index_as_a_one_by_one_array_in_the_request_form() {
    let (app, _) = full().await;
    let body = r#"{"data":{"ndarray":[[1,2],[3,4]]},"meta":{"puid":"r1","tags":{"t":1},
                   "metrics":[{"key":"m","value":1}]}}"#;
    let (status, answer) = post(&app, "/route", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let path = answer["meta"]["requestPath"].clone();
    assert_eq!(
        answer,
        json!({"data": {"names": ["t:0"], "ndarray": [[1]]}, "meta": {"puid": "r1", "requestPath": path}})
    );
    let (_, answer) = post(&app, "/route", r#"{"data":{"tensor":{"shape":[1,3],"values":[1,2,3]}}}"#).await;
    assert_eq!(answer["data"], json!({"names": ["t:0"], "tensor": {"shape": [1, 1], "values": [0]}}));
    let (_, answer) = post(&app, "/route", r#"{"jsonData":{"rows":8}}"#).await;
    assert_eq!(answer["data"], json!({"names": ["t:0"], "tensor": {"shape": [1, 1], "values": [0]}}));
    // Eight rows route to child 7, whether or not the graph has one: that is the graph's check.
    let (_, answer) = post(&app, "/route", r#"{"data":{"ndarray":[0,0,0,0,0,0,0,0]}}"#).await;
    assert_eq!(answer["data"]["ndarray"], json!([[7]]));
    // An empty batch routes to -1 (all children), a valid Seldon answer.
    let (_, answer) = post(&app, "/route", r#"{"data":{"ndarray":[]}}"#).await;
    assert_eq!(answer["data"]["ndarray"], json!([[-1]]));
}

#[tokio::test]
async fn a_failing_unit_is_a_500_with_its_message() {
    let (app, _) = full().await;
    let answer = post(&app, "/route", r#"{"strData":"x"}"#).await;
    assert_eq!(
        error_info(&answer, StatusCode::INTERNAL_SERVER_ERROR, "MICROSERVICE_INTERNAL_ERROR"),
        "the router failed"
    );
}

#[tokio::test]
async fn aggregate_takes_both_list_forms_and_merges_the_children_meta() {
    let (app, _) = full().await;
    let children = r#"[
        {"data":{"tensor":{"shape":[2],"values":[1,2]}},
         "meta":{"puid":"first","tags":{"a":1,"shared":"x"},"requestPath":{"m1":"img1"},
                 "metrics":[{"key":"c1","value":1}]}},
        {"data":{"ndarray":[[1,2,3]]},
         "meta":{"puid":"second","tags":{"b":2,"shared":"y"},"requestPath":{"m2":"img2"},
                 "metrics":[{"key":"c2","value":1}]}}]"#;
    for body in [children.to_string(), format!(r#"{{"seldonMessages":{children}}}"#)] {
        let (status, answer) = post(&app, "/aggregate", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        // The first child's form (tensor), with the element count of each child.
        assert_eq!(answer["data"], json!({"names": [], "tensor": {"shape": [2], "values": [2, 3]}}));
        let meta = &answer["meta"];
        assert_eq!(meta["puid"], "first");
        assert_eq!(meta["tags"], json!({"a": 1, "b": 2, "shared": "y", "stage": "aggregate"}));
        let paths: Vec<&String> = meta["requestPath"].as_object().unwrap().keys().collect();
        assert_eq!(paths, ["full", "m1", "m2"]);
        let keys: Vec<&str> =
            meta["metrics"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["c1", "c2", "aggregate_ms"]);
    }
    let text = metrics_text(&app).await;
    assert!(text.contains(r#"aggregate_ms_count{method="aggregate",model_name="full"} 2"#), "{text}");
    assert!(!text.contains("c1_total"), "{text}");
}

#[tokio::test]
async fn aggregate_takes_a_multipart_form() {
    let (app, _) = full().await;
    let body = "--B\r\nContent-Disposition: form-data; name=\"seldonMessages\"\r\n\r\n\
                [{\"strData\":\"a\"},{\"binData\":\"AAE=\"}]\r\n--B--\r\n";
    let request = Request::post("/aggregate")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
        .body(Body::from(body))
        .unwrap();
    let (status, answer) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["tensor"]["values"], json!([1, 1]));
}

#[tokio::test]
async fn a_unit_without_transforms_answers_its_input() {
    let (app, _) = plain().await;
    for path in ["/transform-input", "/transform-output"] {
        let body = r#"{"data":{"names":["x"],"tensor":{"shape":[1,1],"values":[0.5]}},"meta":{"puid":"p","tags":{"k":"v"}}}"#;
        let (status, answer) = post(&app, path, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["data"], json!({"names": ["x"], "tensor": {"shape": [1, 1], "values": [0.5]}}));
        assert_eq!((&answer["meta"]["puid"], &answer["meta"]["tags"]), (&json!("p"), &json!({"k": "v"})));
    }
}

#[tokio::test]
async fn a_unit_without_route_or_aggregate_answers_as_seldons_wrapper() {
    let (app, _) = plain().await;
    let answer = post(&app, "/route", r#"{"data":{"ndarray":[1]}}"#).await;
    assert_eq!(
        error_info(&answer, StatusCode::BAD_REQUEST, "MICROSERVICE_BAD_DATA"),
        "unit 'plain' does not route"
    );
    let answer = post(&app, "/aggregate", r#"[{"data":{"ndarray":[1]}}]"#).await;
    assert_eq!(
        error_info(&answer, StatusCode::BAD_REQUEST, "MICROSERVICE_BAD_DATA"),
        "unit 'plain' does not aggregate"
    );
}

#[tokio::test]
async fn bad_bodies_are_400s_naming_the_field() {
    let (app, _) = full().await;
    let cases = [
        ("/transform-input", "{oops", "invalid JSON"),
        ("/transform-output", r#"{"data":{"ndarray":[[1],[1,2]]}}"#, "data.ndarray: ragged nesting"),
        ("/route", r#"{"strData":5}"#, "strData: invalid type"),
        ("/route", "{}", "no payload"),
        ("/aggregate", "[]", "seldonMessages: the list is empty"),
        ("/aggregate", r#"{"seldonMessages":[]}"#, "seldonMessages: the list is empty"),
        ("/aggregate", r#"{"messages":[]}"#, "messages: unknown field `messages`"),
        ("/aggregate", r#"{"seldonMessages":{}}"#, "seldonMessages: invalid type: map"),
        (
            "/aggregate",
            r#"[{"strData":"a"},{"data":{"ndarray":"x"}}]"#,
            "seldonMessages[1]: data.ndarray: expected a list",
        ),
        ("/aggregate", r#"[{"strData":"a"},5]"#, "seldonMessages[1]: invalid type: integer"),
        ("/aggregate", "[{}", "invalid JSON"),
        ("/aggregate", r#"{"strData":"a"}"#, "strData: unknown field `strData`"),
    ];
    for (path, body, prefix) in cases {
        let answer = post(&app, path, body).await;
        let info = error_info(&answer, StatusCode::BAD_REQUEST, "MICROSERVICE_BAD_DATA");
        assert!(info.starts_with(prefix), "{path} {body}\n  got: {info}\n  want: {prefix}");
    }
    let request = Request::get("/route").body(Body::empty()).unwrap();
    let answer = send(&app, request).await;
    assert!(error_info(&answer, StatusCode::BAD_REQUEST, "MICROSERVICE_BAD_DATA").contains("no body"));
}

#[tokio::test]
async fn metrics_prometheus_cannot_take_are_500s_naming_the_field() {
    let (app, _) = full().await;
    let cases = [
        (r#"{"key":"no-dash","value":1}"#, "meta.metrics[0].key: 'no-dash' is not a Prometheus metric name"),
        (
            r#"{"key":"oxserve_requests_total","value":1}"#,
            "meta.metrics[0].key: 'oxserve_requests_total': names starting 'oxserve_'",
        ),
        (r#"{"key":"c","value":-1}"#, "meta.metrics[0].value: a COUNTER takes a finite number ≥ 0, got -1"),
        (
            r#"{"key":"t","type":"TIMER","value":-1}"#,
            "meta.metrics[0].value: a TIMER takes a finite number ≥ 0",
        ),
        (
            r#"{"key":"c","value":1,"tags":{"bad tag":"x"}}"#,
            "meta.metrics[0].tags.bad tag: not a Prometheus label name",
        ),
        (
            r#"{"key":"c","value":1,"tags":{"__x":"x"}}"#,
            "meta.metrics[0].tags.__x: not a Prometheus label name",
        ),
        (
            &format!(r#"{{"key":"c","value":1,"tags":{{"a":"{}"}}}}"#, "x".repeat(2000)),
            "meta.metrics[0].tags: metric 'c' with its tags takes",
        ),
    ];
    for (metric, prefix) in cases {
        let body = format!(r#"{{"strData":"s","meta":{{"tags":{{"report":[{metric}]}}}}}}"#);
        let answer = post(&app, "/transform-input", &body).await;
        let info = error_info(&answer, StatusCode::INTERNAL_SERVER_ERROR, "MICROSERVICE_INTERNAL_ERROR");
        assert!(info.starts_with(prefix), "{metric}\n  got: {info}\n  want: {prefix}");
    }
    // A name keeps its first type; the index counts the caller's metrics before the unit's.
    let body = r#"{"strData":"s","meta":{"metrics":[{"key":"mine","value":1}],"tags":{"report":[
                    {"key":"x","type":"GAUGE","value":1},{"key":"ok","value":1},{"key":"x","type":"TIMER","value":1}]}}}"#;
    let answer = post(&app, "/transform-input", body).await;
    let info = error_info(&answer, StatusCode::INTERNAL_SERVER_ERROR, "MICROSERVICE_INTERNAL_ERROR");
    assert_eq!(info, "meta.metrics[3].type: metric 'x' is already a GAUGE; one name has one type");
    assert!(!metrics_text(&app).await.contains("ok_total"), "nothing of a refused answer is published");
    let body = r#"{"strData":"s","meta":{"tags":{"report":{"key":"x","type":"GAUGE","value":1}}}}"#;
    assert_eq!(post(&app, "/transform-input", body).await.0, StatusCode::OK);
    let body = r#"{"strData":"s","meta":{"tags":{"report":{"key":"x","type":"COUNTER","value":1}}}}"#;
    assert_eq!(
        post(&app, "/transform-input", body).await.0,
        StatusCode::OK,
        "a counter 'x' is the family x_total"
    );
    let body = r#"{"strData":"s","meta":{"tags":{"report":{"key":"x","type":"TIMER","value":1}}}}"#;
    let info = error_info(
        &post(&app, "/transform-input", body).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "MICROSERVICE_INTERNAL_ERROR",
    );
    assert_eq!(info, "meta.metrics[0].type: metric 'x' is already a GAUGE; one name has one type");
}

#[tokio::test]
async fn unit_metrics_can_stay_out_of_answers() {
    let (app, _) = app_with(
        std::sync::Arc::new(Full { metadata: metadata("full") }),
        Metrics::with_unit_metrics_in_answers(false),
    )
    .await;
    let body = r#"{"strData":"s","meta":{"metrics":[{"key":"from_client","value":1}],
                   "tags":{"report":{"key":"own","value":1}}}}"#;
    let (status, answer) = post(&app, "/transform-input", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["meta"]["metrics"], json!([{"key": "from_client", "type": "COUNTER", "value": 1.0}]));
    assert!(metrics_text(&app).await.contains(r#"own_total{method="inputtransform",model_name="full"} 1"#));
}

#[tokio::test]
async fn feedback_reaches_the_unit_with_the_routing_it_learns_from() {
    let (app, _) = full().await;
    let body = r#"{"request":{"data":{"ndarray":[[1,2]]},"meta":{"puid":"f1","tags":{"t":1}}},
                   "response":{"meta":{"routing":{"full":1}}},"reward":0.5,"truth":{"data":{"ndarray":[1]}}}"#;
    for path in ["/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback"] {
        let (status, answer) = post(&app, path, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["data"], json!({"names": [], "ndarray": [0.5]}));
        assert_eq!((&answer["meta"]["puid"], &answer["meta"]["tags"]), (&json!("f1"), &json!({"routed": 1})));
    }
    let text = metrics_text(&app).await;
    assert!(text.contains(r#"rewards_total{method="feedback",model_name="full"} 1.5"#), "{text}");
    assert!(text.contains(r#"seldon_api_model_feedback_total{method="feedback",model_name="full"} 3"#));
    assert!(
        text.contains(r#"seldon_api_model_feedback_reward_total{method="feedback",model_name="full"} 1.5"#)
    );
}

#[tokio::test]
async fn feedback_to_a_unit_that_takes_none_is_an_empty_ndarray() {
    let (app, _) = plain().await;
    let (status, answer) =
        post(&app, "/send-feedback", r#"{"request":{"data":{"ndarray":[1]}},"reward":1}"#).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"], json!({"names": [], "ndarray": []}));
    let body = r#"{"request":{"data":{"tensor":{"shape":[1],"values":[1]}}},"reward":1}"#;
    let (_, answer) = post(&app, "/send-feedback", body).await;
    assert_eq!(answer["data"], json!({"names": [], "ndarray": []}));
    let (status, answer) = post(&app, "/send-feedback", r#"{"reward":1}"#).await;
    assert_eq!((status, &answer["data"]), (StatusCode::OK, &json!({"names": [], "ndarray": []})));
    let cases = [
        (r#"{"rewards":1}"#, "rewards: unknown field `rewards`"),
        (r#"{"reward":"x"}"#, "reward: invalid type: string"),
        (r#"{"response":{"data":{"ndarray":[[1],[]]}}}"#, "response: data.ndarray: ragged nesting"),
        (
            r#"{"truth":{"strData":"a","jsonData":1}}"#,
            "truth: jsonData and strData: a Seldon message carries exactly one",
        ),
        ("[]", "the body must be a JSON object"),
    ];
    for (body, prefix) in cases {
        let info = error_info(
            &post(&app, "/send-feedback", body).await,
            StatusCode::BAD_REQUEST,
            "MICROSERVICE_BAD_DATA",
        );
        assert!(info.starts_with(prefix), "{body}\n  got: {info}\n  want: {prefix}");
    }
}
