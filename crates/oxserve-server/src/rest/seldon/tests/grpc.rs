use axum::Router;
use oxserve_protocol::pb::seldon::combiner_client::CombinerClient;
use oxserve_protocol::pb::seldon::generic_client::GenericClient;
use oxserve_protocol::pb::seldon::output_transformer_client::OutputTransformerClient;
use oxserve_protocol::pb::seldon::router_client::RouterClient;
use oxserve_protocol::pb::seldon::transformer_client::TransformerClient;
use oxserve_protocol::pb::seldon::{
    DefaultData, Feedback, Meta, Metric, SeldonMessage, SeldonMessageList, Tensor, default_data,
    seldon_message,
};
use prost_types::{ListValue, Value};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::{REPORT_TAG, full, plain};

/// A client channel to `app` served on a loopback port.
async fn channel(app: Router) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap()
}

fn tensor(shape: &[i32], values: &[f64]) -> SeldonMessage {
    let data = DefaultData {
        names: vec![],
        data_oneof: Some(default_data::DataOneof::Tensor(Tensor {
            shape: shape.to_vec(),
            values: values.to_vec(),
        })),
    };
    SeldonMessage { data_oneof: Some(seldon_message::DataOneof::Data(data)), ..Default::default() }
}

fn data(message: &SeldonMessage) -> &default_data::DataOneof {
    match &message.data_oneof {
        Some(seldon_message::DataOneof::Data(DefaultData { data_oneof: Some(data), .. })) => data,
        other => panic!("expected data, got {other:?}"),
    }
}

fn ndarray(values: Vec<Value>) -> ListValue {
    ListValue { values }
}

/// The message a route to `k` answers for an ndarray request: `[[k]]`.
fn routed(k: f64) -> default_data::DataOneof {
    let row = Value::from(vec![Value::from(k)]);
    default_data::DataOneof::Ndarray(ndarray(vec![row]))
}

#[tokio::test]
async fn every_component_service_calls_the_unit() {
    let (app, _) = full().await;
    let channel = channel(app).await;
    let mut generic = GenericClient::new(channel.clone());
    let mut transformer = TransformerClient::new(channel.clone());
    let mut output = OutputTransformerClient::new(channel.clone());
    let mut router = RouterClient::new(channel.clone());
    let mut combiner = CombinerClient::new(channel);

    let report = Value::from(
        vec![(String::from("key"), Value::from("seen")), ("value".into(), Value::from(1.0))]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
    );
    let mut message = tensor(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    message.meta = Some(Meta {
        puid: "g1".into(),
        tags: [(REPORT_TAG.to_string(), report)].into_iter().collect(),
        ..Meta::default()
    });
    for answer in [
        generic.transform_input(message.clone()).await.unwrap().into_inner(),
        transformer.transform_input(message.clone()).await.unwrap().into_inner(),
    ] {
        assert_eq!(data(&answer), data(&message));
        let meta = answer.meta.unwrap();
        assert_eq!((meta.puid.as_str(), meta.tags["stage"].clone()), ("g1", Value::from("input")));
        assert_eq!(meta.metrics.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(), ["seen"]);
    }
    for answer in [
        generic.transform_output(message.clone()).await.unwrap().into_inner(),
        output.transform_output(message.clone()).await.unwrap().into_inner(),
    ] {
        assert_eq!(answer.meta.unwrap().tags["stage"], Value::from("output"));
    }

    let rows = tensor(&[3, 1], &[1.0, 2.0, 3.0]);
    let mut ndarray_rows = rows.clone();
    ndarray_rows.data_oneof = Some(seldon_message::DataOneof::Data(DefaultData {
        names: vec![],
        data_oneof: Some(default_data::DataOneof::Ndarray(ndarray(vec![Value::from(1.0), Value::from(2.0)]))),
    }));
    for answer in [
        generic.route(ndarray_rows.clone()).await.unwrap().into_inner(),
        router.route(ndarray_rows.clone()).await.unwrap().into_inner(),
    ] {
        assert_eq!(data(&answer), &routed(1.0));
    }
    let answer = router.route(rows).await.unwrap().into_inner();
    assert_eq!(
        data(&answer),
        &default_data::DataOneof::Tensor(Tensor { shape: vec![1, 1], values: vec![2.0] })
    );

    let list = SeldonMessageList { seldon_messages: vec![tensor(&[1], &[1.0]), tensor(&[2, 2], &[0.0; 4])] };
    for answer in [
        generic.aggregate(list.clone()).await.unwrap().into_inner(),
        combiner.aggregate(list.clone()).await.unwrap().into_inner(),
    ] {
        assert_eq!(
            data(&answer),
            &default_data::DataOneof::Tensor(Tensor { shape: vec![2], values: vec![1.0, 4.0] })
        );
        let metrics: Vec<Metric> = answer.meta.unwrap().metrics;
        assert_eq!(metrics.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(), ["aggregate_ms"]);
    }

    let routing = [("full".to_string(), 2)].into_iter().collect();
    let routed =
        SeldonMessage { meta: Some(Meta { routing, ..Meta::default() }), ..SeldonMessage::default() };
    let feedback = Feedback { reward: 1.0, request: Some(ndarray_rows), response: Some(routed), truth: None };
    for answer in [
        generic.send_feedback(feedback.clone()).await.unwrap().into_inner(),
        router.send_feedback(feedback).await.unwrap().into_inner(),
    ] {
        assert_eq!(data(&answer), &default_data::DataOneof::Ndarray(ndarray(vec![Value::from(1.0)])));
        assert_eq!(answer.meta.unwrap().tags["routed"], Value::from(2.0));
    }
}

#[tokio::test]
async fn defaults_failures_and_bad_messages_have_their_codes() {
    let (app, _) = plain().await;
    let channel = channel(app).await;
    let mut generic = GenericClient::new(channel.clone());
    let mut combiner = CombinerClient::new(channel.clone());
    let mut router = RouterClient::new(channel.clone());

    let message = tensor(&[1], &[0.5]);
    let answer = TransformerClient::new(channel).transform_input(message.clone()).await.unwrap().into_inner();
    assert_eq!(data(&answer), data(&message));

    let status = router.route(message.clone()).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::Unimplemented, "unit 'plain' does not route"));
    let list = SeldonMessageList { seldon_messages: vec![message.clone()] };
    let status = combiner.aggregate(list).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::Unimplemented, "unit 'plain' does not aggregate"));

    let status = generic.aggregate(SeldonMessageList::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("seldonMessages: the list is empty"), "{}", status.message());
    let list = SeldonMessageList { seldon_messages: vec![message, SeldonMessage::default()] };
    let status = generic.aggregate(list).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("seldonMessages[1]: no payload"), "{}", status.message());
    let status = generic.route(tensor(&[1], &[1.0])).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let answer =
        router.send_feedback(Feedback { reward: 1.0, ..Feedback::default() }).await.unwrap().into_inner();
    assert_eq!(data(&answer), &default_data::DataOneof::Ndarray(ListValue::default()));
    let feedback = Feedback { truth: Some(tensor(&[2], &[1.0])), ..Feedback::default() };
    let status = generic.send_feedback(feedback).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("truth: data.tensor.values"), "{}", status.message());
    let status = generic.transform_input(tensor(&[3], &[1.0])).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("data.tensor.values: 1 values for shape [3]"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_bad_unit_metric_is_internal_over_grpc_too() {
    let (app, _) = full().await;
    let mut generic = GenericClient::new(channel(app).await);
    let report = Value::from(
        vec![(String::from("key"), Value::from("bad key")), ("value".into(), Value::from(1.0))]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
    );
    let mut message = tensor(&[1], &[1.0]);
    message.meta =
        Some(Meta { tags: [(REPORT_TAG.to_string(), report)].into_iter().collect(), ..Meta::default() });
    let status = generic.transform_output(message).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(status.message().starts_with("meta.metrics[0].key: 'bad key'"), "{}", status.message());
}

#[tokio::test]
async fn health_covers_every_component_service() {
    let (app, _) = plain().await;
    let mut health = HealthClient::new(channel(app).await);
    for service in ["Generic", "Model", "Transformer", "OutputTransformer", "Router", "Combiner", "Seldon"] {
        let request = HealthCheckRequest { service: format!("seldon.protos.{service}") };
        let status = health.check(request).await.unwrap().into_inner().status;
        assert_eq!(ServingStatus::try_from(status), Ok(ServingStatus::Serving), "{service}");
    }
}
