//! The scheduler end to end, against a test model that records what it runs and can hold calls.
//!
//! Every test runs on a paused clock: time moves only when every task is idle and a timer is due,
//! so "it did not wait" is asserted as "the clock did not move", never against wall time.

mod support;

use std::sync::Arc;
use std::time::Duration;

use oxserve_batch::{NoopObserver, Rejection, Scheduler, SchedulerConfig, SchedulerObserver};
use oxserve_core::{ErrorKind, InferenceRequest, InferenceResponse, ModelMetadata, Result, TensorSpec, Unit};
use serde_json::json;
use support::*;
use tokio::task::JoinHandle;
use tokio::time::Instant;

fn batching(max_batch_size: usize, max_batch_time: Duration) -> SchedulerConfig {
    SchedulerConfig { max_batch_size, max_batch_time, ..Default::default() }
}

fn scheduler(unit: &Arc<AddOne>, config: SchedulerConfig, observer: &Arc<Recorder>) -> Arc<Scheduler> {
    let observer: Arc<dyn SchedulerObserver> = Arc::clone(observer) as _;
    Arc::new(Scheduler::new(Arc::clone(unit) as Arc<dyn Unit>, config, observer).unwrap())
}

fn call(scheduler: &Arc<Scheduler>, request: InferenceRequest) -> JoinHandle<Result<InferenceResponse>> {
    let scheduler = Arc::clone(scheduler);
    tokio::spawn(async move { scheduler.predict(request).await })
}

async fn answers(calls: Vec<JoinHandle<Result<InferenceResponse>>>) -> Vec<Result<InferenceResponse>> {
    let mut out = Vec::new();
    for call in calls {
        out.push(call.await.unwrap());
    }
    out
}

/// What the model answers to `request` on its own, without a scheduler.
async fn direct(request: InferenceRequest) -> InferenceResponse {
    AddOne::open().predict(request).await.unwrap()
}

/// Starts one request and waits until the gated model holds it, so that the only instance is busy
/// and what comes next queues.
async fn occupy(unit: &Arc<AddOne>, scheduler: &Arc<Scheduler>) -> JoinHandle<Result<InferenceResponse>> {
    let before = unit.calls();
    let first = call(scheduler, rows_request("first", 1, 0.0));
    until("the first call reaches the model", || unit.calls() == before + 1).await;
    first
}

/// Starts `requests` and waits until all of them are queued.
async fn enqueue(
    scheduler: &Arc<Scheduler>,
    recorder: &Recorder,
    requests: Vec<InferenceRequest>,
) -> Vec<JoinHandle<Result<InferenceResponse>>> {
    let expected = recorder.depth() + requests.len();
    let calls = requests.into_iter().map(|r| call(scheduler, r)).collect();
    until("the requests are queued", || recorder.depth() == expected).await;
    calls
}

#[tokio::test(start_paused = true)]
async fn batching_on_and_off_give_every_caller_the_same_answer() {
    let mut random = Lcg(7);
    let requests: Vec<InferenceRequest> = (0..80)
        .map(|i| {
            let rows = 1 + random.below(5) as usize;
            let mut r = request(
                &format!("caller-{i}"),
                vec![
                    fp32("x", vec![rows, 3], (0..rows * 3).map(|k| (i * 100 + k) as f32)),
                    int64("n", vec![rows], (0..rows).map(|k| (i * 10 + k) as i64)),
                    strings("s", vec![rows, 2], (0..rows * 2).map(|k| "é".repeat((i + k) % 4))),
                ],
            );
            r.meta.puid = format!("puid-{i}");
            r
        })
        .collect();
    let mut expected = Vec::new();
    for r in &requests {
        expected.push(direct(r.clone()).await);
    }

    for config in [SchedulerConfig::default(), batching(16, Duration::from_millis(2))] {
        let unit = AddOne::open();
        let recorder = Recorder::new();
        let scheduler = scheduler(&unit, config.clone(), &recorder);
        let calls = requests.iter().cloned().map(|r| call(&scheduler, r)).collect();
        let got: Vec<InferenceResponse> = answers(calls).await.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, expected, "batching {}", config.batching());

        let batches = recorder.batches();
        assert_eq!(batches.iter().map(|b| b.requests).sum::<usize>(), requests.len());
        if config.batching() {
            assert!(batches.iter().any(|b| b.requests > 1), "no batch formed: {batches:?}");
            assert!(batches.iter().all(|b| b.rows <= 16), "{batches:?}");
            assert!(unit.calls() < requests.len());
        } else {
            assert_eq!(unit.calls(), requests.len());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn incompatible_requests_are_batched_separately_and_all_succeed() {
    let unit = AddOne::gated();
    let recorder = Recorder::new();
    let scheduler = scheduler(&unit, batching(8, Duration::from_millis(5)), &recorder);
    let first = occupy(&unit, &scheduler).await;

    let plain = |id: &str, rows| rows_request(id, rows, 1.0);
    let requests = vec![
        plain("plain-1", 1),
        request("wider", vec![fp32("x", vec![1, 4], [1.0; 4])]),
        request("int", vec![int64("x", vec![1, 3], [1, 2, 3])]),
        wanting(plain("wants-x_out", 1), &["x_out"]),
        with_parameter(plain("tuned", 1), "mode", json!("fast")),
        plain("plain-2", 2),
        with_parameter(plain("plain-3-with-timeout", 1), "timeout", json!(60_000_000)),
    ];
    let expected: Vec<InferenceResponse> = {
        let mut e = Vec::new();
        for r in &requests {
            e.push(direct(r.clone()).await);
        }
        e
    };
    let calls = enqueue(&scheduler, &recorder, requests).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    let got: Vec<InferenceResponse> = answers(calls).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(got, expected);

    // The three plain requests (a timeout does not set a request apart) ran together, 4 rows;
    // each of the others ran on its own.
    let seen = unit.seen();
    assert_eq!(seen.len(), 1 + 5, "{:?}", unit.batch_rows());
    assert_eq!(seen[1].inputs[0].shape, vec![4, 3]);
    assert!(seen[1].parameters.is_empty(), "the stacked request carries no caller's timeout");
    for lone in &seen[2..] {
        assert_eq!(lone.inputs[0].shape[0], 1);
    }
}

#[tokio::test(start_paused = true)]
async fn bytes_are_stacked_and_split_by_rows() {
    let unit = AddOne::gated();
    let recorder = Recorder::new();
    let scheduler = scheduler(&unit, batching(16, Duration::from_millis(5)), &recorder);
    let first = occupy(&unit, &scheduler).await;

    let texts: [&[&[u8]]; 3] =
        [&[b"a", b"", b"bc", b"\xff\x00"], &[b"\xe2\x82\xac", b"x"], &[b"", b"", b"long text", b"z"]];
    let requests: Vec<InferenceRequest> = texts
        .iter()
        .enumerate()
        .map(|(i, elements)| {
            request(&format!("b{i}"), vec![strings("s", vec![elements.len() / 2, 2], elements.iter())])
        })
        .collect();
    let calls = enqueue(&scheduler, &recorder, requests).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    let got = answers(calls).await;

    assert_eq!(unit.seen()[1].inputs[0].shape, vec![5, 2], "one batch of all five rows");
    for (answer, elements) in got.into_iter().zip(texts) {
        let answer = answer.unwrap();
        let out = &answer.outputs[0];
        assert_eq!(out.shape, vec![elements.len() / 2, 2]);
        let back: Vec<Vec<u8>> = out.bytes_elements().map(<[u8]>::to_vec).collect();
        let want: Vec<Vec<u8>> = elements.iter().map(|e| [*e, b"!"].concat()).collect();
        assert_eq!(back, want);
    }
}

#[tokio::test(start_paused = true)]
async fn a_lone_caller_never_waits() {
    let unit = AddOne::open();
    let recorder = Recorder::new();
    let config = SchedulerConfig { preferred_batch_sizes: vec![4, 8], ..batching(8, Duration::from_secs(1)) };
    let scheduler = scheduler(&unit, config, &recorder);
    let start = Instant::now();
    for i in 0..20 {
        let answer = scheduler.predict(rows_request(&format!("r{i}"), 1 + i % 3, i as f32)).await.unwrap();
        assert_eq!(answer.id.as_deref(), Some(format!("r{i}").as_str()));
        assert_eq!(Instant::now(), start, "request {i} waited for company that was never coming");
    }
    assert_eq!(unit.calls(), 20);
}

#[tokio::test(start_paused = true)]
async fn under_load_batches_fill_without_passing_max_batch_size() {
    let unit = AddOne::gated();
    let recorder = Recorder::new();
    let scheduler = scheduler(&unit, batching(4, Duration::from_millis(10)), &recorder);
    let first = occupy(&unit, &scheduler).await;

    let requests = (0..10).map(|i| rows_request(&format!("r{i}"), 1, i as f32)).collect();
    let calls = enqueue(&scheduler, &recorder, requests).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    assert!(answers(calls).await.iter().all(Result::is_ok));
    assert_eq!(unit.batch_rows(), vec![1, 4, 4, 2]);

    // Rows, not requests, are capped; a request that does not fit ends its batch (no overtaking),
    // and one bigger than the cap runs alone. (First let max_batch_time pass: right after a batch
    // of several, a new request expects company and would gather instead of occupying the model.)
    tokio::time::sleep(Duration::from_millis(10)).await;
    unit.close();
    let first = occupy(&unit, &scheduler).await;
    let sizes = [3, 2, 2, 1, 4, 6, 1];
    let requests = sizes.iter().enumerate().map(|(i, &n)| rows_request(&format!("m{i}"), n, 0.0)).collect();
    let calls = enqueue(&scheduler, &recorder, requests).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    let got = answers(calls).await;
    for (answer, n) in got.into_iter().zip(sizes) {
        assert_eq!(answer.unwrap().outputs[0].shape, vec![n, 3]);
    }
    assert_eq!(unit.batch_rows()[5..], [3, 4, 1, 4, 6, 1]);
    assert!(recorder.batches().iter().all(|b| b.rows <= 4 || b.requests == 1));
}

#[tokio::test(start_paused = true)]
async fn callers_answered_together_are_expected_back_together() {
    let unit = AddOne::gated();
    let recorder = Recorder::new();
    let scheduler = scheduler(&unit, batching(8, Duration::from_secs(1)), &recorder);
    let first = occupy(&unit, &scheduler).await;
    let requests = (0..4).map(|i| rows_request(&format!("r{i}"), 1, 0.0)).collect();
    let calls = enqueue(&scheduler, &recorder, requests).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    assert!(answers(calls).await.iter().all(Result::is_ok));
    assert_eq!(unit.batch_rows(), vec![1, 4]);

    // Four closed-loop callers come back one by one: the first to return waits for the others
    // instead of running alone and leaving the rest to a batch of three, and the batch leaves the
    // moment the fourth is back, although it is not full.
    let start = Instant::now();
    let again = closed_loop_round(&scheduler, "again", 4).await;
    assert!(answers(again).await.iter().all(Result::is_ok));
    assert_eq!(unit.batch_rows()[2..], [4]);
    assert_eq!(Instant::now(), start, "the batch left as soon as all four were back");

    // Only two come back: they wait for the others, but no longer than max_batch_time.
    let start = Instant::now();
    let fewer = closed_loop_round(&scheduler, "fewer", 2).await;
    assert!(answers(fewer).await.iter().all(Result::is_ok));
    assert_eq!(unit.batch_rows()[3..], [2]);
    assert_eq!(Instant::now() - start, Duration::from_secs(1));

    // Then two are expected, and two leave at once.
    let start = Instant::now();
    let two = closed_loop_round(&scheduler, "two", 2).await;
    assert!(answers(two).await.iter().all(Result::is_ok));
    assert_eq!(unit.batch_rows()[4..], [2]);
    assert_eq!(Instant::now(), start);

    // Once max_batch_time has passed without a batch, a lone caller runs at once again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    assert!(scheduler.predict(rows_request("lone", 1, 0.0)).await.is_ok());
    assert_eq!(Instant::now(), start);
    assert_eq!(unit.batch_rows()[5..], [1]);
}

/// Sends `n` one-row requests one after another, letting the scheduler run between them, as
/// closed-loop callers answered together send their next requests.
async fn closed_loop_round(
    scheduler: &Arc<Scheduler>,
    prefix: &str,
    n: usize,
) -> Vec<JoinHandle<Result<InferenceResponse>>> {
    let mut calls = Vec::new();
    for i in 0..n {
        calls.push(call(scheduler, rows_request(&format!("{prefix}{i}"), 1, 0.0)));
        tokio::task::yield_now().await;
    }
    calls
}

#[tokio::test(start_paused = true)]
async fn preferred_sizes_end_a_batch_early() {
    let unit = AddOne::gated();
    let recorder = Recorder::new();
    let config = SchedulerConfig { preferred_batch_sizes: vec![2, 6], ..batching(8, Duration::from_secs(1)) };
    let scheduler = scheduler(&unit, config, &recorder);

    // Seven queued rows: the longest run ending on a preferred size is 6.
    let first = occupy(&unit, &scheduler).await;
    let requests = (0..7).map(|i| rows_request(&format!("r{i}"), 1, 0.0)).collect();
    let calls = enqueue(&scheduler, &recorder, requests).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    assert!(answers(calls).await.iter().all(Result::is_ok));
    assert_eq!(unit.batch_rows(), vec![1, 6, 1]);

    // A gathering batch that reaches a preferred size leaves without waiting out max_batch_time.
    unit.close();
    let first = occupy(&unit, &scheduler).await;
    let start = Instant::now();
    let lone = enqueue(&scheduler, &recorder, vec![rows_request("b", 1, 0.0)]).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    until("b is gathering", || recorder.depth() == 0).await;
    let second = call(&scheduler, rows_request("c", 1, 0.0));
    assert!(answers(lone).await[0].is_ok());
    assert!(second.await.unwrap().is_ok());
    assert_eq!(unit.batch_rows()[3..], [1, 2]);
    assert_eq!(Instant::now(), start, "the batch left on reaching preferred size 2");
}

#[tokio::test(start_paused = true)]
async fn a_gathering_batch_waits_at_most_max_batch_time() {
    let unit = AddOne::gated();
    let recorder = Recorder::new();
    let scheduler = scheduler(&unit, batching(8, Duration::from_secs(1)), &recorder);
    let first = occupy(&unit, &scheduler).await;
    let start = Instant::now();
    let lone = enqueue(&scheduler, &recorder, vec![rows_request("b", 1, 0.0)]).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    // "b" arrived while "first" was running, so it waits for company, but no longer than this.
    assert!(answers(lone).await[0].is_ok());
    assert_eq!(Instant::now() - start, Duration::from_secs(1));
    assert_eq!(unit.batch_rows(), vec![1, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_at_once() {
    for config in [SchedulerConfig::default(), batching(8, Duration::from_millis(5))] {
        let unit = AddOne::gated();
        let recorder = Recorder::new();
        let config = SchedulerConfig { max_queue_size: 2, ..config };
        let scheduler = scheduler(&unit, config, &recorder);
        let first = occupy(&unit, &scheduler).await;
        let queued =
            enqueue(&scheduler, &recorder, vec![rows_request("a", 1, 0.0), rows_request("b", 1, 0.0)]).await;

        let start = Instant::now();
        let e = scheduler.predict(rows_request("c", 1, 0.0)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.message.contains("'add-one'") && e.message.contains("max_queue_size 2"), "{}", e.message);
        assert_eq!(Instant::now(), start);
        assert_eq!(recorder.rejected(), vec![Rejection::QueueFull]);

        unit.release(100);
        first.await.unwrap().unwrap();
        assert!(answers(queued).await.iter().all(Result::is_ok));
        assert!(scheduler.predict(rows_request("d", 1, 0.0)).await.is_ok(), "room again");
    }
}

#[tokio::test(start_paused = true)]
async fn expired_requests_are_refused_and_never_run() {
    let cases = [
        // (model timeout, request parameter in µs, expected wait, named source)
        (Some(Duration::from_millis(100)), None, Duration::from_millis(100), "model's timeout setting"),
        (
            Some(Duration::from_secs(1)),
            Some(50_000),
            Duration::from_millis(50),
            "request's timeout parameter",
        ),
        (
            Some(Duration::from_millis(100)),
            Some(1_000_000),
            Duration::from_millis(100),
            "model's timeout setting",
        ),
        (None, Some(20_000), Duration::from_millis(20), "request's timeout parameter"),
    ];
    for (timeout, parameter, wait, source) in cases {
        let unit = AddOne::gated();
        let recorder = Recorder::new();
        let config = SchedulerConfig { timeout, ..batching(8, Duration::from_millis(5)) };
        let scheduler = scheduler(&unit, config, &recorder);
        let first = occupy(&unit, &scheduler).await;

        let mut late = rows_request("late", 1, 0.0);
        if let Some(micros) = parameter {
            late = with_parameter(late, "timeout", json!(micros));
        }
        let start = Instant::now();
        let e = scheduler.predict(late).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::DeadlineExceeded);
        assert_eq!(Instant::now() - start, wait, "answered the moment its deadline passed");
        assert!(e.message.contains("'add-one'") && e.message.contains(&format!("{wait:?}")), "{}", e.message);
        assert!(e.message.contains(source), "{}", e.message);
        assert_eq!(recorder.rejected(), vec![Rejection::TimedOut]);

        unit.release(100);
        first.await.unwrap().unwrap();
        let ids: Vec<_> = unit.seen().iter().map(|r| r.id.clone().unwrap()).collect();
        assert_eq!(ids, ["first"], "the expired request never reached the model");
        assert!(scheduler.predict(rows_request("next", 1, 0.0)).await.is_ok());
    }
}

#[tokio::test(start_paused = true)]
async fn a_bad_timeout_parameter_is_an_invalid_argument() {
    let unit = AddOne::open();
    let scheduler = scheduler(&unit, SchedulerConfig::default(), &Recorder::new());
    let e = scheduler.predict(with_parameter(rows_request("r", 1, 0.0), "timeout", json!("soon"))).await;
    assert_eq!(e.unwrap_err().kind, ErrorKind::InvalidArgument);
    assert_eq!(unit.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancelled_callers_never_run() {
    let unit = AddOne::gated();
    let recorder = Recorder::new();
    let scheduler = scheduler(&unit, batching(8, Duration::from_secs(1)), &recorder);

    // Dropped while queued.
    let first = occupy(&unit, &scheduler).await;
    let queued = enqueue(&scheduler, &recorder, vec![rows_request("gone-queued", 1, 0.0)]).await;
    queued[0].abort();
    assert!(queued.into_iter().next().unwrap().await.unwrap_err().is_cancelled());
    assert_eq!(recorder.depth(), 0);
    assert_eq!(recorder.rejected(), vec![Rejection::Cancelled]);

    // Dropped while its batch gathers (it arrived with company, so its batch waits).
    let gathering = enqueue(&scheduler, &recorder, vec![rows_request("gone-gathering", 1, 0.0)]).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    until("it is gathering", || recorder.depth() == 0).await;
    gathering[0].abort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recorder.rejected(), vec![Rejection::Cancelled, Rejection::Cancelled]);

    assert!(scheduler.predict(rows_request("after", 1, 0.0)).await.is_ok());
    let ids: Vec<_> = unit.seen().iter().map(|r| r.id.clone().unwrap()).collect();
    assert_eq!(ids, ["first", "after"]);
    assert_eq!(recorder.in_flight(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failing_batch_fails_all_its_callers_and_only_them() {
    let cases = [
        (Fault::Fail, ErrorKind::Internal, "scripted failure"),
        (Fault::Panic, ErrorKind::Internal, "panicked: add-one: scripted panic"),
        (Fault::ExtraRow, ErrorKind::Internal, "output 'x_out' has shape [4, 3] for a batch of 3 rows"),
    ];
    for (fault, kind, message) in cases {
        let unit = AddOne::gated();
        let recorder = Recorder::new();
        let scheduler = scheduler(&unit, batching(8, Duration::from_millis(5)), &recorder);
        unit.script([None, Some(fault)]);
        let first = occupy(&unit, &scheduler).await;
        let requests = (0..3).map(|i| rows_request(&format!("r{i}"), 1, 0.0)).collect();
        let calls = enqueue(&scheduler, &recorder, requests).await;
        unit.release(100);
        first.await.unwrap().unwrap();
        for answer in answers(calls).await {
            let e = answer.unwrap_err();
            assert_eq!(e.kind, kind);
            assert!(e.message.contains(message), "{fault:?}: {}", e.message);
            assert!(e.message.starts_with("batch of 3 requests (3 rows)"), "{}", e.message);
        }
        assert_eq!(unit.batch_rows(), vec![1, 3]);
        let report = recorder.batches()[1];
        assert_eq!((report.requests, report.rows, report.success), (3, 3, false));

        let later = (0..2).map(|i| call(&scheduler, rows_request(&format!("later{i}"), 1, 0.0))).collect();
        assert!(answers(later).await.iter().all(Result::is_ok), "{fault:?}: the scheduler serves on");
    }
}

#[tokio::test(start_paused = true)]
async fn instances_bound_the_batches_running_at_once() {
    for instances in [1, 2] {
        let unit = AddOne::gated();
        let recorder = Recorder::new();
        let scheduler = scheduler(&unit, SchedulerConfig { instances, ..Default::default() }, &recorder);
        let calls: Vec<_> =
            (0..3).map(|i| call(&scheduler, rows_request(&format!("r{i}"), 1, 0.0))).collect();
        until("the instances are busy", || unit.calls() == instances).await;
        until("the rest is queued", || recorder.depth() == 3 - instances).await;
        for _ in 0..1000 {
            tokio::task::yield_now().await;
        }
        assert_eq!(unit.calls(), instances, "no more than {instances} at once");
        assert_eq!(recorder.in_flight(), (instances, instances));

        unit.release(100);
        assert!(answers(calls).await.iter().all(Result::is_ok));
        assert_eq!(recorder.most_in_flight(), instances);
        assert_eq!((recorder.depth(), recorder.in_flight(), recorder.dequeued()), (0, (0, 0), 3));
    }
}

#[tokio::test(start_paused = true)]
async fn requests_without_a_shared_first_dimension_run_alone() {
    let unit = AddOne::gated();
    let recorder = Recorder::new();
    let scheduler = scheduler(&unit, batching(8, Duration::from_millis(5)), &recorder);
    let first = occupy(&unit, &scheduler).await;
    let scalar = || request("scalar", vec![fp32("x", vec![], [1.0])]);
    let ragged = || request("ragged", vec![fp32("x", vec![2, 1], [1.0, 2.0]), fp32("y", vec![3], [0.0; 3])]);
    let requests = vec![scalar(), scalar(), ragged(), ragged()];
    let calls = enqueue(&scheduler, &recorder, requests.clone()).await;
    unit.release(100);
    first.await.unwrap().unwrap();
    for (answer, request) in answers(calls).await.into_iter().zip(requests) {
        assert_eq!(answer.unwrap(), direct(request).await);
    }
    assert_eq!(unit.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn batching_needs_a_variable_first_dimension() {
    let spec =
        |shape: Vec<i64>| TensorSpec { name: "x".into(), datatype: oxserve_core::DataType::Fp32, shape };
    let model = |shape| {
        AddOne::with_metadata(ModelMetadata {
            name: "fixed".into(),
            inputs: vec![spec(shape)],
            ..Default::default()
        })
    };
    let new =
        |unit: Arc<AddOne>, config| Scheduler::new(unit as Arc<dyn Unit>, config, Arc::new(NoopObserver));
    let e = new(model(vec![1, 3]), batching(4, Duration::ZERO)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("input 'x'") && e.message.contains("[1, 3]"), "{}", e.message);
    assert!(new(model(vec![1, 3]), SchedulerConfig::default()).is_ok(), "fine without batching");
    assert!(new(model(vec![-1, 3]), batching(4, Duration::ZERO)).is_ok());
    assert!(new(model(vec![]), batching(4, Duration::ZERO)).is_ok(), "rank 0: shape unknown");
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_delegates_and_stops_with_its_owner() {
    let unit = AddOne::open();
    let scheduler = Scheduler::new(
        Arc::clone(&unit) as Arc<dyn Unit>,
        SchedulerConfig::default(),
        Arc::new(NoopObserver),
    )
    .unwrap();
    assert_eq!(scheduler.metadata().name, "add-one");
    assert!(scheduler.is_ready());
    let r = rows_request("r", 1, 0.0);
    assert_eq!(scheduler.transform_input(r.clone()).await.unwrap(), r);
    assert_eq!(scheduler.route(&r).await.unwrap_err().kind, ErrorKind::Unimplemented);
    assert!(scheduler.predict(r).await.is_ok());

    assert_eq!(Arc::strong_count(&unit), 3, "ours, the scheduler's and its task's");
    drop(scheduler);
    until("the scheduler's task has ended", || Arc::strong_count(&unit) == 1).await;
}

#[test]
fn a_scheduler_needs_a_runtime() {
    let e =
        Scheduler::new(AddOne::open() as Arc<dyn Unit>, SchedulerConfig::default(), Arc::new(NoopObserver))
            .unwrap_err();
    assert!(e.message.contains("tokio runtime"), "{}", e.message);
}

/// Many callers on a multi-threaded runtime, some with deadlines that may or may not pass, some
/// giving up: every answer is right, and every request ends exactly once (run in a batch, or
/// refused), with nothing left queued or running. Asserts outcomes only, never timings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stress_every_request_ends_exactly_once() {
    let unit = AddOne::open();
    let recorder = Recorder::new();
    let config = SchedulerConfig {
        instances: 3,
        preferred_batch_sizes: vec![4],
        ..batching(8, Duration::from_micros(300))
    };
    let scheduler = scheduler(&unit, config, &recorder);
    let clients: Vec<JoinHandle<usize>> = (0..16u64)
        .map(|client| {
            let scheduler = Arc::clone(&scheduler);
            tokio::spawn(async move {
                let mut random = Lcg(client);
                let mut sent = 0;
                for i in 0..60 {
                    let rows = 1 + random.below(3) as usize;
                    let mut r = rows_request(&format!("{client}-{i}"), rows, (client * 1000 + i) as f32);
                    if random.below(8) == 0 {
                        r = with_parameter(r, "timeout", json!(1 + random.below(200)));
                    }
                    let expected = direct(r.clone()).await;
                    sent += 1;
                    let give_up = Duration::from_micros(random.below(400));
                    let answer = if random.below(6) == 0 {
                        match tokio::time::timeout(give_up, scheduler.predict(r)).await {
                            Ok(answer) => answer,
                            Err(_) => continue,
                        }
                    } else {
                        scheduler.predict(r).await
                    };
                    match answer {
                        Ok(answer) => assert_eq!(answer, expected),
                        Err(e) => assert_eq!(e.kind, ErrorKind::DeadlineExceeded, "{}", e.message),
                    }
                }
                sent
            })
        })
        .collect();
    let mut sent = 0;
    for client in clients {
        sent += client.await.unwrap();
    }
    // Batches whose callers all gave up may still be running, or still gathering: a request taken
    // into a gathering batch is neither queued nor in flight until the batch leaves, when a caller
    // gone by then is counted as cancelled. So wait for the count to balance, within a second.
    let ran = || recorder.batches().iter().map(|b| b.requests).sum::<usize>();
    for _ in 0..1000 {
        if ran() + recorder.rejected().len() == sent && recorder.in_flight() == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!((recorder.depth(), recorder.in_flight()), (0, (0, 0)));
    let ran = ran();
    let refused = recorder.rejected();
    assert!(!refused.contains(&Rejection::QueueFull));
    assert_eq!(ran + refused.len(), sent, "each request ran once or was refused once");
    assert!(recorder.batches().iter().all(|b| b.rows <= 8 && b.success));
    assert_eq!(recorder.dequeued(), ran);
}
