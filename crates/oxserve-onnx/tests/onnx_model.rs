//! OnnxModel against the example models from examples/make_models.py, on the real ONNX Runtime.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{load, models_dir, try_load};
use oxserve_core::{DataType, ErrorKind, InferenceRequest, Meta, RequestedOutput, Tensor, TensorSpec, Unit};
use oxserve_onnx::{OnnxModel, init_onnxruntime, onnxruntime_path};

fn f32_tensor(name: &str, shape: Vec<usize>, values: &[f32]) -> Tensor {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Tensor::new(name, DataType::Fp32, shape, Bytes::from(data)).unwrap()
}

fn f32_values(tensor: &Tensor) -> Vec<f32> {
    assert_eq!(tensor.datatype, DataType::Fp32, "{}", tensor.name);
    tensor.data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn request(inputs: Vec<Tensor>) -> InferenceRequest {
    InferenceRequest { inputs, ..Default::default() }
}

fn wants(mut request: InferenceRequest, outputs: &[&str]) -> InferenceRequest {
    request.outputs =
        outputs.iter().map(|n| RequestedOutput { name: n.to_string(), ..Default::default() }).collect();
    request
}

fn iris_request() -> InferenceRequest {
    request(vec![f32_tensor("input", vec![2, 4], &[5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3])])
}

#[test]
fn discovery_finds_the_onnxruntime_wheel() {
    let path = init_onnxruntime(None).unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("libonnxruntime.so."), "{}", path.display());
    assert!(path.is_file(), "{}", path.display());
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        assert!(path.parent().unwrap().ends_with("onnxruntime/capi"), "{}", path.display());
    }
    assert_eq!(onnxruntime_path(), Some(path.as_path()));
    assert_eq!(init_onnxruntime(None).unwrap(), path, "a second call returns the loaded library");
}

#[tokio::test]
async fn iris_matches_the_reference_values() {
    let model = load("iris", r#"{"parameters":{"version":"1"}}"#);
    let mut req = iris_request();
    req.id = Some("req-7".into());
    req.meta = Meta { puid: "p-1".into(), ..Default::default() };
    let resp = model.predict(req).await.unwrap();

    assert_eq!(resp.id.as_deref(), Some("req-7"));
    assert_eq!(resp.model_name, "iris");
    assert_eq!(resp.model_version.as_deref(), Some("1"));
    assert_eq!(resp.meta.puid, "p-1");
    let names: Vec<&str> = resp.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["probabilities", "label"], "all outputs, in graph order");

    let probabilities = resp.output("probabilities").unwrap();
    assert_eq!(probabilities.shape, [2, 3]);
    // The reference values as given (f64, so they keep every printed digit).
    let expected: [f64; 6] =
        [9.8232895e-01, 1.7671013e-02, 1.4103694e-08, 5.6185083e-05, 7.6699480e-02, 9.2324430e-01];
    for (got, want) in f32_values(probabilities).iter().zip(expected) {
        assert!((f64::from(*got) - want).abs() < 1e-5, "probabilities {got} vs {want}");
    }
    let label = resp.output("label").unwrap();
    assert_eq!(label.datatype, DataType::Int64);
    assert_eq!(label.shape, [2]);
    let labels: Vec<i64> =
        label.data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(labels, [0, 2]);
}

#[test]
fn metadata_comes_from_the_graph() {
    let iris = load("iris", r#"{"parameters":{"version":"3"}}"#);
    let meta = iris.metadata();
    assert_eq!(meta.name, "iris");
    assert_eq!(meta.platform, "onnxruntime_onnx");
    assert_eq!(meta.versions, ["3"]);
    let spec = |name: &str, datatype, shape: &[i64]| TensorSpec {
        name: name.into(),
        datatype,
        shape: shape.to_vec(),
    };
    assert_eq!(meta.inputs, [spec("input", DataType::Fp32, &[-1, 4])]);
    assert_eq!(
        meta.outputs,
        [spec("probabilities", DataType::Fp32, &[-1, 3]), spec("label", DataType::Int64, &[-1])]
    );

    let every = load("every_type", "{}");
    let meta = every.metadata();
    assert!(meta.versions.is_empty());
    assert_eq!(meta.inputs.len(), 14);
    for (datatype, (input, output)) in DataType::ALL.into_iter().zip(meta.inputs.iter().zip(&meta.outputs)) {
        let lower = datatype.as_str().to_lowercase();
        assert_eq!(*input, spec(&format!("in_{lower}"), datatype, &[-1, -1]));
        assert_eq!(*output, spec(&format!("out_{lower}"), datatype, &[-1, -1]));
    }
}

/// Six elements of `datatype` whose bytes are all different, NaN payloads and all.
fn every_type_tensor(datatype: DataType, shape: Vec<usize>) -> Tensor {
    let name = format!("in_{}", datatype.as_str().to_lowercase());
    let count: usize = shape.iter().product();
    let strings = ["", "héllo", "日本語", "a\0b", "🦀", "plain"];
    match datatype {
        DataType::Bytes => {
            Tensor::from_bytes_elements(name, shape, strings.iter().cycle().take(count)).unwrap()
        }
        DataType::Bool => {
            let data: Vec<u8> = [1u8, 0, 1, 1, 0, 0].into_iter().cycle().take(count).collect();
            Tensor::new(name, datatype, shape, Bytes::from(data)).unwrap()
        }
        _ => {
            let size = datatype.element_size().unwrap();
            let data: Vec<u8> = (0..count * size).map(|i| (i * 37 + 11) as u8).collect();
            Tensor::new(name, datatype, shape, Bytes::from(data)).unwrap()
        }
    }
}

#[tokio::test]
async fn every_datatype_round_trips_byte_for_byte() {
    let model = load("every_type", "{}");
    for shape in [vec![2, 3], vec![0, 4]] {
        let inputs: Vec<Tensor> =
            DataType::ALL.into_iter().map(|d| every_type_tensor(d, shape.clone())).collect();
        let resp = model.predict(request(inputs.clone())).await.unwrap();
        assert_eq!(resp.outputs.len(), 14);
        for (input, output) in inputs.iter().zip(&resp.outputs) {
            assert_eq!(output.name, input.name.replace("in_", "out_"));
            assert_eq!(output.datatype, input.datatype, "{}", output.name);
            assert_eq!(output.shape, input.shape, "{}", output.name);
            assert_eq!(output.data, input.data, "{} bytes", output.name);
        }
    }
}

#[tokio::test]
async fn only_the_requested_outputs_are_returned_in_the_requested_order() {
    let model = load("every_type", "{}");
    let inputs: Vec<Tensor> = DataType::ALL.into_iter().map(|d| every_type_tensor(d, vec![1, 6])).collect();
    let resp = model.predict(wants(request(inputs), &["out_bytes", "out_fp16", "out_bytes"])).await.unwrap();
    let names: Vec<&str> = resp.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["out_bytes", "out_fp16"]);
    let strings: Vec<&[u8]> = resp.outputs[0].bytes_elements().collect();
    assert_eq!(
        strings,
        [&b""[..], "héllo".as_bytes(), "日本語".as_bytes(), b"a\0b", "🦀".as_bytes(), b"plain"]
    );

    let iris = load("iris", "{}");
    let resp = iris.predict(wants(iris_request(), &["label"])).await.unwrap();
    assert_eq!(resp.outputs.len(), 1);
    assert_eq!(resp.outputs[0].name, "label");
}

#[tokio::test]
async fn bad_requests_are_invalid_argument() {
    let model = load("iris", "{}");
    let cases = [
        ("wrong name", request(vec![f32_tensor("x", vec![1, 4], &[0.0; 4])]), "unexpected input 'x'"),
        ("no input", request(vec![]), "needs input 'input'"),
        (
            "wrong datatype",
            request(vec![
                Tensor::new("input", DataType::Fp64, vec![1, 4], Bytes::from(vec![0u8; 32])).unwrap(),
            ]),
            "inputs[0].datatype",
        ),
        ("wrong shape", request(vec![f32_tensor("input", vec![1, 3], &[0.0; 3])]), "inputs[0].shape"),
        ("wrong rank", request(vec![f32_tensor("input", vec![4], &[0.0; 4])]), "inputs[0].shape"),
        ("unknown output", wants(iris_request(), &["logits"]), "unexpected output 'logits'"),
    ];
    for (what, req, needle) in cases {
        let err = model.predict(req).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{what}: {}", err.message);
        assert!(err.message.contains(needle), "{what}: {}", err.message);
    }

    // BYTES are bytes: elements that are not UTF-8 pass through unchanged, as in Triton.
    let every = load("every_type", "{}");
    let mut inputs: Vec<Tensor> =
        DataType::ALL.into_iter().map(|d| every_type_tensor(d, vec![1, 2])).collect();
    let bytes = inputs.iter_mut().find(|t| t.datatype == DataType::Bytes).unwrap();
    *bytes = Tensor::from_bytes_elements("in_bytes", vec![1, 2], [&b"ok"[..], &[0xff, 0xfe]]).unwrap();
    let resp = every.predict(wants(request(inputs), &["out_bytes"])).await.unwrap();
    let echoed: Vec<&[u8]> = resp.outputs[0].bytes_elements().collect();
    assert_eq!(echoed, [&b"ok"[..], &[0xff, 0xfe]]);
}

#[tokio::test]
async fn a_runtime_failure_is_internal_and_the_model_keeps_working() {
    let model = load("reshape3", "{}");
    assert_eq!(model.instances(), 1, "the failing and the next run share one session");
    let err =
        model.predict(request(vec![f32_tensor("x", vec![4], &[1.0, 2.0, 3.0, 4.0])])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal, "{}", err.message);
    assert!(err.message.contains("reshape3"), "{}", err.message);
    // ORT's own words about the failing node.
    assert!(err.message.contains("Reshape") || err.message.contains("reshape"), "{}", err.message);
    assert!(err.message.contains("4"), "{}", err.message);

    let resp = model.predict(request(vec![f32_tensor("x", vec![3], &[1.0, 2.0, 3.0])])).await.unwrap();
    assert_eq!(resp.outputs[0].shape, [3]);
    assert_eq!(f32_values(&resp.outputs[0]), [1.0, 2.0, 3.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_the_session_pool() {
    let model = Arc::new(load("mlp", r#"{"instances":2}"#));
    assert_eq!(model.instances(), 2);
    let input = |i: usize| {
        let values: Vec<f32> = (0..8 * 64).map(|j| ((i * 131 + j) % 17) as f32 / 17.0).collect();
        f32_tensor("input", vec![8, 64], &values)
    };
    let expected = model.predict(request(vec![input(5)])).await.unwrap();

    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let model = Arc::clone(&model);
            tokio::spawn(async move { (i, model.predict(request(vec![input(i)])).await) })
        })
        .collect();
    for task in tasks {
        let (i, result) = task.await.unwrap();
        let resp = result.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(resp.outputs[0].shape, [8, 10]);
        let sums: Vec<f32> = f32_values(&resp.outputs[0]).chunks(10).map(|row| row.iter().sum()).collect();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "softmax rows sum to 1: {sums:?}");
        if i == 5 {
            assert_eq!(resp.outputs, expected.outputs, "same input, same answer on any session");
        }
    }
}

#[test]
fn load_errors_name_the_model_file() {
    let settings = oxserve_core::ModelSettings::default();
    let missing = models_dir().join("nope/model.onnx");
    let err = OnnxModel::load("nope", &missing, &settings).unwrap_err();
    assert!(err.message.contains(&missing.display().to_string()), "{}", err.message);

    let garbage = models_dir().join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a protobuf").unwrap();
    let err = OnnxModel::load("garbage", &garbage, &settings).unwrap_err();
    assert!(err.message.contains(&garbage.display().to_string()), "{}", err.message);

    let folder = models_dir().join("iris");
    let err = OnnxModel::load("folder", &folder, &settings).unwrap_err();
    assert!(err.message.contains("folder"), "{}", err.message);
}

#[tokio::test]
async fn settings_can_narrow_the_graph_but_not_contradict_it() {
    let model = load(
        "iris",
        r#"{"inputs":[{"name":"input","datatype":"FP32","shape":[2,4]}],
            "outputs":[{"name":"label","datatype":"INT64","shape":[-1]}]}"#,
    );
    assert_eq!(model.metadata().inputs[0].shape, [2, 4]);
    let resp = model.predict(iris_request()).await.unwrap();
    let names: Vec<&str> = resp.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["label"], "declared outputs are the default set");
    let err = model.predict(request(vec![f32_tensor("input", vec![1, 4], &[0.0; 4])])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);

    for (settings, needle) in [
        (
            r#"{"inputs":[{"name":"features","datatype":"FP32","shape":[-1,4]}]}"#,
            "the graph has no input 'features'",
        ),
        (
            r#"{"outputs":[{"name":"scores","datatype":"FP32","shape":[-1,3]}]}"#,
            "the graph has no output 'scores'",
        ),
        (r#"{"inputs":[{"name":"input","datatype":"FP64","shape":[-1,4]}]}"#, "is FP32 in the graph"),
        (r#"{"inputs":[{"name":"input","datatype":"FP32","shape":[-1,5]}]}"#, "contradicts"),
    ] {
        let err = try_load("iris", settings).unwrap_err();
        assert!(err.message.contains(needle), "{settings}: {}", err.message);
    }
}

#[test]
fn intra_op_threads_default_to_a_share_of_the_cpus_and_can_be_set() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(load("mlp", r#"{"instances":2}"#).intra_op_threads(), (cpus / 2).max(1));
    assert_eq!(load("mlp", r#"{"parameters":{"intra_op_threads":3}}"#).intra_op_threads(), 3);
    assert_eq!(load("mlp", r#"{"parameters":{"intra_op_threads":"2"}}"#).intra_op_threads(), 2);
    let err = try_load("mlp", r#"{"parameters":{"intra_op_threads":0}}"#).unwrap_err();
    assert!(err.message.contains("intra_op_threads"), "{}", err.message);
}
