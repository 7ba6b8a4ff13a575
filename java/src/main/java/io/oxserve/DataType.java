package io.oxserve;

/**
 * The element type of a {@link Tensor}, named as the V2 (Open Inference) protocol names it, so
 * that {@code DataType.valueOf("FP32")} reads a protocol name directly.
 *
 * <p>Each fixed-size type is held in the Java primitive array of the same width: unsigned types
 * and half-precision floats keep their raw bits in the signed array ({@code UINT8} in a
 * {@code byte[]}, {@code FP16} and {@code BF16} in a {@code short[]}); {@code BYTES} elements
 * are {@code byte[]} each.
 */
public enum DataType {
    BOOL(1, boolean[].class),
    UINT8(1, byte[].class),
    UINT16(2, short[].class),
    UINT32(4, int[].class),
    UINT64(8, long[].class),
    INT8(1, byte[].class),
    INT16(2, short[].class),
    INT32(4, int[].class),
    INT64(8, long[].class),
    FP16(2, short[].class),
    FP32(4, float[].class),
    FP64(8, double[].class),
    BF16(2, short[].class),
    BYTES(0, byte[][].class);

    private final int size;
    private final Class<?> arrayClass;

    DataType(int size, Class<?> arrayClass) {
        this.size = size;
        this.arrayClass = arrayClass;
    }

    /** Bytes per element, or 0 for {@code BYTES}, whose elements vary in length. */
    public int size() {
        return size;
    }

    /** The Java array type that holds this type's elements. */
    public Class<?> arrayClass() {
        return arrayClass;
    }
}
