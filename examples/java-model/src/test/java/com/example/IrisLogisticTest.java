package com.example;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.oxserve.InferenceRequest;
import io.oxserve.InferenceResponse;
import io.oxserve.Tensor;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The model and its labels on their own, served by the README's command, and in the java-chain graph. */
class IrisLogisticTest {
    private static final float[] ROWS = {5.1f, 3.5f, 1.4f, 0.2f, 6.0f, 2.7f, 4.2f, 1.3f, 6.7f, 3.0f, 5.2f, 2.3f};

    @Test
    void classifiesOneFlowerOfEachSpecies() throws Exception {
        IrisLogistic model = new IrisLogistic();
        model.load();
        float[] p = model.predict(InferenceRequest.of("iris", Tensor.ofFloats("x", new long[] {3, 4}, ROWS)))
                .output("probabilities").orElseThrow().floats();
        for (int row = 0; row < 3; row++) {
            assertEquals(row, argmax(p, row), "row " + row);
        }
    }

    @Test
    void theRunnerServesTheModelOverV2AndSeldon() throws Exception {
        int http = freePort();
        Process server = new ProcessBuilder("java", "-jar", System.getProperty("oxserve.jar"),
                "--classpath", Path.of("target", "classes").toString(), "--model-class", "com.example.IrisLogistic",
                "--model-name", "iris", "--host", "127.0.0.1", "--http-port", String.valueOf(http),
                "--grpc-port", String.valueOf(freePort()), "--log-level", "warn")
                .inheritIO()
                .start();
        try {
            HttpClient client = HttpClient.newHttpClient();
            waitUntilReady(client, http);
            String v2 = post(client, http, "/v2/models/iris/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[6.7,3.0,5.2,2.3]}]}");
            assertTrue(v2.contains("\"name\":\"probabilities\""), v2);
            String seldon = post(client, http, "/api/v1.0/predictions", "{\"data\":{\"ndarray\":[[5.1,3.5,1.4,0.2]]}}");
            assertTrue(seldon.contains("\"ndarray\":[[0.98"), seldon);
        } finally {
            server.destroy();
            // SIGTERM drains the server, then the JVM exits with its usual status for SIGTERM.
            assertEquals(143, server.waitFor());
        }
    }

    @Test
    void labelsNameTheMostProbableSpecies() {
        IrisLabels labels = new IrisLabels(Map.of("species", List.of("a", "b", "c")));
        InferenceResponse answer = labels.transformOutput(InferenceResponse.of(
                Tensor.ofFloats("probabilities", new long[] {2, 3}, new float[] {0.1f, 0.7f, 0.2f, 0.6f, 0.3f, 0.1f})));
        assertArrayEquals(new String[] {"b", "a"}, answer.output("species").orElseThrow().strings());
        assertEquals(2, answer.outputs().size());
    }

    @Test
    void theRunnerServesTheJavaChainGraph() throws Exception {
        int http = freePort();
        Process server = new ProcessBuilder("java", "-jar", System.getProperty("oxserve.jar"),
                "--graph", Path.of("..", "graphs", "java-chain.yaml").toString(), "--host", "127.0.0.1",
                "--http-port", String.valueOf(http), "--grpc-port", String.valueOf(freePort()), "--log-level", "warn")
                .inheritIO()
                .start();
        try {
            HttpClient client = HttpClient.newHttpClient();
            waitUntilReady(client, http);
            String v2 = post(client, http, "/v2/models/iris-java/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[2,4],"
                            + "\"data\":[5.1,3.5,1.4,0.2,6.7,3.0,5.2,2.3]}]}");
            assertTrue(v2.contains("\"name\":\"species\",\"datatype\":\"BYTES\",\"shape\":[2],"
                    + "\"data\":[\"setosa\",\"virginica\"]"), v2);
            String seldon = post(client, http, "/api/v1.0/predictions", "{\"data\":{\"ndarray\":[[5.1,3.5,1.4,0.2]]}}");
            assertTrue(seldon.contains("\"classifier\":\"java:com.example.IrisLogistic\"")
                    && seldon.contains("\"labels\":\"java:com.example.IrisLabels\""), seldon);
        } finally {
            server.destroy();
            assertEquals(143, server.waitFor());
        }
    }

    private static int argmax(float[] p, int row) {
        int best = 0;
        for (int c = 1; c < IrisLogistic.CLASSES; c++) {
            if (p[row * IrisLogistic.CLASSES + c] > p[row * IrisLogistic.CLASSES + best]) {
                best = c;
            }
        }
        return best;
    }

    private static String post(HttpClient client, int port, String path, String body) throws Exception {
        HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), response.body());
        return response.body();
    }

    private static void waitUntilReady(HttpClient client, int port) throws Exception {
        Instant deadline = Instant.now().plus(Duration.ofSeconds(60));
        while (true) {
            try {
                HttpResponse<String> ready = client.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v2/health/ready")).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (ready.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                if (Instant.now().isAfter(deadline)) {
                    throw e;
                }
            }
            Thread.sleep(100);
        }
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
