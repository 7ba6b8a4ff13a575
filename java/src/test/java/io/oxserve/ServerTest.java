package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** One server in this JVM serving the test models, called over V2 REST and Seldon REST. */
class ServerTest {
    private static final Models.Batched BATCHED = new Models.Batched();
    private static final Models.Toggled TOGGLED = new Models.Toggled();

    @RegisterExtension
    static final TestServers SERVED = TestServers.serving(builder -> builder
            .defaultModel("doubler")
            .model("doubler", new Models.Doubler())
            .model("echo", new Models.Echo())
            .model("direct", new Models.DirectBuffer())
            .model("rowsum", new Models.RowSum())
            .model("failing", new Models.Failing())
            .model("refusing", new Models.Refusing())
            .model("oom", new Models.OutOfMemory())
            .model("null", new Models.AnswersNull())
            .model("batched", BATCHED, ModelOptions.defaults().withMaxBatchSize(16, 0.05))
            .model("transformer", new Models.Component())
            .model("toggled", TOGGLED)
            .model("slow", new Models.Slow(), ModelOptions.defaults().withTimeout(0.2)));

    private static String v2Request(String name, String datatype, String shape, String data) {
        return "{\"inputs\":[{\"name\":\"" + name + "\",\"datatype\":\"" + datatype + "\",\"shape\":" + shape
                + ",\"data\":" + data + "}]}";
    }

    @Test
    void healthAndMetadataAnswerOverV2() {
        assertEquals(200, SERVED.http().get("/v2/health/live").status());
        assertEquals(200, SERVED.http().get("/v2/health/ready").status());
        JsonNode metadata = SERVED.http().get("/v2/models/rowsum").body();
        assertEquals("rowsum", metadata.get("name").asText());
        assertEquals("java-test", metadata.get("platform").asText());
        assertEquals("x", metadata.get("inputs").get(0).get("name").asText());
        assertEquals("[-1,2]", metadata.get("inputs").get(0).get("shape").toString());
    }

    /** Polls {@code path} until it answers {@code status} (V2 answers 400 for not ready), for at most 10 s. */
    private static void awaitStatus(String path, int status) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        int last;
        while ((last = SERVED.http().get(path).status()) != status && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertEquals(status, last, path);
    }

    @Test
    void readinessFollowsTheModelsHealth() throws InterruptedException {
        awaitStatus("/v2/models/toggled/ready", 200);
        TOGGLED.ready.set(false);
        awaitStatus("/v2/models/toggled/ready", 400);
        awaitStatus("/v2/health/ready", 400);
        TOGGLED.ready.set(true);
        awaitStatus("/v2/models/toggled/ready", 200);
        awaitStatus("/v2/health/ready", 200);
    }

    @Test
    void aHealthCheckThatThrowsIsNotReady() throws InterruptedException {
        TOGGLED.failing.set(true);
        awaitStatus("/v2/models/toggled/ready", 400);
        TOGGLED.failing.set(false);
        awaitStatus("/v2/models/toggled/ready", 200);
    }

    @Test
    void v2InferenceRunsTheJavaModel() {
        Http.Answer answer = SERVED.http().post("/v2/models/doubler/infer",
                "{\"id\":\"r1\"," + v2Request("x", "FP32", "[2,2]", "[1,2,3,4.5]").substring(1));
        assertEquals(200, answer.status(), answer.text());
        assertEquals("r1", answer.body().get("id").asText());
        assertEquals("doubler", answer.body().get("model_name").asText());
        JsonNode output = answer.body().get("outputs").get(0);
        assertEquals("FP32", output.get("datatype").asText());
        assertEquals("[2,2]", output.get("shape").toString());
        assertEquals("[2.0,4.0,6.0,9.0]", output.get("data").toString());
    }

    @Test
    void everyDatatypeCrossesBothWays() {
        String[][] cases = {
            {"BOOL", "[true,false,true]"},
            {"UINT8", "[0,200,255]"},
            {"UINT16", "[0,40000,65535]"},
            {"UINT32", "[0,4000000000,7]"},
            {"UINT64", "[0,18000000000000000000,7]"},
            {"INT8", "[-128,0,127]"},
            {"INT16", "[-32768,0,32767]"},
            {"INT32", "[-2147483648,0,2147483647]"},
            {"INT64", "[-9000000000000000000,0,9000000000000000000]"},
            {"FP32", "[-1.5,0.0,3.25]"},
            {"FP64", "[-1.5,0.0,1.0E300]"},
            {"BYTES", "[\"a\",\"\",\"é ok\"]"},
        };
        for (String[] c : cases) {
            Http.Answer answer = SERVED.http().post("/v2/models/echo/infer", v2Request("t", c[0], "[3]", c[1]));
            assertEquals(200, answer.status(), c[0] + ": " + answer.text());
            JsonNode output = answer.body().get("outputs").get(0);
            assertEquals(c[0], output.get("datatype").asText());
            assertEquals(c[1], output.get("data").toString(), c[0]);
        }
    }

    @Test
    void aDirectBufferAnswerIsRead() {
        Http.Answer answer = SERVED.http().post("/v2/models/direct/infer", v2Request("x", "FP32", "[1,3]", "[1,2,3]"));
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[1.0,2.0,3.0]", answer.body().get("outputs").get(0).get("data").toString());
    }

    @Test
    void declaredInputsAreCheckedBeforeJavaRuns() {
        Http.Answer ok = SERVED.http().post("/v2/models/rowsum/infer", v2Request("x", "FP32", "[2,2]", "[1,2,3,4]"));
        assertEquals(200, ok.status(), ok.text());
        assertEquals("[3.0,7.0]", ok.body().get("outputs").get(0).get("data").toString());
        Http.Answer wrongShape = SERVED.http().post("/v2/models/rowsum/infer", v2Request("x", "FP32", "[1,3]", "[1,2,3]"));
        assertEquals(400, wrongShape.status());
        assertTrue(wrongShape.body().get("error").asText().contains("shape"), wrongShape.text());
    }

    @Test
    void aJavaExceptionIsA500WithItsMessageAndTheServerKeepsServing() {
        for (int i = 0; i < 3; i++) {
            Http.Answer answer = SERVED.http().post("/v2/models/failing/infer", v2Request("x", "FP32", "[1]", "[1]"));
            assertEquals(500, answer.status());
            String error = answer.body().get("error").asText();
            assertTrue(error.contains("java.lang.IllegalStateException: boom: the model failed"), error);
            assertTrue(error.contains("failing"), error);
        }
        assertEquals(200, SERVED.http().post("/v2/models/doubler/infer", v2Request("x", "FP32", "[1]", "[1]")).status());
    }

    @Test
    void aModelExceptionAnswersWithItsStatus() {
        Http.Answer answer = SERVED.http().post("/v2/models/refusing/infer", v2Request("x", "FP32", "[1]", "[1]"));
        assertEquals(400, answer.status(), "a 4xx of the model's is a bad request: " + answer.text());
        assertEquals("row 0 has a negative age", answer.body().get("error").asText());
    }

    @Test
    void anOutOfMemoryErrorIsReportedNotSwallowed() {
        Http.Answer answer = SERVED.http().post("/v2/models/oom/infer", v2Request("x", "FP32", "[1]", "[1]"));
        assertEquals(500, answer.status());
        assertTrue(answer.body().get("error").asText().contains("raised java.lang.OutOfMemoryError"), answer.text());
        assertEquals(200, SERVED.http().post("/v2/models/doubler/infer", v2Request("x", "FP32", "[1]", "[1]")).status());
    }

    @Test
    void aModelPastItsTimeoutIs504AndTheServerKeepsServing() {
        Http.Answer answer = SERVED.http().post("/v2/models/slow/infer", v2Request("x", "FP32", "[1]", "[1]"));
        assertEquals(504, answer.status(), answer.text());
        assertTrue(answer.body().get("error").asText().contains("did not answer within 200ms"), answer.text());
        assertEquals(200, SERVED.http().post("/v2/models/doubler/infer", v2Request("x", "FP32", "[1]", "[1]")).status());
    }

    @Test
    void aNullAnswerIsA500NamingIt() {
        Http.Answer answer = SERVED.http().post("/v2/models/null/infer", v2Request("x", "FP32", "[1]", "[1]"));
        assertEquals(500, answer.status());
        assertTrue(answer.body().get("error").asText().contains("null"), answer.text());
    }

    @Test
    void seldonRestReachesTheDefaultModel() {
        Http.Answer answer = SERVED.http().post("/api/v1.0/predictions", "{\"data\":{\"ndarray\":[[1.0,2.5]]}}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[[2.0,5.0]]", answer.body().get("data").get("ndarray").toString());
    }

    @Test
    void aModelWithoutPredictAnswersThatItDoesNotPredict() {
        Http.Answer answer = SERVED.http().post("/v2/models/transformer/infer", v2Request("x", "FP64", "[1]", "[1]"));
        assertEquals(501, answer.status(), answer.text());
        assertTrue(answer.body().get("error").asText().contains("does not implement predict"), answer.text());
    }

    @Test
    void batchingGivesJavaSeveralRequestsAtOnce() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Http.Answer>> answers = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                float value = i;
                answers.add(pool.submit(() ->
                        SERVED.http().post("/v2/models/batched/infer", v2Request("x", "FP32", "[1,1]", "[" + value + "]"))));
            }
            for (int i = 0; i < answers.size(); i++) {
                Http.Answer answer = answers.get(i).get();
                assertEquals(200, answer.status(), answer.text());
                assertEquals("[" + (float) i + "]", answer.body().get("outputs").get(0).get("data").toString());
            }
        } finally {
            pool.shutdown();
        }
        assertTrue(BATCHED.largestBatch.get() > 1, "largest batch " + BATCHED.largestBatch.get());
    }

    @Test
    void unknownModelIs404() {
        assertEquals(404, SERVED.http().post("/v2/models/nope/infer", v2Request("x", "FP32", "[1]", "[1]")).status());
    }

    @Test
    void aTakenPortIsAStartupError() {
        ServerException error = assertThrows(ServerException.class, () -> Server.builder()
                .host("127.0.0.1")
                .httpPort(SERVED.server().httpPort())
                .grpcPort(Http.freePort())
                .model("m", new Models.Echo())
                .start());
        assertTrue(error.getMessage().contains(String.valueOf(SERVED.server().httpPort())), error.getMessage());
    }

    @Test
    void aModelWithNoOperationIsAStartupErrorNamingIt() {
        ServerException error = assertThrows(ServerException.class,
                () -> Server.builder().model("m", new Models.Nothing()).start());
        assertTrue(error.getMessage().contains("io.oxserve.Models$Nothing"), error.getMessage());
    }

    @Test
    void aFailedLoadIsAStartupErrorNamingTheModel() {
        ServerException error = assertThrows(ServerException.class,
                () -> Server.builder().model("m", new Models.Unloadable()).start());
        assertTrue(error.getMessage().contains("model 'm'"), error.getMessage());
        assertTrue(error.getMessage().contains("weights.bin: no such file"), error.getMessage());
    }
}
