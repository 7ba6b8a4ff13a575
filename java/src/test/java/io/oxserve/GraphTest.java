package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Inference graphs served in this JVM ({@link Server.Builder#graph}): Java classes as units, built
 * from their node's class path, beside ONNX models, and the start-up errors that name a node.
 */
class GraphTest {
    /** A TRANSFORMER compiled by the test into a folder of its own, so only its node's classpath has it. */
    private static final String SCALE = """
            package graphtest;

            import io.oxserve.InferenceRequest;
            import io.oxserve.Model;
            import io.oxserve.Tensor;
            import java.util.List;
            import java.util.Map;

            /** Multiplies its first input (FP32, FP64 or INT64) by the parameter factor, as FP32. */
            public class Scale implements Model {
                private final float factor;

                public Scale(Map<String, Object> parameters) {
                    this.factor = ((Number) parameters.get("factor")).floatValue();
                }

                @Override
                public InferenceRequest transformInput(InferenceRequest request) {
                    Tensor x = request.inputs().get(0);
                    float[] out = new float[(int) x.elementCount()];
                    for (int i = 0; i < out.length; i++) {
                        double value = switch (x.datatype()) {
                            case FP64 -> x.doubles()[i];
                            case INT64 -> x.longs()[i];
                            default -> x.floats()[i];
                        };
                        out[i] = factor * (float) value;
                    }
                    return request.withInputs(List.of(Tensor.ofFloats(x.name(), x.shape(), out)));
                }
            }
            """;

    private static final String SUM = GraphUnits.Sum.class.getName();

    @TempDir
    static Path folder;

    @BeforeAll
    static void compileTheTransformer() throws IOException, URISyntaxException {
        Path sources = Files.createDirectories(folder.resolve("src/graphtest"));
        Files.writeString(sources.resolve("Scale.java"), SCALE);
        Path classes = Files.createDirectories(folder.resolve("scaler"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "the tests run on a JDK");
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int status = javac.run(null, null, errors, "-classpath", codeSource(Model.class).toString(),
                "-d", classes.toString(), sources.resolve("Scale.java").toString());
        assertEquals(0, status, errors.toString(StandardCharsets.UTF_8));
        assertThrows(ClassNotFoundException.class, () -> Class.forName("graphtest.Scale"),
                "the transformer is found through its node's classpath only");
    }

    @Test
    void aJavaTransformerThenAJavaModelAnswerV2AndSeldon() throws IOException, URISyntaxException {
        Path graph = write("chain.yaml", """
                name: java-chain
                graph:
                  name: scale
                  type: TRANSFORMER
                  implementation: JAVA
                  class: graphtest.Scale
                  classpath: [scaler]
                  parameters: {factor: 10}
                  children:
                    - {name: sum, implementation: JAVA, class: %s, classpath: ["%s"]}
                """.formatted(SUM, codeSource(GraphUnits.class)));
        try (Server server = TestServers.local().graph(graph).start()) {
            Http http = new Http(server.httpPort());
            Http.Answer v2 = http.post("/v2/models/java-chain/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3,4]}]}");
            assertEquals(200, v2.status(), v2.text());
            assertEquals("sum", v2.body().get("outputs").get(0).get("name").asText());
            assertEquals("[30.0,70.0]", v2.body().get("outputs").get(0).get("data").toString());

            Http.Answer seldon = http.post("/api/v1.0/predictions", "{\"data\":{\"ndarray\":[[1,2],[3,4]]}}");
            assertEquals(200, seldon.status(), seldon.text());
            assertEquals("[30.0,70.0]", seldon.body().get("data").get("ndarray").toString());
            JsonNode path = seldon.body().get("meta").get("requestPath");
            assertEquals("java:graphtest.Scale", path.get("scale").asText(), seldon.text());
            assertEquals("java:" + SUM, path.get("sum").asText(), seldon.text());
        }
    }

    @Test
    void aJavaExceptionInAUnitAnswers500NamingItAndTheGraphKeepsServing() throws IOException, URISyntaxException {
        Path graph = write("failing.yaml", """
                name: failing
                graph:
                  name: scale
                  type: TRANSFORMER
                  implementation: JAVA
                  class: graphtest.Scale
                  classpath: scaler
                  parameters: {factor: 10}
                  children:
                    - {name: sum, implementation: JAVA, class: %s}
                """.formatted(SUM));
        try (Server server = TestServers.local().graph(graph).start()) {
            Http http = new Http(server.httpPort());
            // 10 times 3e38 is beyond FP32: the sum is infinite and the model throws.
            Http.Answer failed = http.post("/v2/models/failing/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[3e38,3e38]}]}");
            assertEquals(500, failed.status(), failed.text());
            String error = failed.body().get("error").asText();
            assertTrue(error.contains("'sum'") && error.contains("java.lang.ArithmeticException: row 0 sums to Infinity"),
                    error);
            Http.Answer next = http.post("/v2/models/failing/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[1,2]}]}");
            assertEquals(200, next.status(), next.text());
            assertEquals("[30.0]", next.body().get("outputs").get(0).get("data").toString());
        }
    }

    @Test
    void aNodesParametersAreItsClassConstructorsMap() throws IOException {
        Path graph = write("parameters.yaml", """
                name: parameters
                graph:
                  name: p
                  implementation: JAVA
                  class: %s
                  parameters: {greeting: hello, rows: 3, ratio: 0.5, tags: [a, b]}
                """.formatted(GraphUnits.Parameterised.class.getName()));
        try (Server server = TestServers.local().graph(graph).start()) {
            Http.Answer answer = new Http(server.httpPort()).post("/v2/models/parameters/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}");
            assertEquals(200, answer.status(), answer.text());
            assertEquals("{\"greeting\":\"hello\",\"ratio\":0.5,\"rows\":3,\"tags\":[\"a\",\"b\"]}",
                    answer.body().get("parameters").toString());
        }
    }

    @Test
    void aJavaTransformerBeforeAnOnnxModel() throws IOException {
        assumeTrue(onnxRuntime().isPresent(), "ONNX Runtime is not installed (ORT_DYLIB_PATH or the onnxruntime "
                + "package in ../.venv): make python-develop installs it");
        Path model = folder.resolve("identity.onnx");
        Files.write(model, OnnxIdentity.model());
        Path graph = write("onnx.yaml", """
                name: java-onnx
                graph:
                  name: scale
                  type: TRANSFORMER
                  implementation: JAVA
                  class: graphtest.Scale
                  classpath: [scaler]
                  parameters: {factor: 2}
                  children:
                    - {name: identity, model: identity.onnx}
                """);
        try (Server server = TestServers.local().graph(graph).start()) {
            Http http = new Http(server.httpPort());
            Http.Answer v2 = http.post("/v2/models/java-onnx/infer",
                    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3,4]}]}");
            assertEquals(200, v2.status(), v2.text());
            assertEquals("y", v2.body().get("outputs").get(0).get("name").asText());
            assertEquals("[2.0,4.0,6.0,8.0]", v2.body().get("outputs").get(0).get("data").toString());
            Http.Answer seldon = http.post("/api/v1.0/predictions", "{\"data\":{\"ndarray\":[[1,2]]}}");
            assertEquals(200, seldon.status(), seldon.text());
            assertEquals("[[2.0,4.0]]", seldon.body().get("data").get("ndarray").toString());
            assertEquals(model.toString(), seldon.body().get("meta").get("requestPath").get("identity").asText());
        }
    }

    @Test
    void anUnknownClassStopsTheStartNamingTheNodeAndTheClass() throws IOException {
        String error = startFails("unknown.yaml", """
                graph: {name: lr, implementation: JAVA, class: com.example.Nope, classpath: [scaler]}
                """);
        assertTrue(error.contains("node 'lr': class com.example.Nope is not on the class path"), error);
    }

    @Test
    void aClassWithoutTheOperationItsNodeCallsStopsTheStart() throws IOException {
        String error = startFails("transformer.yaml", """
                graph:
                  name: t
                  type: TRANSFORMER
                  implementation: JAVA
                  class: %s
                  children: [{name: sum, implementation: JAVA, class: %s}]
                """.formatted(GraphUnits.PredictOnly.class.getName(), SUM));
        assertTrue(error.contains("node 't': class " + GraphUnits.PredictOnly.class.getName()
                + " does not implement transformInput"), error);
    }

    @Test
    void parametersForAClassWithoutAMapConstructorStopTheStart() throws IOException {
        String error = startFails("no-map.yaml", """
                graph: {name: sum, implementation: JAVA, class: %s, parameters: {factor: 2}}
                """.formatted(SUM));
        assertTrue(error.contains("node 'sum': class " + SUM + " is given the parameters [factor] but has no "
                + "constructor taking a java.util.Map<String, Object>"), error);
    }

    @Test
    void aPythonUnitCannotRunInTheJvm() throws IOException {
        String error = startFails("python.yaml", """
                graph: {name: py, implementation: PYTHON, class: MyModel}
                """);
        assertTrue(error.contains("node 'py' is the Python class MyModel, which runs in Python, not in the JVM: "
                + "serve the graph with `oxserve run`"), error);
    }

    @Test
    void aModelFolderOfAPythonServerCannotRunInTheJvm() throws IOException {
        Path forest = Files.createDirectories(folder.resolve("forest"));
        Files.writeString(forest.resolve("model-settings.json"), "{\"name\": \"forest\", \"implementation\": \"sklearn\"}");
        String error = startFails("folder.yaml", "graph: {name: forest, model: forest}\n");
        assertTrue(error.contains("node 'forest' is a model folder served by sklearn, which runs in Python"), error);
    }

    /** The message of the start's failure with the graph {@code text}. */
    private static String startFails(String file, String text) throws IOException {
        Path graph = write(file, text);
        return assertThrows(ServerException.class, () -> TestServers.local().graph(graph).start()).getMessage();
    }

    private static Path write(String name, String text) throws IOException {
        return Files.writeString(folder.resolve(name), text);
    }

    /** The folder or jar a class was loaded from. */
    private static Path codeSource(Class<?> type) throws URISyntaxException {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /** The ONNX Runtime library the server will find, as it looks for it (ORT_DYLIB_PATH, ../.venv). */
    private static Optional<Path> onnxRuntime() throws IOException {
        String explicit = System.getenv("ORT_DYLIB_PATH");
        if (explicit != null && !explicit.isEmpty()) {
            return Optional.of(Path.of(explicit)).filter(Files::exists);
        }
        List<Path> venvs = new ArrayList<>();
        Optional.ofNullable(System.getenv("VIRTUAL_ENV")).map(Path::of).ifPresent(venvs::add);
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            venvs.add(dir.resolve(".venv"));
        }
        for (Path venv : venvs) {
            Path lib = venv.resolve("lib");
            if (!Files.isDirectory(lib)) {
                continue;
            }
            try (Stream<Path> found = Files.find(lib, 5, (path, attributes) ->
                    path.getFileName().toString().startsWith("libonnxruntime.so")
                            && path.getParent().endsWith(Path.of("onnxruntime", "capi")))) {
                Optional<Path> library = found.findFirst();
                if (library.isPresent()) {
                    return library;
                }
            }
        }
        return Optional.empty();
    }
}
