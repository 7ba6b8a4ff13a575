package io.oxserve;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;

/**
 * A named, typed, shaped tensor: what a model receives and answers.
 *
 * <p>Data is row-major, in the primitive array that {@link DataType#arrayClass()} names, or, for
 * fixed-size types, in a direct little-endian {@link ByteBuffer}, which the server reads without
 * an extra copy (useful when the model's own library already fills native memory). The
 * constructor checks that the data holds exactly the elements the shape asks for, so a mistake
 * is reported where it is made. Tensors are not copied defensively: do not change an array after
 * handing it over.
 *
 * <p>A tensor may carry V2 tensor {@code parameters} (plain Java values, as in
 * {@link InferenceRequest}). Over Seldon, {@code names} (a list of strings) holds the column
 * names of {@code data.names}, and {@code content_type} ({@code "json"}, {@code "str"} or
 * {@code "bytes"}) marks a one-element BYTES tensor as a {@code jsonData}, {@code strData} or
 * {@code binData} payload, on requests and answers alike.
 */
public final class Tensor {
    private final String name;
    private final DataType datatype;
    private final long[] shape;
    private final Object data;
    private final Map<String, Object> parameters;

    /**
     * A tensor over {@code data}: the datatype's primitive array ({@code byte[][]} for BYTES),
     * or a direct {@code ByteBuffer} of little-endian elements for fixed-size types (read from
     * its position to its limit).
     *
     * @throws IllegalArgumentException when the data's type or length does not fit
     */
    public Tensor(String name, DataType datatype, long[] shape, Object data) {
        this(name, datatype, shape, data, Map.of());
    }

    /**
     * A tensor over {@code data} as in {@link #Tensor(String, DataType, long[], Object)}, with
     * V2 tensor parameters.
     */
    public Tensor(String name, DataType datatype, long[] shape, Object data, Map<String, Object> parameters) {
        this.parameters = Json.copy(parameters);
        this.name = Objects.requireNonNull(name, "name");
        this.datatype = Objects.requireNonNull(datatype, "datatype");
        this.shape = Objects.requireNonNull(shape, "shape").clone();
        Objects.requireNonNull(data, "data");
        long count = elementCount(this.shape, name);
        if (data instanceof ByteBuffer buffer) {
            if (datatype == DataType.BYTES) {
                throw new IllegalArgumentException("tensor '" + name + "': BYTES data must be a byte[][]");
            }
            if (!buffer.isDirect()) {
                throw new IllegalArgumentException(
                        "tensor '" + name + "': a ByteBuffer must be direct (ByteBuffer.allocateDirect); pass an array instead");
            }
            ByteBuffer view = buffer.slice().order(ByteOrder.LITTLE_ENDIAN);
            if (view.remaining() != count * datatype.size()) {
                throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " of "
                        + datatype + " needs " + count * datatype.size() + " bytes, the buffer has " + view.remaining());
            }
            this.data = view;
        } else {
            if (!datatype.arrayClass().isInstance(data)) {
                throw new IllegalArgumentException("tensor '" + name + "': " + datatype + " data must be a "
                        + datatype.arrayClass().getSimpleName() + ", got " + data.getClass().getSimpleName());
            }
            int length = java.lang.reflect.Array.getLength(data);
            if (length != count) {
                throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape)
                        + " needs " + count + " elements, got " + length);
            }
            this.data = data;
        }
    }

    public static Tensor ofFloats(String name, long[] shape, float[] data) {
        return new Tensor(name, DataType.FP32, shape, data);
    }

    public static Tensor ofDoubles(String name, long[] shape, double[] data) {
        return new Tensor(name, DataType.FP64, shape, data);
    }

    public static Tensor ofInts(String name, long[] shape, int[] data) {
        return new Tensor(name, DataType.INT32, shape, data);
    }

    public static Tensor ofLongs(String name, long[] shape, long[] data) {
        return new Tensor(name, DataType.INT64, shape, data);
    }

    public static Tensor ofBooleans(String name, long[] shape, boolean[] data) {
        return new Tensor(name, DataType.BOOL, shape, data);
    }

    /** A BYTES tensor of UTF-8 encoded strings. */
    public static Tensor ofStrings(String name, long[] shape, String... data) {
        byte[][] elements = new byte[data.length][];
        for (int i = 0; i < data.length; i++) {
            elements[i] = data[i].getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
        return new Tensor(name, DataType.BYTES, shape, elements);
    }

    public String name() {
        return name;
    }

    public DataType datatype() {
        return datatype;
    }

    /** The tensor's parameters (unmodifiable; empty when none). */
    public Map<String, Object> parameters() {
        return parameters;
    }

    /** The same tensor (sharing its data) with other parameters. */
    public Tensor withParameters(Map<String, Object> parameters) {
        return new Tensor(name, datatype, shape, data, parameters);
    }

    /** The dimensions (a copy). */
    public long[] shape() {
        return shape.clone();
    }

    /** The number of elements: the product of the shape (1 for a scalar). */
    public long elementCount() {
        return elementCount(shape, name);
    }

    /** The data as given: the primitive array, or a direct little-endian buffer. */
    public Object data() {
        return data;
    }

    /** The elements of an FP32 tensor (copied out when the data is a buffer). */
    public float[] floats() {
        if (data instanceof ByteBuffer buffer) {
            float[] out = new float[(int) elementCount()];
            buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
            return checked(DataType.FP32, out);
        }
        return (float[]) checked(DataType.FP32, data);
    }

    /** The elements of an FP64 tensor (copied out when the data is a buffer). */
    public double[] doubles() {
        if (data instanceof ByteBuffer buffer) {
            double[] out = new double[(int) elementCount()];
            buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(out);
            return checked(DataType.FP64, out);
        }
        return (double[]) checked(DataType.FP64, data);
    }

    /** The elements of an INT32 or UINT32 tensor (copied out when the data is a buffer). */
    public int[] ints() {
        if (data instanceof ByteBuffer buffer) {
            int[] out = new int[(int) elementCount()];
            buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
            return checked(int[].class, out);
        }
        return (int[]) checked(int[].class, data);
    }

    /** The elements of an INT64 or UINT64 tensor (copied out when the data is a buffer). */
    public long[] longs() {
        if (data instanceof ByteBuffer buffer) {
            long[] out = new long[(int) elementCount()];
            buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(out);
            return checked(long[].class, out);
        }
        return (long[]) checked(long[].class, data);
    }

    /** The elements of a BOOL tensor. */
    public boolean[] booleans() {
        return (boolean[]) checked(DataType.BOOL, data);
    }

    /** The elements of a BYTES tensor. */
    public byte[][] elements() {
        return (byte[][]) checked(DataType.BYTES, data);
    }

    /** The elements of a BYTES tensor decoded as UTF-8. */
    public String[] strings() {
        byte[][] elements = elements();
        String[] out = new String[elements.length];
        for (int i = 0; i < elements.length; i++) {
            out[i] = new String(elements[i], java.nio.charset.StandardCharsets.UTF_8);
        }
        return out;
    }

    @Override
    public String toString() {
        return "Tensor[" + name + ", " + datatype + ", " + Arrays.toString(shape) + "]";
    }

    /** The parameters as JSON for the native side; null when there are none. */
    String parametersJson() {
        return parameters.isEmpty() ? null : Json.write(parameters);
    }

    /** The datatype's V2 name, for the native side. */
    String datatypeName() {
        return datatype.name();
    }

    /**
     * The data as the native side copies it: the primitive array or the direct buffer as they
     * are, BYTES elements encoded as V2's binary form (each a 4-byte little-endian length, then
     * its bytes).
     */
    Object wireData() {
        if (datatype != DataType.BYTES) {
            return data;
        }
        byte[][] elements = (byte[][]) data;
        int total = 0;
        for (byte[] element : elements) {
            total += 4 + element.length;
        }
        ByteBuffer out = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        for (byte[] element : elements) {
            out.putInt(element.length).put(element);
        }
        return out.array();
    }

    private <T> T checked(DataType wanted, T value) {
        if (datatype != wanted) {
            throw new IllegalStateException("tensor '" + name + "' is " + datatype + ", not " + wanted);
        }
        return value;
    }

    private <T> T checked(Class<?> arrayClass, T value) {
        if (datatype.arrayClass() != arrayClass) {
            throw new IllegalStateException("tensor '" + name + "' is " + datatype + ", not held in a "
                    + arrayClass.getSimpleName());
        }
        return value;
    }

    private static long elementCount(long[] shape, String name) {
        long count = 1;
        for (long dim : shape) {
            if (dim < 0) {
                throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape)
                        + " has a negative dimension");
            }
            count = Math.multiplyExact(count, dim);
        }
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape)
                    + " has more elements than a Java array holds");
        }
        return count;
    }
}
