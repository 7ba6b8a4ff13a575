//! How much memory decoding KServe v1 `instances` takes, measured by a counting allocator.
//!
//! Rows are decoded straight into one buffer per input, so the peak is the tensor (and the
//! slack of a growing buffer), not a copy, a field name and a parsed object per row. This test
//! binary holds one test so that nothing else allocates while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use oxserve_core::{DataType, ModelMetadata, TensorSpec};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn scalar_rows_take_about_the_size_of_the_tensor() {
    let rows = 200_000;
    let mut body = String::from("{\"instances\":[");
    for i in 0..rows {
        body.push_str(if i == 0 { "1.5" } else { ",1.5" });
    }
    body.push_str("]}");
    let metadata = ModelMetadata {
        name: "m".into(),
        inputs: vec![TensorSpec { name: "x".into(), datatype: DataType::Fp32, shape: vec![-1] }],
        ..Default::default()
    };

    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let (request, _) = oxserve_protocol::v1::decode_predict(body.as_bytes(), &metadata).unwrap();
    let extra = PEAK.load(Ordering::Relaxed) - before;

    let tensor = rows * 4;
    assert_eq!(request.inputs[0].data.len(), tensor);
    // A growing buffer may briefly hold its old and new allocations: three times the tensor.
    assert!(
        extra <= 3 * tensor + 64 * 1024,
        "decoding a {} byte body into a {tensor} byte tensor peaked at {extra} extra bytes",
        body.len()
    );
}
