package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runner's options and its start-up errors. */
class RunnerTest {
    @Test
    void servesAModelClassNamedOnTheCommandLine() {
        int http = Http.freePort();
        String[] args = {"--model-class", "io.oxserve.Models$Doubler", "--model-name", "twice", "--host", "127.0.0.1",
            "--http-port", String.valueOf(http), "--log-level", "warn"};
        try (Server server = Runner.start(args, Map.of("OXSERVE_GRPC_PORT", String.valueOf(Http.freePort())))) {
            Http.Answer answer = new Http(server.httpPort()).post("/v2/models/twice/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[4]}]}");
            assertEquals(200, answer.status(), answer.text());
            assertEquals("[8.0]", answer.body().get("outputs").get(0).get("data").toString());
        }
    }

    @Test
    void servesAGraphFile(@TempDir Path folder) throws IOException {
        Path graph = Files.writeString(folder.resolve("sum.yaml"),
                "graph: {name: sum, implementation: JAVA, class: " + GraphUnits.Sum.class.getName() + "}\n");
        String[] args = {"--graph", graph.toString(), "--host", "127.0.0.1", "--http-port", String.valueOf(Http.freePort()),
            "--grpc-port", String.valueOf(Http.freePort()), "--log-level", "warn"};
        try (Server server = Runner.start(args, Map.of())) {
            // The graph is named after its file when the file names it not.
            Http.Answer answer = new Http(server.httpPort()).post("/v2/models/sum/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[4,5]}]}");
            assertEquals(200, answer.status(), answer.text());
            assertEquals("[9.0]", answer.body().get("outputs").get(0).get("data").toString());
        }
    }

    @Test
    void aGraphTakesNoModelOptions() {
        IllegalArgumentException both = assertThrows(IllegalArgumentException.class, () -> Runner.start(
                new String[] {"--graph", "g.yaml", "--model-class", "io.oxserve.Models$Doubler"}, Map.of()));
        assertEquals("--graph and --model-class exclude each other: serve a graph file or one model class",
                both.getMessage());
        IllegalArgumentException batching = assertThrows(IllegalArgumentException.class,
                () -> Runner.start(new String[] {"--max-batch-size", "8"}, Map.of("OXSERVE_GRAPH", "g.yaml")));
        assertEquals("--max-batch-size applies to --model-class, not to --graph, whose file declares its units",
                batching.getMessage());
    }

    @Test
    void aClassThatIsNeitherAModelNorASeldonServiceIsAStartupErrorNamingIt() {
        ServerException error = assertThrows(ServerException.class,
                () -> Runner.start(new String[] {"--model-class", "java.lang.StringBuilder"}, Map.of()));
        assertEquals("model class java.lang.StringBuilder implements neither io.oxserve.Model nor "
                + "io.oxserve.seldon.SeldonPredictionService", error.getMessage());
    }

    @Test
    void aMissingClassIsAStartupErrorNamingIt() {
        ServerException error = assertThrows(ServerException.class,
                () -> Runner.start(new String[] {"--model-class", "com.example.Nope"}, Map.of()));
        assertTrue(error.getMessage().contains("com.example.Nope is not on the class path"), error.getMessage());
    }

    @Test
    void aMissingClasspathEntryIsAStartupError() {
        ServerException error = assertThrows(ServerException.class, () -> Runner.start(
                new String[] {"--model-class", "com.example.Nope", "--classpath", "no/such/model.jar"}, Map.of()));
        assertTrue(error.getMessage().contains("no/such/model.jar does not exist"), error.getMessage());
    }

    @Test
    void badOptionsAreNamed() {
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> Runner.start(new String[] {"--model-clas", "x"}, Map.of()));
        assertTrue(unknown.getMessage().startsWith("unknown option --model-clas"), unknown.getMessage());
        IllegalArgumentException port = assertThrows(IllegalArgumentException.class, () -> Runner.start(
                new String[] {"--model-class", "io.oxserve.Models$Doubler", "--http-port=eighty"}, Map.of()));
        assertEquals("--http-port: 'eighty' is not a whole number", port.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Runner.start(new String[] {}, Map.of()));
    }
}
