package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Request and tensor parameters and Seldon meta reach Java, and what Java sets reaches the caller. */
class ParametersTest {
    /**
     * Answers its first input with the request's parameters under {@code seen}, the input's
     * parameters copied onto the output plus {@code scaled}, and a Seldon tag naming the puid it saw.
     */
    static final class Annotator implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            Tensor input = request.inputs().get(0);
            Map<String, Object> outputParameters = new LinkedHashMap<>(input.parameters());
            outputParameters.put("scaled", request.parameter("scale").isPresent());
            Map<String, Object> tags = new LinkedHashMap<>();
            tags.put("puid_seen", request.meta().getOrDefault("puid", "none"));
            tags.put("tags_seen", request.meta().getOrDefault("tags", Map.of()));
            return InferenceResponse.of(input.withParameters(outputParameters))
                    .withParameters(Map.of("seen", request.parameters()))
                    .withMeta(Map.of("tags", tags));
        }
    }

    /** Answers a meta that Seldon cannot carry. */
    static final class BadMeta implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            return new InferenceResponse(request.inputs()).withMeta(Map.of("colour", "blue"));
        }
    }

    @RegisterExtension
    static final TestServers SERVED = TestServers.serving(builder -> builder
            .defaultModel("annotator")
            .model("annotator", new Annotator())
            .model("badmeta", new BadMeta()));

    @Test
    void v2ParametersRoundTripThroughJava() {
        Http.Answer answer = SERVED.http().post("/v2/models/annotator/infer", "{\"parameters\":{\"scale\":2.5,\"labels\":[\"a\",\"b\"],"
                + "\"nested\":{\"n\":null,\"big\":12345678901,\"text\":\"q\\\"\\u00e9\"}},"
                + "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1],"
                + "\"parameters\":{\"unit\":\"cm\"}}]}");
        assertEquals(200, answer.status(), answer.text());
        JsonNode seen = answer.body().get("parameters").get("seen");
        assertEquals(2.5, seen.get("scale").asDouble());
        assertEquals("[\"a\",\"b\"]", seen.get("labels").toString());
        assertTrue(seen.get("nested").get("n").isNull(), seen.toString());
        assertEquals(12345678901L, seen.get("nested").get("big").asLong());
        assertEquals("q\"\u00e9", seen.get("nested").get("text").asText());
        JsonNode output = answer.body().get("outputs").get(0);
        assertEquals("cm", output.get("parameters").get("unit").asText(), output.toString());
        assertTrue(output.get("parameters").get("scaled").asBoolean(), output.toString());
    }

    @Test
    void aRequestWithoutParametersGivesJavaEmptyMaps() {
        Http.Answer answer = SERVED.http().post("/v2/models/annotator/infer",
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("{}", answer.body().get("parameters").get("seen").toString());
        assertEquals(false, answer.body().get("outputs").get(0).get("parameters").get("scaled").asBoolean());
    }

    @Test
    void seldonMetaReachesJavaAndJavasTagsJoinTheAnswer() {
        Http.Answer answer = SERVED.http().post("/api/v1.0/predictions",
                "{\"meta\":{\"puid\":\"p-42\",\"tags\":{\"caller\":\"test\"}},\"data\":{\"names\":[\"a\"],\"ndarray\":[[1.0]]}}");
        assertEquals(200, answer.status(), answer.text());
        JsonNode meta = answer.body().get("meta");
        assertEquals("p-42", meta.get("puid").asText(), meta.toString());
        assertEquals("test", meta.get("tags").get("caller").asText(), meta.toString());
        assertEquals("p-42", meta.get("tags").get("puid_seen").asText(), meta.toString());
        assertEquals("{\"caller\":\"test\"}", meta.get("tags").get("tags_seen").toString());
        assertEquals("[\"a\"]", answer.body().get("data").get("names").toString(),
                "the names Java copied onto its output answer as data.names");
    }

    @Test
    void aMetaSeldonCannotCarryIsAnErrorNamingIt() {
        Http.Answer answer = SERVED.http().post("/v2/models/badmeta/infer",
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}");
        assertEquals(500, answer.status(), answer.text());
        assertTrue(answer.text().contains("meta") && answer.text().contains("colour"), answer.text());
    }

    @Test
    void copiesKeepParametersAndMetaAndTheConstructorsOfEarlierVersionsStillWork() {
        Tensor x = Tensor.ofFloats("x", new long[] {1}, new float[] {1});
        InferenceRequest old = new InferenceRequest("id", "m", List.of(x));
        assertEquals(Map.of(), old.parameters());
        assertEquals(Map.of(), old.meta());
        InferenceRequest tagged = old.withMeta(Map.of("puid", "p")).withParameters(Map.of("tagged", true));
        assertEquals(Map.of("tagged", true), tagged.parameters());
        assertEquals(Map.of("puid", "p"), tagged.withInputs(List.of()).meta());
        assertEquals(List.of(), new InferenceResponse(List.of()).outputs());
    }

    @Test
    void jsonReaderReadsWhatSerdeWritesAndNamesWhereItStops() {
        assertEquals(Map.of("a", List.of(1L, 2.5, -3L, 1.0e3), "b", Map.of("c", true), "s", "x\ny\u00e9"),
                Json.read("{\"a\":[1,2.5,-3,1e3],\"b\":{\"c\":true},\"s\":\"x\\ny\\u00e9\"}"));
        assertEquals(1.0e20, Json.read("100000000000000000000"));
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Json.read("{\"a\":1,}"));
        assertEquals("JSON: expected a string key at character 7", error.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Json.read("[1] 2"));
        assertThrows(IllegalArgumentException.class, () -> Json.read("\"open"));
    }
}
