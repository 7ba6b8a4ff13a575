//! Messages across the border between Rust and Java.
//!
//! Into Java, a message's tensors cross as parallel arrays (names, datatypes, shapes, direct
//! `ByteBuffer`s viewing the tensors' own little-endian bytes, their loan handles, and each
//! tensor's parameters as JSON) handed to the package's `Bridge`. Fixed-size tensors of at least
//! [`LEND_MIN_BYTES`] are not copied: each buffer views the memory of a clone of the tensor's
//! [`Bytes`] (a reference count, not a copy) boxed on the heap, and the box's address crosses as
//! the buffer's handle. `Bridge` hands every handle to `io.oxserve.ServerMemory`, which registers
//! a `java.lang.ref.Cleaner` action on the buffer that calls
//! [`Java_io_oxserve_ServerMemory_release`] once the buffer (and every view of it, which all refer
//! to it) is unreachable: the memory lives as long as Java can read it, whatever the model keeps.
//! Models only get read-only views, so the server's request memory is never written. `BYTES`
//! tensors and smaller ones (handle 0) are decoded into arrays during the call.
//! Out of Java, a direct `ByteBuffer` (one a model filled, or a request's own one it answers) is
//! lent to the response tensor's [`Bytes`] as it is; a primitive array, or the length-prefixed
//! encoding of `BYTES` that `io.oxserve.Tensor` writes, is copied once.
//!
//! A message's parameters, its Seldon `meta` and each tensor's parameters cross as JSON text
//! (`null` when empty, so a call without any costs no JSON at all): they are small, and Java
//! reads them into plain maps and lists with `io.oxserve.Json`.

use std::sync::mpsc;

use bytes::Bytes;
use jni::elements::ReleaseMode;
use jni::objects::{
    JBooleanArray, JByteArray, JByteBuffer, JClass, JDoubleArray, JFloatArray, JIntArray, JLongArray,
    JObject, JObjectArray, JPrimitiveArray, JShortArray, JString, JValue, TypeArray,
};
use jni::refs::Global;
use jni::signature::MethodSignature;
use jni::strings::JNIStr;
use jni::sys::jlong;
use jni::{Env, EnvUnowned, jni_sig, jni_str};
use oxserve_core::{
    DataType, Error, Feedback, InferenceRequest, InferenceResponse, Meta, Parameters, Result, Tensor,
};

use crate::unit::{JavaClasses, Job};

/// The queue of a unit's worker threads, where a [`DirectBuffer`] sends its global reference to
/// be deleted: deleting one needs a thread attached to the JVM, which the server's threads are not.
pub type Release = mpsc::Sender<Job>;

/// A direct `ByteBuffer` a model answered, lent to a response tensor as its bytes.
struct DirectBuffer {
    /// Keeps the buffer, and so its memory, alive; taken only when dropped.
    buffer: Option<Global<JByteBuffer<'static>>>,
    ptr: *mut u8,
    len: usize,
    release: Release,
}

// SAFETY: the buffer's memory is never written through this owner, and the global reference
// (which is `Send`) keeps it alive; `io.oxserve.Tensor` asks models not to change data they
// handed over.
unsafe impl Send for DirectBuffer {}

impl AsRef<[u8]> for DirectBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` and `len` are the address and capacity of the direct buffer that
        // `buffer` keeps alive; a direct buffer's memory never moves.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for DirectBuffer {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            // When the unit's threads are gone, the reference is deleted here after all (jni
            // attaches this thread for it).
            let _ = self.release.send(Box::new(move |_, _, _| drop(buffer)));
        }
    }
}

#[cfg(target_endian = "big")]
compile_error!(
    "tensors are little-endian and Java's arrays native-endian: oxserve's Java binding needs a little-endian target"
);

/// A Java string as a Rust one.
pub fn string(env: &mut Env, object: JObject) -> jni::errors::Result<String> {
    let string = env.cast_local::<JString>(object)?;
    string.try_to_string(env)
}

/// A Rust string (or `null` for `None`) as a Java one.
fn java_string<'local>(env: &mut Env<'local>, value: Option<&str>) -> jni::errors::Result<JObject<'local>> {
    Ok(match value {
        Some(value) => env.new_string(value)?.into(),
        None => JObject::null(),
    })
}

/// Parameters as the JSON text Java reads, or `null` when there are none.
fn java_parameters<'local>(
    env: &mut Env<'local>,
    parameters: &Parameters,
) -> jni::errors::Result<JObject<'local>> {
    if parameters.is_empty() {
        return Ok(JObject::null());
    }
    java_string(env, Some(&serde_json::Value::Object(parameters.clone()).to_string()))
}

/// Seldon's meta as the JSON text Java reads (Seldon's field names), or `null` when empty.
fn java_meta<'local>(env: &mut Env<'local>, meta: &Meta) -> jni::errors::Result<JObject<'local>> {
    if meta.is_empty() {
        return Ok(JObject::null());
    }
    let json = serde_json::to_string(meta).expect("Meta serialises to JSON");
    java_string(env, Some(&json))
}

/// Tensors' bytes lent to Java, each a boxed clone of a tensor's [`Bytes`] whose address is the
/// handle Java gets beside the direct buffer over them. Dropping the loans frees the boxes: they
/// are only forgotten ([`Loans::hand_over`]) when the call that hands them to `Bridge` is made,
/// from which on `io.oxserve.ServerMemory` releases each exactly once.
#[derive(Default)]
struct Loans(Vec<jlong>);

impl Loans {
    /// A clone of `data` (a reference count, not a copy) that stays where it is until
    /// [`Java_io_oxserve_ServerMemory_release`] drops it: its address and length, and its handle.
    fn lend(&mut self, data: &Bytes) -> (*mut u8, usize, jlong) {
        let bytes = Box::new(data.clone());
        let (ptr, len) = (bytes.as_ptr() as *mut u8, bytes.len());
        let handle = Box::into_raw(bytes) as jlong;
        self.0.push(handle);
        (ptr, len, handle)
    }

    /// Java owns the loans from now on.
    fn hand_over(mut self) {
        self.0.clear();
    }
}

impl Drop for Loans {
    fn drop(&mut self) {
        for &handle in &self.0 {
            // SAFETY: each handle came from `Box::into_raw` in `lend` and was never handed over.
            drop(unsafe { Box::from_raw(handle as *mut Bytes) });
        }
    }
}

/// Drops the tensor bytes behind a handle [`Loans::lend`] made, once Java can no longer reach
/// the buffer over them: `io.oxserve.ServerMemory` calls it from its cleaner, or at once for a
/// buffer it copied instead of keeping, exactly once per handle.
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_oxserve_ServerMemory_release<'caller>(
    _env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    handle: jlong,
) {
    // SAFETY: `handle` came from `Box::into_raw` in `Loans::lend`, and Java releases it once.
    drop(unsafe { Box::from_raw(handle as *mut Bytes) });
}

/// The smallest tensor lent to Java rather than copied during the call. A loan keeps alive the
/// whole allocation the tensor's bytes are a slice of (for a binary REST or gRPC request, a
/// buffer the connection read into), which `io.oxserve.ServerMemory` cannot count, and it lasts
/// until the garbage collector runs; lent for every request, small tensors kept hundreds of MiB
/// of such buffers alive between collections (JVM peak RSS 405–756 MiB instead of about 155 in
/// the bench's one-row iris runs). Copying a tensor this small costs less than the loan.
const LEND_MIN_BYTES: usize = 64 * 1024;

/// The six parallel arrays `Bridge` builds tensors from: names, datatypes, shapes, data, loan
/// handles (0: the buffer is only valid during the call) and parameters, with the loans made.
fn tensor_arrays<'local>(
    env: &mut Env<'local>,
    tensors: &[Tensor],
) -> jni::errors::Result<([JObject<'local>; 6], Loans)> {
    let mut loans = Loans::default();
    let names = JObjectArray::<JString>::new(env, tensors.len(), JString::null())?;
    let parameters = JObjectArray::<JObject>::new(env, tensors.len(), JObject::null())?;
    let datatypes = JObjectArray::<JString>::new(env, tensors.len(), JString::null())?;
    let shapes = JObjectArray::<JLongArray>::new(env, tensors.len(), JLongArray::null())?;
    let buffers = JObjectArray::<JByteBuffer>::new(env, tensors.len(), JByteBuffer::null())?;
    let mut handles = vec![0 as jlong; tensors.len()];
    for (i, tensor) in tensors.iter().enumerate() {
        let name = env.new_string(&tensor.name)?;
        names.set_element(env, i, &name)?;
        let datatype = env.new_string(tensor.datatype.as_str())?;
        datatypes.set_element(env, i, &datatype)?;
        let dims: Vec<i64> = tensor.shape.iter().map(|&d| d as i64).collect();
        let shape = env.new_long_array(dims.len())?;
        shape.set_region(env, 0, &dims)?;
        shapes.set_element(env, i, &shape)?;
        let buffer = if tensor.datatype == DataType::Bytes || tensor.data.len() < LEND_MIN_BYTES {
            // SAFETY: `Bridge` decodes BYTES and copies small tensors before the call returns;
            // the caller keeps `tensor` (and so its bytes) alive for that call.
            unsafe { env.new_direct_byte_buffer(tensor.data.as_ptr() as *mut u8, tensor.data.len())? }
        } else {
            let (ptr, len, handle) = loans.lend(&tensor.data);
            handles[i] = handle;
            // SAFETY: the loan keeps the bytes where they are until Java releases the handle,
            // which it does only once the buffer is unreachable; Java only reads them.
            unsafe { env.new_direct_byte_buffer(ptr, len)? }
        };
        buffers.set_element(env, i, &buffer)?;
        if !tensor.parameters.is_empty() {
            let json = java_parameters(env, &tensor.parameters)?;
            parameters.set_element(env, i, &json)?;
            env.delete_local_ref(json);
        }
        env.delete_local_ref(name);
        env.delete_local_ref(datatype);
        env.delete_local_ref(shape);
        env.delete_local_ref(buffer);
    }
    let handle_array = env.new_long_array(handles.len())?;
    handle_array.set_region(env, 0, &handles)?;
    Ok((
        [
            names.into(),
            datatypes.into(),
            shapes.into(),
            buffers.into(),
            handle_array.into(),
            parameters.into(),
        ],
        loans,
    ))
}

/// A request as an `io.oxserve.InferenceRequest`.
pub fn request_to_java<'local>(
    env: &mut Env<'local>,
    classes: &JavaClasses,
    request: &InferenceRequest,
) -> jni::errors::Result<JObject<'local>> {
    let message = Message {
        id: request.id.as_deref(),
        model: &request.model_name,
        parameters: &request.parameters,
        meta: &request.meta,
        tensors: &request.inputs,
    };
    message.to_java(
        env,
        classes,
        jni_str!("request"),
        &jni_sig!(
            "(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/String;[[J[Ljava/nio/ByteBuffer;[J[Ljava/lang/String;)Lio/oxserve/InferenceRequest;"
        ),
    )
}

/// A response as an `io.oxserve.InferenceResponse`.
pub fn response_to_java<'local>(
    env: &mut Env<'local>,
    classes: &JavaClasses,
    response: &InferenceResponse,
) -> jni::errors::Result<JObject<'local>> {
    let message = Message {
        id: response.id.as_deref(),
        model: &response.model_name,
        parameters: &response.parameters,
        meta: &response.meta,
        tensors: &response.outputs,
    };
    message.to_java(
        env,
        classes,
        jni_str!("response"),
        &jni_sig!(
            "(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/String;[[J[Ljava/nio/ByteBuffer;[J[Ljava/lang/String;)Lio/oxserve/InferenceResponse;"
        ),
    )
}

/// The parts that requests and responses share, handed to the `io.oxserve.Bridge` factory that
/// builds the Java record from them.
struct Message<'a> {
    id: Option<&'a str>,
    model: &'a str,
    parameters: &'a Parameters,
    meta: &'a Meta,
    tensors: &'a [Tensor],
}

impl Message<'_> {
    fn to_java<'local>(
        &self,
        env: &mut Env<'local>,
        classes: &JavaClasses,
        factory: &JNIStr,
        signature: &MethodSignature<'_, '_>,
    ) -> jni::errors::Result<JObject<'local>> {
        let id = java_string(env, self.id)?;
        let model = java_string(env, Some(self.model))?;
        let parameters = java_parameters(env, self.parameters)?;
        let meta = java_meta(env, self.meta)?;
        let ([names, datatypes, shapes, buffers, handles, tensor_parameters], loans) =
            tensor_arrays(env, self.tensors)?;
        // From this call on, `Bridge` keeps or releases every loan, even when it throws.
        loans.hand_over();
        env.call_static_method(
            &classes.bridge,
            factory,
            signature,
            &[
                JValue::Object(&id),
                JValue::Object(&model),
                JValue::Object(&parameters),
                JValue::Object(&meta),
                JValue::Object(&names),
                JValue::Object(&datatypes),
                JValue::Object(&shapes),
                JValue::Object(&buffers),
                JValue::Object(&handles),
                JValue::Object(&tensor_parameters),
            ],
        )?
        .l()
    }
}

/// The answers a combiner aggregates, as the `java.util.List` its method takes.
pub fn responses_to_java<'local>(
    env: &mut Env<'local>,
    classes: &JavaClasses,
    responses: &[InferenceResponse],
) -> jni::errors::Result<JObject<'local>> {
    let array = JObjectArray::<JObject>::new(env, responses.len(), JObject::null())?;
    for (i, response) in responses.iter().enumerate() {
        let message = response_to_java(env, classes, response)?;
        array.set_element(env, i, &message)?;
        env.delete_local_ref(message);
    }
    env.call_static_method(
        &classes.bridge,
        jni_str!("responses"),
        jni_sig!("([Ljava/lang/Object;)Ljava/util/List;"),
        &[JValue::Object(&array)],
    )?
    .l()
}

/// A feedback as an `io.oxserve.Feedback`; the parts it lacks are `null`.
pub fn feedback_to_java<'local>(
    env: &mut Env<'local>,
    classes: &JavaClasses,
    feedback: &Feedback,
) -> jni::errors::Result<JObject<'local>> {
    let request = match &feedback.request {
        Some(request) => request_to_java(env, classes, request)?,
        None => JObject::null(),
    };
    let response = match &feedback.response {
        Some(response) => response_to_java(env, classes, response)?,
        None => JObject::null(),
    };
    let truth = match &feedback.truth {
        Some(truth) => request_to_java(env, classes, truth)?,
        None => JObject::null(),
    };
    env.call_static_method(
        &classes.bridge,
        jni_str!("feedback"),
        jni_sig!(
            "(Lio/oxserve/InferenceRequest;Lio/oxserve/InferenceResponse;DLio/oxserve/InferenceRequest;)Lio/oxserve/Feedback;"
        ),
        &[
            JValue::Object(&request),
            JValue::Object(&response),
            JValue::Double(feedback.reward),
            JValue::Object(&truth),
        ],
    )?
    .l()
}

/// The parameters and Seldon meta of a message a model answered, read through `Bridge` as JSON;
/// a meta Seldon cannot carry (an unknown field, a tag map that is no map) is an error naming it.
fn extras_from_java(
    env: &mut Env,
    classes: &JavaClasses,
    message: &JObject,
) -> jni::errors::Result<Result<(Parameters, Meta)>> {
    let args = [JValue::Object(message)];
    let parameters = env
        .call_static_method(
            &classes.bridge,
            jni_str!("parameters"),
            jni_sig!("(Ljava/lang/Object;)Ljava/lang/String;"),
            &args,
        )?
        .l()?;
    let parameters = optional_json::<Parameters>(env, parameters, "parameters")?;
    let meta = env
        .call_static_method(
            &classes.bridge,
            jni_str!("meta"),
            jni_sig!("(Ljava/lang/Object;)Ljava/lang/String;"),
            &args,
        )?
        .l()?;
    let meta = optional_json::<Meta>(env, meta, "meta")?;
    Ok(parameters.and_then(|parameters| Ok((parameters, meta?))))
}

/// A JSON text from Java (`null`: the default) read as `T`; a mismatch names `field`.
fn optional_json<T: serde::de::DeserializeOwned + Default>(
    env: &mut Env,
    json: JObject,
    field: &str,
) -> jni::errors::Result<Result<T>> {
    if json.is_null() {
        return Ok(Ok(T::default()));
    }
    let json = string(env, json)?;
    Ok(serde_json::from_str(&json)
        .map_err(|e| Error::internal(format!("the model answered {field} oxserve cannot read: {e}"))))
}

/// The response a model answered; `id`, model name and version come from the request.
pub fn response_from_java(
    env: &mut Env,
    classes: &JavaClasses,
    release: &Release,
    answer: &JObject,
    id: Option<String>,
    model_name: &str,
    model_version: Option<String>,
) -> jni::errors::Result<Result<InferenceResponse>> {
    let outputs = match tensors_from_java(env, classes, release, answer, "outputs")? {
        Ok(outputs) => outputs,
        Err(e) => return Ok(Err(e)),
    };
    Ok(extras_from_java(env, classes, answer)?.map(|(parameters, meta)| InferenceResponse {
        id,
        model_name: model_name.to_string(),
        model_version,
        parameters,
        outputs,
        meta,
    }))
}

/// The request a transformer answered: the original with its inputs, parameters and meta
/// replaced (the Java request started as a copy of them).
pub fn request_from_java(
    env: &mut Env,
    classes: &JavaClasses,
    release: &Release,
    answer: &JObject,
    original: InferenceRequest,
) -> jni::errors::Result<Result<InferenceRequest>> {
    let inputs = match tensors_from_java(env, classes, release, answer, "inputs")? {
        Ok(inputs) => inputs,
        Err(e) => return Ok(Err(e)),
    };
    Ok(extras_from_java(env, classes, answer)?.map(|(parameters, meta)| InferenceRequest {
        inputs,
        parameters,
        meta,
        ..original
    }))
}

/// The tensors of a message a model answered, read through `Bridge.tensors` (`null` is an
/// error naming what was expected).
fn tensors_from_java(
    env: &mut Env,
    classes: &JavaClasses,
    release: &Release,
    message: &JObject,
    field: &str,
) -> jni::errors::Result<Result<Vec<Tensor>>> {
    if message.is_null() {
        return Ok(Err(Error::internal(format!(
            "the model answered null instead of a message with {field}"
        ))));
    }
    let tensors = env
        .call_static_method(
            &classes.bridge,
            jni_str!("tensors"),
            jni_sig!("(Ljava/lang/Object;)[Lio/oxserve/Tensor;"),
            &[JValue::Object(message)],
        )?
        .l()?;
    let tensors = env.cast_local::<JObjectArray>(tensors)?;
    let count = tensors.len(env)?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let tensor = tensors.get_element(env, i)?;
        let read = tensor_from_java(env, release, &tensor)?;
        env.delete_local_ref(tensor);
        match read {
            Ok(tensor) => out.push(tensor),
            Err(e) => return Ok(Err(e.context(format_args!("{field}[{i}]")))),
        }
    }
    Ok(Ok(out))
}

/// One `io.oxserve.Tensor`, which checked its data against its datatype and shape when built.
fn tensor_from_java(
    env: &mut Env,
    release: &Release,
    tensor: &JObject,
) -> jni::errors::Result<Result<Tensor>> {
    let name = env.call_method(tensor, jni_str!("name"), jni_sig!("()Ljava/lang/String;"), &[])?.l()?;
    let name = string(env, name)?;
    let datatype =
        env.call_method(tensor, jni_str!("datatypeName"), jni_sig!("()Ljava/lang/String;"), &[])?.l()?;
    let datatype = string(env, datatype)?;
    let Some(datatype) = DataType::parse(&datatype) else {
        return Ok(Err(Error::internal(format!("unknown datatype '{datatype}'"))));
    };
    let shape = env.call_method(tensor, jni_str!("shape"), jni_sig!("()[J"), &[])?.l()?;
    let shape = env.cast_local::<JLongArray>(shape)?;
    let mut dims = vec![0i64; shape.len(env)?];
    shape.get_region(env, 0, &mut dims)?;
    let shape = match oxserve_core::shape_from_i64(&dims, "shape") {
        Ok(shape) => shape,
        Err(e) => return Ok(Err(e)),
    };
    let data = env.call_method(tensor, jni_str!("wireData"), jni_sig!("()Ljava/lang/Object;"), &[])?.l()?;
    let data = data_from_java(env, release, datatype, &data)?;
    let parameters =
        env.call_method(tensor, jni_str!("parametersJson"), jni_sig!("()Ljava/lang/String;"), &[])?.l()?;
    let parameters = match optional_json::<Parameters>(env, parameters, &format!("parameters of '{name}'"))? {
        Ok(parameters) => parameters,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Tensor::new(name, datatype, shape, data).map(|t| t.with_parameters(parameters)))
}

/// A tensor's data: a direct `ByteBuffer`'s memory as it is, or a primitive array's elements
/// (of the array type `io.oxserve.Tensor` pairs with `datatype`) copied once.
fn data_from_java(
    env: &mut Env,
    release: &Release,
    datatype: DataType,
    data: &JObject,
) -> jni::errors::Result<Bytes> {
    if env.is_instance_of(data, jni_str!("java/nio/ByteBuffer"))? {
        let buffer = env.as_cast::<JByteBuffer>(data)?;
        let len = env.get_direct_buffer_capacity(&buffer)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let ptr = env.get_direct_buffer_address(&buffer)?;
        let buffer = env.new_global_ref(&*buffer)?;
        return Ok(Bytes::from_owner(DirectBuffer {
            buffer: Some(buffer),
            ptr,
            len,
            release: release.clone(),
        }));
    }
    match datatype {
        DataType::Bool => {
            let array = env.as_cast::<JBooleanArray>(data)?;
            // SAFETY: as in `array_bytes`.
            let elements = unsafe { array.get_elements_critical(env, ReleaseMode::NoCopyBack)? };
            Ok(elements.iter().map(|&b| u8::from(b)).collect::<Vec<u8>>().into())
        }
        DataType::Int8 | DataType::Uint8 | DataType::Bytes => {
            array_bytes(env, &*env.as_cast::<JByteArray>(data)?)
        }
        DataType::Int16 | DataType::Uint16 | DataType::Fp16 | DataType::Bf16 => {
            array_bytes(env, &*env.as_cast::<JShortArray>(data)?)
        }
        DataType::Int32 | DataType::Uint32 => array_bytes(env, &*env.as_cast::<JIntArray>(data)?),
        DataType::Int64 | DataType::Uint64 => array_bytes(env, &*env.as_cast::<JLongArray>(data)?),
        DataType::Fp32 => array_bytes(env, &*env.as_cast::<JFloatArray>(data)?),
        DataType::Fp64 => array_bytes(env, &*env.as_cast::<JDoubleArray>(data)?),
    }
}

/// A primitive array's elements as little-endian bytes, copied once while the JVM pins the array.
fn array_bytes<T: TypeArray + bytemuck::Pod>(
    env: &Env,
    array: &JPrimitiveArray<T>,
) -> jni::errors::Result<Bytes> {
    // SAFETY: nothing else runs JNI on this thread while the elements are held, and they are
    // only read.
    let elements = unsafe { array.get_elements_critical(env, ReleaseMode::NoCopyBack)? };
    Ok(Bytes::copy_from_slice(bytemuck::cast_slice(&elements)))
}
