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
     * A request over the server's tensors. {@code data[i]} is a direct buffer viewing memory
     * the server owns only for the duration of this call, so each is copied into its tensor's
     * array here, before any model code can keep a reference to it.
     */
    static InferenceRequest request(String id, String model, String parameters, String meta, String[] names,
            String[] datatypes, long[][] shapes, ByteBuffer[] data, String[] tensorParameters) {
        return new InferenceRequest(id, model, tensors(names, datatypes, shapes, data, tensorParameters),
                object(parameters), object(meta));
    }

    /** A response over the server's tensors, copied as in {@link #request}. */
    static InferenceResponse response(String id, String model, String parameters, String meta, String[] names,
            String[] datatypes, long[][] shapes, ByteBuffer[] data, String[] tensorParameters) {
        return new InferenceResponse(tensors(names, datatypes, shapes, data, tensorParameters), object(parameters),
                object(meta));
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
            String[] parameters) {
        List<Tensor> tensors = new ArrayList<>(names.length);
        for (int i = 0; i < names.length; i++) {
            DataType datatype = DataType.valueOf(datatypes[i]);
            tensors.add(new Tensor(names[i], datatype, shapes[i], copy(datatype, data[i].order(ByteOrder.LITTLE_ENDIAN)),
                    object(parameters[i])));
        }
        return tensors;
    }

    /** A JSON object the native side wrote (null: none) as a map. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(String json) {
        return json == null ? Map.of() : (Map<String, Object>) Json.read(json);
    }

    /** The elements of {@code buffer} in a new array of the datatype's array type. */
    private static Object copy(DataType datatype, ByteBuffer buffer) {
        switch (datatype) {
            case BOOL: {
                boolean[] out = new boolean[buffer.remaining()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = buffer.get(i) != 0;
                }
                return out;
            }
            case UINT8:
            case INT8: {
                byte[] out = new byte[buffer.remaining()];
                buffer.get(out);
                return out;
            }
            case UINT16:
            case INT16:
            case FP16:
            case BF16: {
                short[] out = new short[buffer.remaining() / 2];
                buffer.asShortBuffer().get(out);
                return out;
            }
            case UINT32:
            case INT32: {
                int[] out = new int[buffer.remaining() / 4];
                buffer.asIntBuffer().get(out);
                return out;
            }
            case UINT64:
            case INT64: {
                long[] out = new long[buffer.remaining() / 8];
                buffer.asLongBuffer().get(out);
                return out;
            }
            case FP32: {
                float[] out = new float[buffer.remaining() / 4];
                buffer.asFloatBuffer().get(out);
                return out;
            }
            case FP64: {
                double[] out = new double[buffer.remaining() / 8];
                buffer.asDoubleBuffer().get(out);
                return out;
            }
            case BYTES: {
                List<byte[]> elements = new ArrayList<>();
                while (buffer.hasRemaining()) {
                    byte[] element = new byte[buffer.getInt()];
                    buffer.get(element);
                    elements.add(element);
                }
                return elements.toArray(new byte[0][]);
            }
            default:
                throw new IllegalArgumentException("unknown datatype " + datatype);
        }
    }
}
