package io.oxserve;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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
 * <p>The tensors of 64 KiB or more the server hands a model (fixed-size types) are not copied out
 * of the request: they hold a read-only direct buffer over the server's own memory, which stays
 * valid for as long as the tensor or any view of it is reachable, even after the call returned
 * (smaller ones arrive as arrays: copying them costs less). {@link #buffer()}
 * and the typed views ({@link #floatBuffer()}…) read it without any copy; the array accessors
 * ({@link #floats()}…, and {@link #data()} for such tensors) copy it once, on first use. A tensor
 * a model answers as it got it is lent back to the server without a copy either.
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
    /** As given: the primitive array, or a little-endian direct buffer (read-only when lent). */
    private final Object data;
    /** Whether {@code data} is the server's memory, which {@link #data()} answers as an array. */
    private final boolean lent;
    private final Map<String, Object> parameters;
    /** The elements of a buffer copied into an array, on the first call that wants one. */
    private volatile Object elements;

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
        this(name, datatype, shape, data, parameters, false);
    }

    private Tensor(String name, DataType datatype, long[] shape, Object data, Map<String, Object> parameters,
            boolean lent) {
        this.parameters = Json.copy(parameters);
        this.name = Objects.requireNonNull(name, "name");
        this.datatype = Objects.requireNonNull(datatype, "datatype");
        this.shape = Objects.requireNonNull(shape, "shape").clone();
        this.lent = lent;
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

    /**
     * A tensor over the server's memory, viewed by a read-only direct buffer that
     * {@link ServerMemory} keeps alive; {@link #data()} answers its elements as an array.
     */
    static Tensor lent(String name, DataType datatype, long[] shape, ByteBuffer data, Map<String, Object> parameters) {
        return new Tensor(name, datatype, shape, data, parameters, true);
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
        return new Tensor(name, datatype, shape, data, parameters, lent);
    }

    /** The dimensions (a copy). */
    public long[] shape() {
        return shape.clone();
    }

    /** The number of elements: the product of the shape (1 for a scalar). */
    public long elementCount() {
        return elementCount(shape, name);
    }

    /**
     * The data: the datatype's primitive array ({@code byte[][]} for BYTES), or the direct
     * little-endian buffer a model built this tensor over. For a tensor the server handed over,
     * its elements copied into an array on the first call (see {@link #buffer()} for no copy).
     */
    public Object data() {
        return lent ? array() : data;
    }

    /**
     * The data as read-only little-endian bytes, position 0 to the end: the zero-copy path. For a
     * tensor over a direct buffer (every fixed-size tensor the server hands a model) this is a
     * view of that memory, valid for as long as the view is reachable; a tensor over an array is
     * copied into a new buffer.
     *
     * @throws IllegalStateException for a BYTES tensor (use {@link #elements()})
     */
    public ByteBuffer buffer() {
        if (data instanceof ByteBuffer buffer) {
            return buffer.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }
        if (datatype == DataType.BYTES) {
            throw new IllegalStateException("tensor '" + name + "' is BYTES, read its elements()");
        }
        ByteBuffer out = ByteBuffer.allocate((int) elementCount() * datatype.size()).order(ByteOrder.LITTLE_ENDIAN);
        if (data instanceof boolean[] x) {
            for (boolean b : x) {
                out.put((byte) (b ? 1 : 0));
            }
        } else if (data instanceof byte[] x) {
            out.put(x);
        } else if (data instanceof short[] x) {
            out.asShortBuffer().put(x);
        } else if (data instanceof int[] x) {
            out.asIntBuffer().put(x);
        } else if (data instanceof long[] x) {
            out.asLongBuffer().put(x);
        } else if (data instanceof float[] x) {
            out.asFloatBuffer().put(x);
        } else {
            out.asDoubleBuffer().put((double[]) data);
        }
        return out.rewind().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The elements of an FP32 tensor as a read-only view, without copying (over its buffer or array). */
    public FloatBuffer floatBuffer() {
        checked(DataType.FP32, data);
        return data instanceof ByteBuffer ? buffer().asFloatBuffer() : FloatBuffer.wrap((float[]) data).asReadOnlyBuffer();
    }

    /** The elements of an FP64 tensor as a read-only view, without copying (over its buffer or array). */
    public DoubleBuffer doubleBuffer() {
        checked(DataType.FP64, data);
        return data instanceof ByteBuffer ? buffer().asDoubleBuffer() : DoubleBuffer.wrap((double[]) data).asReadOnlyBuffer();
    }

    /** The elements of an INT32 or UINT32 tensor as a read-only view, without copying. */
    public IntBuffer intBuffer() {
        checked(int[].class, data);
        return data instanceof ByteBuffer ? buffer().asIntBuffer() : IntBuffer.wrap((int[]) data).asReadOnlyBuffer();
    }

    /** The elements of an INT64 or UINT64 tensor as a read-only view, without copying. */
    public LongBuffer longBuffer() {
        checked(long[].class, data);
        return data instanceof ByteBuffer ? buffer().asLongBuffer() : LongBuffer.wrap((long[]) data).asReadOnlyBuffer();
    }

    /** The elements of an FP32 tensor (a buffer's copied into an array once, on first use). */
    public float[] floats() {
        return (float[]) checked(DataType.FP32, array());
    }

    /** The elements of an FP64 tensor (a buffer's copied into an array once, on first use). */
    public double[] doubles() {
        return (double[]) checked(DataType.FP64, array());
    }

    /** The elements of an INT32 or UINT32 tensor (a buffer's copied into an array once, on first use). */
    public int[] ints() {
        return (int[]) checked(int[].class, array());
    }

    /** The elements of an INT64 or UINT64 tensor (a buffer's copied into an array once, on first use). */
    public long[] longs() {
        return (long[]) checked(long[].class, array());
    }

    /** The elements of a BOOL tensor (a buffer's copied into an array once, on first use). */
    public boolean[] booleans() {
        return (boolean[]) checked(DataType.BOOL, array());
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
     * The data as the native side reads it: the primitive array (copied there) or the direct
     * buffer (lent as it is, a request's own included), BYTES elements encoded as V2's binary form (each a 4-byte little-endian length, then
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

    /** The data as the datatype's array: itself, or a buffer's elements copied once. */
    private Object array() {
        if (!(data instanceof ByteBuffer buffer)) {
            return data;
        }
        Object copy = elements;
        if (copy == null) {
            copy = decode(datatype, buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN));
            elements = copy;
        }
        return copy;
    }

    /**
     * The elements of little-endian {@code buffer} (from its position to its limit) in a new array
     * of the datatype's array type; BYTES elements in V2's binary form (each a 4-byte
     * little-endian length, then its bytes).
     */
    static Object decode(DataType datatype, ByteBuffer buffer) {
        switch (datatype) {
            case BOOL: {
                boolean[] out = new boolean[buffer.remaining()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = buffer.get(buffer.position() + i) != 0;
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
