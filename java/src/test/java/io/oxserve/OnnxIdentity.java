package io.oxserve;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * An ONNX model written by hand, so the graph tests need no model file and no Python: one
 * {@code Identity} node from input {@code x} (FP32, shape [-1, 2]) to output {@code y}. The bytes
 * are the protobuf encoding of onnx.proto's {@code ModelProto}, field by field.
 */
final class OnnxIdentity {
    private static final int FLOAT = 1;

    private OnnxIdentity() {}

    static byte[] model() {
        byte[] node = concat(string(1, "x"), string(2, "y"), string(3, "identity"), string(4, "Identity"));
        byte[] graph = concat(message(1, node), string(2, "identity"), message(11, tensor("x")), message(12, tensor("y")));
        byte[] opset = concat(string(1, ""), varint(2, 13));
        return concat(varint(1, 8), string(2, "oxserve-java-tests"), message(7, graph), message(8, opset));
    }

    /** A {@code ValueInfoProto}: FP32 of shape [n, 2]. */
    private static byte[] tensor(String name) {
        byte[] shape = concat(message(1, string(2, "n")), message(1, varint(1, 2)));
        byte[] type = concat(varint(1, FLOAT), message(2, shape));
        return concat(string(1, name), message(2, message(1, type)));
    }

    private static byte[] varint(int field, long value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeVarint(out, (long) field << 3);
        writeVarint(out, value);
        return out.toByteArray();
    }

    private static byte[] string(int field, String value) {
        return message(field, value.getBytes(StandardCharsets.UTF_8));
    }

    /** A length-delimited field: a sub-message or bytes. */
    private static byte[] message(int field, byte[] value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeVarint(out, ((long) field << 3) | 2);
        writeVarint(out, value.length);
        out.writeBytes(value);
        return out.toByteArray();
    }

    private static void writeVarint(ByteArrayOutputStream out, long value) {
        while ((value & ~0x7FL) != 0) {
            out.write((int) ((value & 0x7F) | 0x80));
            value >>>= 7;
        }
        out.write((int) value);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }
}
