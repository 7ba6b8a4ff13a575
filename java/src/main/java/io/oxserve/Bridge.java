package io.oxserve;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the native side calls besides the model itself: building messages from the server's
 * buffers, reading tensors back, and describing exceptions. Keeping this in Java keeps the JNI
 * code small; nothing here is public API.
 */
final class Bridge {
    private Bridge() {}

    /**
     * A request over the server's tensors. {@code data[i]} is a direct buffer viewing the
     * server's memory; where {@code handles[i]} is not 0, {@link ServerMemory} keeps that memory
     * alive for as long as the tensor (or any view of its buffer) is reachable, and the tensor
     * holds a read-only view of it: no copy. The others (BYTES, tensors under 64 KiB, and tensors
     * past {@link ServerMemory#limit}) are only valid during this call and are copied here, before
     * any model code can keep a reference to them.
     */
    static InferenceRequest request(String id, String model, String parameters, String meta, String[] names,
            String[] datatypes, long[][] shapes, ByteBuffer[] data, long[] handles, String[] tensorParameters) {
        return new InferenceRequest(id, model, tensors(names, datatypes, shapes, data, handles, tensorParameters),
                object(parameters), object(meta));
    }

    /** A response over the server's tensors, kept or copied as in {@link #request}. */
    static InferenceResponse response(String id, String model, String parameters, String meta, String[] names,
            String[] datatypes, long[][] shapes, ByteBuffer[] data, long[] handles, String[] tensorParameters) {
        return new InferenceResponse(tensors(names, datatypes, shapes, data, handles, tensorParameters),
                object(parameters), object(meta));
    }

    /** The answers a combiner aggregates, as the list its method takes. */
    static List<InferenceResponse> responses(Object[] responses) {
        List<InferenceResponse> list = new ArrayList<>(responses.length);
        for (Object response : responses) {
            list.add((InferenceResponse) response);
        }
        return List.copyOf(list);
    }

    static Feedback feedback(InferenceRequest request, InferenceResponse response, double reward, InferenceRequest truth) {
        return new Feedback(request, response, reward, truth);
    }

    /** The tensors of a request or a response a model answered. */
    static Tensor[] tensors(Object message) {
        List<Tensor> tensors = message instanceof InferenceResponse response
                ? response.outputs()
                : ((InferenceRequest) message).inputs();
        return tensors.toArray(new Tensor[0]);
    }

    /** The parameters of a request or response a model answered, as JSON; null when empty. */
    static String parameters(Object message) {
        Map<String, Object> parameters = message instanceof InferenceResponse response
                ? response.parameters()
                : ((InferenceRequest) message).parameters();
        return parameters.isEmpty() ? null : Json.write(parameters);
    }

    /** The Seldon meta of a request or response a model answered, as JSON; null when empty. */
    static String meta(Object message) {
        Map<String, Object> meta = message instanceof InferenceResponse response
                ? response.meta()
                : ((InferenceRequest) message).meta();
        return meta.isEmpty() ? null : Json.write(meta);
    }

    /** The HTTP status a throwable asks for: a {@link ModelException}'s, else 0 (a failure). */
    static int status(Throwable error) {
        return error instanceof ModelException e ? e.status() : 0;
    }

    /** What the caller reads: a {@link ModelException}'s own message, else the exception's class and message. */
    static String message(Throwable error) {
        return error instanceof ModelException ? String.valueOf(error.getMessage()) : error.toString();
    }

    /** The stack trace, for the server's log. */
    static String stackTrace(Throwable error) {
        StringWriter out = new StringWriter();
        error.printStackTrace(new PrintWriter(out));
        return out.toString();
    }

    private static List<Tensor> tensors(String[] names, String[] datatypes, long[][] shapes, ByteBuffer[] data,
            long[] handles, String[] parameters) {
        // First, so that every handle is kept or released whatever fails next.
        ByteBuffer[] kept = ServerMemory.take(data, handles);
        List<Tensor> tensors = new ArrayList<>(names.length);
        for (int i = 0; i < names.length; i++) {
            DataType datatype = DataType.valueOf(datatypes[i]);
            Map<String, Object> tensorParameters = object(parameters[i]);
            tensors.add(kept[i] != null
                    ? Tensor.lent(names[i], datatype, shapes[i], kept[i], tensorParameters)
                    : new Tensor(names[i], datatype, shapes[i],
                            Tensor.decode(datatype, data[i].order(ByteOrder.LITTLE_ENDIAN)), tensorParameters));
        }
        return tensors;
    }

    /** A JSON object the native side wrote (null: none) as a map. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(String json) {
        return json == null ? Map.of() : (Map<String, Object>) Json.read(json);
    }
}
