package io.oxserve.seldon;

import com.google.protobuf.ByteString;
import io.oxserve.DataType;
import io.oxserve.ModelException;
import io.oxserve.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import org.tensorflow.framework.TensorProto;
import org.tensorflow.framework.TensorShapeProto;

/**
 * Seldon's {@code data.tftensor} (TensorFlow's {@code TensorProto}) and oxserve tensors, both
 * ways, so that a class written for Seldon's Java wrapper gets a tftensor request as the proto
 * Seldon would hand it and may answer one.
 *
 * <p>Each datatype has the TensorFlow dtype of the same name and width, with its elements in the
 * typed list TensorFlow uses for it ({@code INT8}/{@code INT16}/{@code UINT8}/{@code UINT16} in
 * {@code int_val}, {@code FP16}/{@code BF16} as their 16 bits in {@code half_val}), the mapping
 * the Rust server uses for the tftensor it sends the caller. Errors name the JSON field names
 * ({@code floatVal}, {@code tensorShape}) that Seldon's documentation uses.
 */
final class TfTensors {
    private TfTensors() {}

    /** The TensorFlow dtype that holds {@code datatype}'s elements. */
    private static org.tensorflow.framework.DataType tfType(DataType datatype) {
        return switch (datatype) {
            case BOOL -> org.tensorflow.framework.DataType.DT_BOOL;
            case UINT8 -> org.tensorflow.framework.DataType.DT_UINT8;
            case UINT16 -> org.tensorflow.framework.DataType.DT_UINT16;
            case UINT32 -> org.tensorflow.framework.DataType.DT_UINT32;
            case UINT64 -> org.tensorflow.framework.DataType.DT_UINT64;
            case INT8 -> org.tensorflow.framework.DataType.DT_INT8;
            case INT16 -> org.tensorflow.framework.DataType.DT_INT16;
            case INT32 -> org.tensorflow.framework.DataType.DT_INT32;
            case INT64 -> org.tensorflow.framework.DataType.DT_INT64;
            case FP16 -> org.tensorflow.framework.DataType.DT_HALF;
            case BF16 -> org.tensorflow.framework.DataType.DT_BFLOAT16;
            case FP32 -> org.tensorflow.framework.DataType.DT_FLOAT;
            case FP64 -> org.tensorflow.framework.DataType.DT_DOUBLE;
            case BYTES -> org.tensorflow.framework.DataType.DT_STRING;
        };
    }

    /** The typed list (by its JSON name) that holds {@code datatype}'s elements. */
    private static String field(DataType datatype) {
        return switch (datatype) {
            case BOOL -> "boolVal";
            case UINT8, UINT16, INT8, INT16, INT32 -> "intVal";
            case UINT32 -> "uint32Val";
            case UINT64 -> "uint64Val";
            case INT64 -> "int64Val";
            case FP16, BF16 -> "halfVal";
            case FP32 -> "floatVal";
            case FP64 -> "doubleVal";
            case BYTES -> "stringVal";
        };
    }

    /** How many values the typed list of {@code datatype} holds in {@code proto}. */
    private static int typedCount(TensorProto proto, DataType datatype) {
        return switch (datatype) {
            case BOOL -> proto.getBoolValCount();
            case UINT8, UINT16, INT8, INT16, INT32 -> proto.getIntValCount();
            case UINT32 -> proto.getUint32ValCount();
            case UINT64 -> proto.getUint64ValCount();
            case INT64 -> proto.getInt64ValCount();
            case FP16, BF16 -> proto.getHalfValCount();
            case FP32 -> proto.getFloatValCount();
            case FP64 -> proto.getDoubleValCount();
            case BYTES -> proto.getStringValCount();
        };
    }

    // ---- a tensor to a TensorProto ------------------------------------------------------------

    /** The tensor as a {@code TensorProto} with its elements in the dtype's typed list. */
    static TensorProto proto(Tensor tensor) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long dim : tensor.shape()) {
            shape.addDim(TensorShapeProto.Dim.newBuilder().setSize(dim));
        }
        TensorProto.Builder proto = TensorProto.newBuilder().setDtype(tfType(tensor.datatype())).setTensorShape(shape);
        switch (tensor.datatype()) {
            case BOOL -> {
                for (boolean v : tensor.booleans()) {
                    proto.addBoolVal(v);
                }
            }
            case UINT8 -> {
                for (byte v : (byte[]) tensor.data()) {
                    proto.addIntVal(Byte.toUnsignedInt(v));
                }
            }
            case INT8 -> {
                for (byte v : (byte[]) tensor.data()) {
                    proto.addIntVal(v);
                }
            }
            case UINT16 -> {
                for (short v : (short[]) tensor.data()) {
                    proto.addIntVal(Short.toUnsignedInt(v));
                }
            }
            case INT16 -> {
                for (short v : (short[]) tensor.data()) {
                    proto.addIntVal(v);
                }
            }
            case INT32 -> {
                for (int v : tensor.ints()) {
                    proto.addIntVal(v);
                }
            }
            case UINT32 -> {
                for (int v : tensor.ints()) {
                    proto.addUint32Val(v);
                }
            }
            case INT64 -> {
                for (long v : tensor.longs()) {
                    proto.addInt64Val(v);
                }
            }
            case UINT64 -> {
                for (long v : tensor.longs()) {
                    proto.addUint64Val(v);
                }
            }
            case FP16, BF16 -> {
                for (short v : (short[]) tensor.data()) {
                    proto.addHalfVal(Short.toUnsignedInt(v));
                }
            }
            case FP32 -> {
                for (float v : tensor.floats()) {
                    proto.addFloatVal(v);
                }
            }
            case FP64 -> {
                for (double v : tensor.doubles()) {
                    proto.addDoubleVal(v);
                }
            }
            case BYTES -> {
                for (byte[] v : tensor.elements()) {
                    proto.addStringVal(ByteString.copyFrom(v));
                }
            }
        }
        return proto.build();
    }

    // ---- a TensorProto to a tensor ------------------------------------------------------------

    /**
     * The tensor a class's {@code TensorProto} answer holds, named {@code name}. The elements come
     * from {@code tensor_content} (little-endian, fixed-size types) when it is set, otherwise from
     * the dtype's typed list, where, as in {@code tf.make_ndarray}, fewer values than elements
     * repeat the last one. A dtype without an oxserve datatype (complex, quantized, resource,
     * variant), a shape that does not fit the values, or a value out of its dtype's range is the
     * class's mistake: a 500 naming the field.
     */
    static Tensor tensor(TensorProto proto, String name, Map<String, Object> parameters) {
        DataType datatype = datatype(proto);
        long[] shape = shape(proto);
        int count = count(shape);
        ByteBuffer content = content(proto, datatype, count);
        int size = typedCount(proto, datatype);
        if (content == null) {
            String field = "data.tftensor." + field(datatype);
            if (size > count) {
                throw new ModelException(500, field + ": " + size + " values for " + count + " elements");
            }
            if (size == 0 && count > 0) {
                throw new ModelException(500, field + ": no values for " + count + " elements of "
                        + tfType(datatype).name());
            }
        }
        Object data = switch (datatype) {
            case BOOL -> {
                boolean[] out = new boolean[count];
                for (int i = 0; i < count; i++) {
                    out[i] = content != null ? content.get() != 0 : proto.getBoolVal(Math.min(i, size - 1));
                }
                yield out;
            }
            case UINT8, INT8 -> {
                byte[] out = new byte[count];
                for (int i = 0; i < count; i++) {
                    out[i] = content != null ? content.get() : (byte) narrow(proto.getIntVal(Math.min(i, size - 1)), i, datatype);
                }
                yield out;
            }
            case UINT16, INT16 -> {
                short[] out = new short[count];
                for (int i = 0; i < count; i++) {
                    out[i] = content != null ? content.getShort() : (short) narrow(proto.getIntVal(Math.min(i, size - 1)), i, datatype);
                }
                yield out;
            }
            case FP16, BF16 -> {
                short[] out = new short[count];
                for (int i = 0; i < count; i++) {
                    out[i] = content != null ? content.getShort() : (short) narrow(proto.getHalfVal(Math.min(i, size - 1)), i, datatype);
                }
                yield out;
            }
            case INT32, UINT32 -> {
                int[] out = new int[count];
                for (int i = 0; i < count; i++) {
                    int at = Math.min(i, size - 1);
                    out[i] = content != null ? content.getInt()
                            : datatype == DataType.INT32 ? proto.getIntVal(at) : proto.getUint32Val(at);
                }
                yield out;
            }
            case INT64, UINT64 -> {
                long[] out = new long[count];
                for (int i = 0; i < count; i++) {
                    int at = Math.min(i, size - 1);
                    out[i] = content != null ? content.getLong()
                            : datatype == DataType.INT64 ? proto.getInt64Val(at) : proto.getUint64Val(at);
                }
                yield out;
            }
            case FP32 -> {
                float[] out = new float[count];
                for (int i = 0; i < count; i++) {
                    out[i] = content != null ? content.getFloat() : proto.getFloatVal(Math.min(i, size - 1));
                }
                yield out;
            }
            case FP64 -> {
                double[] out = new double[count];
                for (int i = 0; i < count; i++) {
                    out[i] = content != null ? content.getDouble() : proto.getDoubleVal(Math.min(i, size - 1));
                }
                yield out;
            }
            case BYTES -> {
                byte[][] out = new byte[count][];
                for (int i = 0; i < count; i++) {
                    out[i] = proto.getStringVal(Math.min(i, size - 1)).toByteArray();
                }
                yield out;
            }
        };
        return new Tensor(name, datatype, shape, data, parameters);
    }

    /** The oxserve datatype of the proto's dtype. */
    private static DataType datatype(TensorProto proto) {
        org.tensorflow.framework.DataType tf = proto.getDtype();
        if (tf == org.tensorflow.framework.DataType.UNRECOGNIZED) {
            throw new ModelException(500, "data.tftensor.dtype: unknown TensorFlow dtype " + proto.getDtypeValue());
        }
        for (DataType datatype : DataType.values()) {
            if (tfType(datatype) == tf) {
                return datatype;
            }
        }
        throw new ModelException(500, "data.tftensor.dtype: " + tf.name() + " is not supported (it has no oxserve "
                + "datatype): answer a boolean, integer, floating-point or string dtype");
    }

    private static long[] shape(TensorProto proto) {
        TensorShapeProto shape = proto.getTensorShape();
        if (shape.getUnknownRank()) {
            throw new ModelException(500, "data.tftensor.tensorShape: an answer needs a known rank (unknownRank is set)");
        }
        long[] dims = new long[shape.getDimCount()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = shape.getDim(i).getSize();
            if (dims[i] < 0) {
                throw new ModelException(500, "data.tftensor.tensorShape: dimension " + i + " is " + dims[i]
                        + "; dimensions must not be negative");
            }
        }
        return dims;
    }

    /** The element count of a shape, which must fit a Java array. */
    private static int count(long[] shape) {
        long count = 1;
        try {
            for (long dim : shape) {
                count = Math.multiplyExact(count, dim);
            }
        } catch (ArithmeticException e) {
            count = Long.MAX_VALUE;
        }
        if (count > Integer.MAX_VALUE) {
            throw new ModelException(500, "data.tftensor.tensorShape: " + java.util.Arrays.toString(shape)
                    + " has more elements than a Java array holds");
        }
        return (int) count;
    }

    /** The proto's {@code tensor_content}, checked against the shape, as a little-endian buffer; null when unset. */
    private static ByteBuffer content(TensorProto proto, DataType datatype, int count) {
        if (proto.getTensorContent().isEmpty()) {
            return null;
        }
        if (datatype == DataType.BYTES) {
            throw new ModelException(500, "data.tftensor.tensorContent: DT_STRING values go in stringVal");
        }
        long expected = (long) count * datatype.size();
        if (proto.getTensorContent().size() != expected) {
            throw new ModelException(500, "data.tftensor.tensorContent: " + count + " elements of "
                    + tfType(datatype).name() + " need " + expected + " bytes, got " + proto.getTensorContent().size());
        }
        return proto.getTensorContent().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** An {@code int_val}/{@code half_val} value checked to fit {@code datatype}'s 8 or 16 bits. */
    private static int narrow(int value, int index, DataType datatype) {
        int min;
        int max;
        switch (datatype) {
            case INT8 -> {
                min = Byte.MIN_VALUE;
                max = Byte.MAX_VALUE;
            }
            case UINT8 -> {
                min = 0;
                max = 0xFF;
            }
            case INT16 -> {
                min = Short.MIN_VALUE;
                max = Short.MAX_VALUE;
            }
            default -> {
                // UINT16, and the raw bits of FP16/BF16.
                min = 0;
                max = 0xFFFF;
            }
        }
        if (value < min || value > max) {
            throw new ModelException(500, "data.tftensor." + field(datatype) + "[" + index + "]: " + value
                    + " is out of range for " + tfType(datatype).name());
        }
        return value;
    }
}
