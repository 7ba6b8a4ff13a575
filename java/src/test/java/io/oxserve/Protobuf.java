package io.oxserve;

import io.grpc.MethodDescriptor;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Just enough of the protobuf wire format to write the few V2 and Seldon messages the gRPC tests
 * send and read the fields they check, so the tests need no generated code.
 */
final class Protobuf {
    private Protobuf() {}

    /** Messages as their encoded bytes. */
    static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    /** A unary method of {@code service} that sends and answers encoded messages. */
    static MethodDescriptor<byte[], byte[]> unary(String service, String method) {
        return MethodDescriptor.<byte[], byte[]>newBuilder()
                .setType(MethodDescriptor.MethodType.UNARY)
                .setFullMethodName(MethodDescriptor.generateFullMethodName(service, method))
                .setRequestMarshaller(BYTES)
                .setResponseMarshaller(BYTES)
                .build();
    }

    /** Writes fields in order. */
    static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Writer string(int field, String value) {
            return bytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Writer bytes(int field, byte[] value) {
            varint(field << 3 | 2);
            varint(value.length);
            out.writeBytes(value);
            return this;
        }

        Writer message(int field, Writer message) {
            return bytes(field, message.toByteArray());
        }

        /** A packed repeated varint field (int32, int64). */
        Writer packedVarints(int field, long... values) {
            Writer packed = new Writer();
            for (long value : values) {
                packed.varint(value);
            }
            return bytes(field, packed.toByteArray());
        }

        /** A packed repeated double field. */
        Writer packedDoubles(int field, double... values) {
            java.nio.ByteBuffer packed = java.nio.ByteBuffer.allocate(8 * values.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (double value : values) {
                packed.putDouble(value);
            }
            return bytes(field, packed.array());
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }

        private void varint(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) (value & 0x7F) | 0x80);
                value >>>= 7;
            }
            out.write((int) value);
        }
    }

    /** The values of length-delimited field {@code field} in {@code message}, in order. */
    static List<byte[]> field(byte[] message, int field) {
        List<byte[]> values = new ArrayList<>();
        int[] at = {0};
        while (at[0] < message.length) {
            long key = varint(message, at);
            int wireType = (int) (key & 7);
            switch (wireType) {
                case 0 -> varint(message, at);
                case 1 -> at[0] += 8;
                case 5 -> at[0] += 4;
                case 2 -> {
                    int length = (int) varint(message, at);
                    if (key >>> 3 == field) {
                        values.add(java.util.Arrays.copyOfRange(message, at[0], at[0] + length));
                    }
                    at[0] += length;
                }
                default -> throw new IllegalArgumentException("wire type " + wireType);
            }
        }
        return values;
    }

    /** The only value of length-delimited field {@code field}. */
    static byte[] one(byte[] message, int field) {
        List<byte[]> values = field(message, field);
        if (values.size() != 1) {
            throw new AssertionError("field " + field + " occurs " + values.size() + " times");
        }
        return values.get(0);
    }

    private static long varint(byte[] message, int[] at) {
        long value = 0;
        for (int shift = 0; ; shift += 7) {
            byte b = message[at[0]++];
            value |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return value;
            }
        }
    }
}
