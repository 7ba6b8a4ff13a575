package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ReadOnlyBufferException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Request tensors of 64 KiB or more reach Java over the server's own memory, read-only and without
 * a copy, and that memory stays valid for as long as Java keeps the tensor; smaller ones are
 * copied into the heap and keep nothing of the server's.
 */
class ZeroCopyTest {
    /** Keeps the first input of the last request it saw, and answers it as it got it. */
    static final class Keeper implements Model {
        final AtomicReference<Tensor> last = new AtomicReference<>();

        @Override
        public InferenceResponse predict(InferenceRequest request) {
            last.set(request.inputs().get(0));
            return new InferenceResponse(request.inputs());
        }
    }

    /** Batched: records every input it sees and answers it as it got it. */
    static final class BatchedKeeper implements Model {
        final Queue<Tensor> seen = new ConcurrentLinkedQueue<>();

        @Override
        public InferenceResponse predict(InferenceRequest request) {
            seen.add(request.inputs().get(0));
            return new InferenceResponse(request.inputs());
        }
    }

    private static final Keeper KEEPER = new Keeper();
    private static final BatchedKeeper BATCHED = new BatchedKeeper();

    @RegisterExtension
    static final TestServers SERVED = TestServers.serving(builder -> builder
            .model("keeper", KEEPER)
            .model("batched", BATCHED, ModelOptions.defaults().withMaxBatchSize(8, 0.05)));

    /** {@code count} FP32 values {@code start, start + 1, …} as a V2 request of shape [1, count]. */
    private static String floats(float start, int count) {
        String data = IntStream.range(0, count).mapToObj(i -> Float.toString(start + i)).collect(Collectors.joining(","));
        return "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1," + count + "],\"data\":[" + data + "]}]}";
    }

    /** FP32 elements in a tensor of 64 KiB, the smallest the server lends instead of copying. */
    private static final int LENT = 1 << 14;

    /** The JSON array of an answer's first output holds {@code start, start + 1, …}, {@code count} of them. */
    private static void assertOutput(float start, int count, Http.Answer answer) {
        assertEquals(200, answer.status(), answer.text());
        JsonNode data = answer.body().get("outputs").get(0).get("data");
        assertEquals(count, data.size());
        for (int i = 0; i < count; i++) {
            assertEquals(start + i, data.get(i).floatValue(), "element " + i);
        }
    }

    private static void assertFloats(float start, int count, FloatBuffer values) {
        assertEquals(count, values.remaining());
        for (int i = 0; i < count; i++) {
            assertEquals(start + i, values.get(i), "element " + i);
        }
    }

    @Test
    void inputsArriveAsDirectReadOnlyBuffersWithoutACopy() {
        Http.Answer answer = SERVED.http().post("/v2/models/keeper/infer", floats(1, LENT));
        assertOutput(1, LENT, answer);
        Tensor x = KEEPER.last.get();
        ByteBuffer buffer = x.buffer();
        assertTrue(buffer.isDirect());
        assertTrue(buffer.isReadOnly());
        assertEquals(ByteOrder.LITTLE_ENDIAN, buffer.order());
        assertEquals(4 * LENT, buffer.remaining());
        assertEquals(3f, buffer.getFloat(8));
        assertTrue(x.floatBuffer().isDirect());
        assertFloats(1, LENT, x.floatBuffer());
        assertThrows(ReadOnlyBufferException.class, () -> x.buffer().putFloat(0, 9f));
        Tensor annotated = x.withParameters(Map.of("unit", "cm"));
        assertThrows(ReadOnlyBufferException.class, () -> annotated.buffer().put(0, (byte) 1));
        assertInstanceOf(float[].class, annotated.data());
        // The array accessors copy once and keep the copy; data() answers it too.
        assertEquals(4f, x.floats()[3]);
        assertEquals(LENT, x.floats().length);
        assertTrue(x.floats() == x.floats());
        assertTrue(x.data() == x.floats());
    }

    @Test
    void smallInputsAreCopiedIntoTheHeapAndKeepNothing() {
        long keptBefore = ServerMemory.kept();
        Http.Answer answer = SERVED.http().post("/v2/models/keeper/infer", floats(1, LENT / 2));
        assertOutput(1, LENT / 2, answer);
        Tensor x = KEEPER.last.get();
        assertInstanceOf(float[].class, x.data());
        assertFalse(x.buffer().isDirect());
        assertFloats(1, LENT / 2, x.floatBuffer());
        // Cleaners of earlier tests' buffers may run meanwhile, so the count can only have dropped.
        assertTrue(ServerMemory.kept() <= keptBefore, "kept " + ServerMemory.kept() + ", was " + keptBefore);
    }

    @Test
    void aKeptTensorStaysValidAfterTheCallAndIsReleasedOnceUnreachable() throws Exception {
        int count = LENT;
        assertEquals(200, SERVED.http().post("/v2/models/keeper/infer", floats(1000, count)).status());
        AtomicReference<FloatBuffer> kept = new AtomicReference<>(KEEPER.last.get().floatBuffer());
        long keptBytes = ServerMemory.kept();
        assertTrue(keptBytes >= 4L * count, "kept " + keptBytes);
        // Later requests of the same size would reuse freed memory; collections run meanwhile.
        for (int i = 0; i < 5; i++) {
            System.gc();
            Http.Answer answer = SERVED.http().post("/v2/models/keeper/infer", floats(-i * count, count));
            assertEquals(200, answer.status(), answer.text());
        }
        System.gc();
        assertFloats(1000, count, kept.get());
        // Nothing reaches the first request's buffer any more: its cleaner gives its memory back.
        kept.set(null);
        KEEPER.last.set(null);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (ServerMemory.kept() > keptBytes - 4L * count && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        assertTrue(ServerMemory.kept() <= keptBytes - 4L * count, "still kept: " + ServerMemory.kept());
    }

    @Test
    void pastTheLimitInputsAreCopiedIntoTheHeap() {
        long limit = ServerMemory.limit;
        ServerMemory.limit = 0;
        try {
            Http.Answer answer = SERVED.http().post("/v2/models/keeper/infer", floats(7, LENT));
            assertOutput(7, LENT, answer);
            Tensor x = KEEPER.last.get();
            assertInstanceOf(float[].class, x.data());
            assertFalse(x.buffer().isDirect());
            assertFloats(7, LENT, x.floatBuffer());
        } finally {
            ServerMemory.limit = limit;
        }
    }

    @Test
    void echoesEveryFixedSizeDatatypeLentOrCopied() {
        String[][] cases = {
            {"BOOL", "[true,false,true]"},
            {"INT8", "[-128,0,127]"},
            {"UINT16", "[0,40000,65535]"},
            {"INT32", "[-5,0,7]"},
            {"INT64", "[-9007199254740991,0,9007199254740991]"},
            {"FP64", "[0.5,-1.25,3.0]"},
        };
        // Three elements are copied; 3 × 21,846 of them make at least 64 KiB of any datatype, lent.
        for (int times : new int[] {1, 21_846}) {
            for (String[] c : cases) {
                String values = c[1].substring(1, c[1].length() - 1);
                String data = "[" + String.join(",", Collections.nCopies(times, values)) + "]";
                Http.Answer answer = SERVED.http().post("/v2/models/keeper/infer",
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"" + c[0] + "\",\"shape\":[" + 3 * times
                                + "],\"data\":" + data + "}]}");
                assertEquals(200, answer.status(), c[0] + ": " + answer.text());
                assertEquals(data, answer.body().get("outputs").get(0).get("data").toString(), c[0]);
                assertEquals(times > 1, KEEPER.last.get().buffer().isDirect(), c[0] + " × " + times);
            }
        }
        Http.Answer answer = SERVED.http().post("/v2/models/keeper/infer",
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[false,true]}]}");
        assertEquals(200, answer.status(), answer.text());
        assertArrayEquals(new boolean[] {false, true}, KEEPER.last.get().booleans());
    }

    @Test
    void batchedRowsArriveStackedInOneBuffer() throws Exception {
        List<CompletableFuture<Http.Answer>> answers = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            float start = 10 * i;
            answers.add(CompletableFuture.supplyAsync(() -> {
                return SERVED.http().post("/v2/models/batched/infer", floats(start, LENT));
            }));
        }
        for (int i = 0; i < 8; i++) {
            assertOutput(10 * i, LENT, answers.get(i).get());
        }
        for (Tensor x : BATCHED.seen) {
            assertTrue(x.buffer().isDirect() && x.buffer().isReadOnly(), x.toString());
            assertEquals(LENT * x.shape()[0], x.floatBuffer().remaining());
        }
    }

    @Test
    void tensorsOverArraysGiveViewsAndBytes() {
        Tensor x = Tensor.ofFloats("x", new long[] {3}, new float[] {1.5f, -2f, 4f});
        FloatBuffer view = x.floatBuffer();
        assertTrue(view.isReadOnly());
        assertEquals(-2f, view.get(1));
        ByteBuffer bytes = x.buffer();
        assertEquals(12, bytes.remaining());
        assertEquals(ByteOrder.LITTLE_ENDIAN, bytes.order());
        assertEquals(4f, bytes.getFloat(8));
        assertArrayEquals(new byte[] {1, 0}, bytesOf(Tensor.ofBooleans("b", new long[] {2}, new boolean[] {true, false})));
        assertEquals(7L, Tensor.ofLongs("l", new long[] {1}, new long[] {7}).longBuffer().get(0));
        assertThrows(IllegalStateException.class, () -> Tensor.ofStrings("s", new long[] {1}, "a").buffer());
        assertThrows(IllegalStateException.class, () -> x.doubleBuffer());
    }

    private static byte[] bytesOf(Tensor tensor) {
        ByteBuffer buffer = tensor.buffer();
        byte[] out = new byte[buffer.remaining()];
        buffer.get(out);
        return out;
    }
}
