package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.CallOptions;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Java models called over V2 gRPC and Seldon gRPC with grpc-java. */
class GrpcTest {
    @RegisterExtension
    static final TestServers SERVED = TestServers.serving(builder -> builder
            .logLevel("error")
            .defaultModel("doubler")
            .model("doubler", new Models.Doubler())
            .model("failing", new Models.Failing()));

    private static byte[] call(String service, String method, byte[] request) {
        return ClientCalls.blockingUnaryCall(SERVED.channel(), Protobuf.unary(service, method),
                CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS), request);
    }

    /** A V2 ModelInferRequest with one FP32 input in raw_input_contents. */
    private static byte[] modelInfer(String model, float... values) {
        ByteBuffer raw = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            raw.putFloat(value);
        }
        Protobuf.Writer input = new Protobuf.Writer().string(1, "x").string(2, "FP32").packedVarints(3, 1, values.length);
        return new Protobuf.Writer().string(1, model).message(5, input).bytes(7, raw.array()).toByteArray();
    }

    @Test
    void v2ModelInferRunsTheJavaModel() {
        byte[] response = call("inference.GRPCInferenceService", "ModelInfer", modelInfer("doubler", 1, 2.5f));
        assertEquals("doubler", new String(Protobuf.one(response, 1), StandardCharsets.UTF_8));
        byte[] output = Protobuf.one(response, 5);
        assertEquals("FP32", new String(Protobuf.one(output, 2), StandardCharsets.UTF_8));
        ByteBuffer raw = ByteBuffer.wrap(Protobuf.one(response, 6)).order(ByteOrder.LITTLE_ENDIAN);
        float[] values = new float[raw.remaining() / 4];
        raw.asFloatBuffer().get(values);
        assertArrayEquals(new float[] {2, 5}, values);
    }

    @Test
    void aJavaExceptionIsAnInternalErrorWithItsMessage() {
        StatusRuntimeException error = assertThrows(StatusRuntimeException.class,
                () -> call("inference.GRPCInferenceService", "ModelInfer", modelInfer("failing", 1)));
        assertEquals(Status.Code.INTERNAL, error.getStatus().getCode());
        assertTrue(error.getStatus().getDescription().contains("java.lang.IllegalStateException: boom"),
                error.getStatus().getDescription());
        call("inference.GRPCInferenceService", "ModelInfer", modelInfer("doubler", 1));
    }

    @Test
    void seldonPredictReachesTheDefaultModel() {
        Protobuf.Writer tensor = new Protobuf.Writer().packedVarints(1, 1, 2).packedDoubles(2, 1.5, -2);
        byte[] request = new Protobuf.Writer().message(3, new Protobuf.Writer().message(2, tensor)).toByteArray();
        byte[] response = call("seldon.protos.Model", "Predict", request);
        byte[] answered = Protobuf.one(Protobuf.one(Protobuf.one(response, 3), 2), 2);
        ByteBuffer values = ByteBuffer.wrap(answered).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(3.0, values.getDouble(), 0);
        assertEquals(-4.0, values.getDouble(), 0);
    }
}
