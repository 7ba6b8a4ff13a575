package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.ByteString;
import com.google.protobuf.ListValue;
import com.google.protobuf.TextFormat;
import com.google.protobuf.Value;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.oxserve.seldon.SeldonModel;
import io.oxserve.seldon.SeldonPredictionService;
import io.seldon.protos.PredictionProtos.DefaultData;
import io.seldon.protos.PredictionProtos.Meta;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.SeldonMessageList;
import io.seldon.protos.PredictionProtos.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.tensorflow.framework.TensorProto;
import org.tensorflow.framework.TensorShapeProto;

/** Classes written for Seldon's Java wrapper contract, served through {@link SeldonModel} and called over Seldon REST and gRPC. */
class SeldonAdapterTest {
    /**
     * A Seldon-style model: multiplies numbers by ten (answering in the form it was given),
     * prefixes the column names with {@code score_}, upper-cases strData, adds a key to jsonData,
     * and tags its answers; the request's meta is copied into the answer, as Seldon examples do.
     */
    public static final class Scorer implements SeldonPredictionService {
        @Override
        public SeldonMessage predict(SeldonMessage request) {
            Meta meta = request.getMeta().toBuilder()
                    .putTags("scorer", Value.newBuilder().setStringValue("java").build())
                    .build();
            SeldonMessage.Builder answer = SeldonMessage.newBuilder().setMeta(meta);
            if (request.hasStrData()) {
                return answer.setStrData(request.getStrData().toUpperCase(java.util.Locale.ROOT)).build();
            }
            if (request.hasJsonData()) {
                Value json = request.getJsonData();
                return answer.setJsonData(Value.newBuilder().setStructValue(json.getStructValue().toBuilder()
                        .putFields("scored", Value.newBuilder().setBoolValue(true).build()))).build();
            }
            DefaultData data = request.getData();
            DefaultData.Builder out = DefaultData.newBuilder();
            for (String name : data.getNamesList()) {
                out.addNames("score_" + name);
            }
            if (data.hasTensor()) {
                Tensor.Builder tensor = Tensor.newBuilder().addAllShape(data.getTensor().getShapeList());
                data.getTensor().getValuesList().forEach(v -> tensor.addValues(v * 10));
                out.setTensor(tensor);
            } else {
                out.setNdarray(times10(data.getNdarray()));
            }
            return answer.setData(out).build();
        }

        /** Reverses a binData payload's bytes. */
        @Override
        public SeldonMessage transformInput(SeldonMessage request) {
            byte[] bytes = request.getBinData().toByteArray();
            byte[] reversed = new byte[bytes.length];
            for (int i = 0; i < bytes.length; i++) {
                reversed[i] = bytes[bytes.length - 1 - i];
            }
            return SeldonMessage.newBuilder().setBinData(com.google.protobuf.ByteString.copyFrom(reversed)).build();
        }

        private static ListValue times10(ListValue list) {
            ListValue.Builder out = ListValue.newBuilder();
            for (Value v : list.getValuesList()) {
                out.addValues(v.hasListValue()
                        ? Value.newBuilder().setListValue(times10(v.getListValue())).build()
                        : Value.newBuilder().setNumberValue(v.getNumberValue() * 10).build());
            }
            return out.build();
        }
    }

    /**
     * A Seldon-style router and combiner: routes to child 1 when the first value is large,
     * averages its children, and keeps the rewards and routings its feedback brings.
     */
    public static final class RouterCombiner implements SeldonPredictionService {
        final List<String> feedback = java.util.Collections.synchronizedList(new ArrayList<>());

        @Override
        public SeldonMessage sendFeedback(io.seldon.protos.PredictionProtos.Feedback request) {
            feedback.add(request.getReward() + " " + request.getResponse().getMeta().getRoutingMap());
            return null;
        }

        /**
         * Reads the first value of any data form, as a Seldon router must (it gets the caller's form), and
         * answers a tftensor caller in tftensor form.
         */
        @Override
        public SeldonMessage route(SeldonMessage request) {
            DefaultData data = request.getData();
            double first;
            if (data.hasTftensor()) {
                int child = data.getTftensor().getFloatVal(0) > 5 ? 1 : 0;
                return SeldonMessage.newBuilder().setData(DefaultData.newBuilder().setTftensor(TensorProto.newBuilder()
                        .setDtype(org.tensorflow.framework.DataType.DT_INT32).addIntVal(child))).build();
            } else if (data.hasNdarray()) {
                Value value = data.getNdarray().getValues(0);
                while (value.hasListValue()) {
                    value = value.getListValue().getValues(0);
                }
                first = value.getNumberValue();
            } else {
                first = data.getTensor().getValues(0);
            }
            int child = first > 5 ? 1 : 0;
            return SeldonMessage.newBuilder().setData(DefaultData.newBuilder()
                    .setTensor(Tensor.newBuilder().addShape(1).addShape(1).addValues(child))).build();
        }

        @Override
        public SeldonMessage aggregate(SeldonMessageList request) {
            List<Double> sum = new ArrayList<>(request.getSeldonMessages(0).getData().getTensor().getValuesList());
            for (SeldonMessage message : request.getSeldonMessagesList().subList(1, request.getSeldonMessagesCount())) {
                for (int i = 0; i < sum.size(); i++) {
                    sum.set(i, sum.get(i) + message.getData().getTensor().getValues(i));
                }
            }
            Tensor.Builder mean = Tensor.newBuilder().addAllShape(request.getSeldonMessages(0).getData().getTensor().getShapeList());
            sum.forEach(v -> mean.addValues(v / request.getSeldonMessagesCount()));
            return SeldonMessage.newBuilder().setData(DefaultData.newBuilder().setTensor(mean)).build();
        }
    }

    /**
     * A Seldon-style class that, like many written for Seldon's wrapper, reads only the data form
     * its callers send: it echoes the request, tagged {@code form} with what
     * {@code hasNdarray()}/{@code hasTensor()} say, and a tftensor with the proto it got (in
     * protobuf's text form, tag {@code tftensor}).
     */
    public static final class FormProbe implements SeldonPredictionService {
        @Override
        public SeldonMessage predict(SeldonMessage request) {
            DefaultData data = request.getData();
            String form = data.hasNdarray() ? "ndarray" : data.hasTensor() ? "tensor" : data.getDataOneofCase().name();
            Meta.Builder meta = request.getMeta().toBuilder().putTags("form", Value.newBuilder().setStringValue(form).build());
            if (data.hasTftensor()) {
                meta.putTags("tftensor", Value.newBuilder()
                        .setStringValue(TextFormat.shortDebugString(data.getTftensor())).build());
            }
            return request.toBuilder().setMeta(meta).build();
        }

        @Override
        public SeldonMessage transformOutput(SeldonMessage request) {
            return predict(request);
        }
    }

    /**
     * A Seldon-style class that answers {@code data.tftensor}: the request's first string (a
     * tftensor's {@code string_val} or an ndarray's) names the answer.
     */
    public static final class TfAnswerer implements SeldonPredictionService {
        @Override
        public SeldonMessage predict(SeldonMessage request) {
            DefaultData data = request.getData();
            String kind = data.hasTftensor() ? data.getTftensor().getStringVal(0).toStringUtf8()
                    : data.getNdarray().getValues(0).getStringValue();
            TensorProto.Builder answer = switch (kind) {
                case "int64" -> tf(org.tensorflow.framework.DataType.DT_INT64, 2).addInt64Val(1).addInt64Val(-2);
                case "content" -> {
                    ByteBuffer content = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(0.5f).putFloat(-1f);
                    yield tf(org.tensorflow.framework.DataType.DT_FLOAT, 1, 2).setTensorContent(ByteString.copyFrom(content.array()));
                }
                // Fewer values than elements: the last one repeats, as in tf.make_ndarray.
                case "uint8" -> tf(org.tensorflow.framework.DataType.DT_UINT8, 3).addIntVal(7).addIntVal(255);
                case "strings" -> tf(org.tensorflow.framework.DataType.DT_STRING, 2)
                        .addStringVal(ByteString.copyFromUtf8("x")).addStringVal(ByteString.copyFromUtf8("ÿ"));
                case "half" -> tf(org.tensorflow.framework.DataType.DT_HALF, 1).addHalfVal(0x3C00);
                case "complex" -> tf(org.tensorflow.framework.DataType.DT_COMPLEX64, 1).addScomplexVal(1).addScomplexVal(2);
                case "int8-overflow" -> tf(org.tensorflow.framework.DataType.DT_INT8, 1).addIntVal(200);
                case "too-few-bytes" -> tf(org.tensorflow.framework.DataType.DT_INT32, 2).setTensorContent(ByteString.copyFrom(new byte[4]));
                default -> throw new IllegalArgumentException(kind);
            };
            return SeldonMessage.newBuilder().setData(DefaultData.newBuilder().addNames("out").setTftensor(answer)).build();
        }

        private static TensorProto.Builder tf(org.tensorflow.framework.DataType dtype, long... shape) {
            TensorShapeProto.Builder dims = TensorShapeProto.newBuilder();
            for (long size : shape) {
                dims.addDim(TensorShapeProto.Dim.newBuilder().setSize(size));
            }
            return TensorProto.newBuilder().setDtype(dtype).setTensorShape(dims);
        }
    }

    private static final RouterCombiner ROUTER = new RouterCombiner();

    @RegisterExtension
    static final TestServers SERVED = TestServers.serving(builder -> builder
            .defaultModel("scorer")
            .model("scorer", new SeldonModel(new Scorer()))
            .model("router", new SeldonModel(new RouterCombiner()))
            .model("probe", new SeldonModel(new FormProbe()))
            .model("tf", new SeldonModel(new TfAnswerer())));

    @Test
    void ndarrayWithNamesAndTagsOverRest() {
        Http.Answer answer = SERVED.http().post("/api/v1.0/predictions",
                "{\"meta\":{\"puid\":\"p-1\",\"tags\":{\"caller\":\"rest\",\"n\":3}},\"data\":{\"names\":[\"a\",\"b\"],\"ndarray\":[[1,2.5]]}}");
        assertEquals(200, answer.status(), answer.text());
        JsonNode body = answer.body();
        assertEquals("[[10.0,25.0]]", body.get("data").get("ndarray").toString(), answer.text());
        assertEquals("[\"score_a\",\"score_b\"]", body.get("data").get("names").toString());
        assertEquals("p-1", body.get("meta").get("puid").asText());
        assertEquals("rest", body.get("meta").get("tags").get("caller").asText());
        assertEquals("3", body.get("meta").get("tags").get("n").toString(), "a whole-number tag keeps its form");
        assertEquals("java", body.get("meta").get("tags").get("scorer").asText());
    }

    @Test
    void tensorOverRest() {
        Http.Answer answer = SERVED.http().post("/api/v1.0/predictions",
                "{\"data\":{\"names\":[\"x\"],\"tensor\":{\"shape\":[2,1],\"values\":[1,-2]}}}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("{\"shape\":[2,1],\"values\":[10.0,-20.0]}", answer.body().get("data").get("tensor").toString());
        assertEquals("[\"score_x\"]", answer.body().get("data").get("names").toString());
    }

    @Test
    void strDataAndJsonDataOverRest() {
        Http.Answer str = SERVED.http().post("/api/v1.0/predictions", "{\"strData\":\"hello\"}");
        assertEquals(200, str.status(), str.text());
        assertEquals("HELLO", str.body().get("strData").asText(), str.text());
        Http.Answer json = SERVED.http().post("/api/v1.0/predictions", "{\"jsonData\":{\"q\":[1,\"two\",null]}}");
        assertEquals(200, json.status(), json.text());
        assertEquals("{\"q\":[1,\"two\",null],\"scored\":true}", json.body().get("jsonData").toString());
    }

    @Test
    void binDataThroughATransformInputOverRest() {
        String payload = java.util.Base64.getEncoder().encodeToString(new byte[] {1, 2, (byte) 255});
        Http.Answer answer = SERVED.http().post("/transform-input", "{\"binData\":\"" + payload + "\"}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals(java.util.Base64.getEncoder().encodeToString(new byte[] {(byte) 255, 2, 1}),
                answer.body().get("binData").asText(), answer.text());
    }

    private static SeldonMessage grpcPredict(SeldonMessage request) throws Exception {
        return grpcPredict(SERVED.channel(), request);
    }

    /** Seldon's gRPC Predict on the served model {@code model} (named in the {@code seldon} header). */
    private static SeldonMessage grpcPredict(String model, SeldonMessage request) throws Exception {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("seldon", Metadata.ASCII_STRING_MARSHALLER), model);
        return grpcPredict(ClientInterceptors.intercept(SERVED.channel(), MetadataUtils.newAttachHeadersInterceptor(headers)),
                request);
    }

    private static SeldonMessage grpcPredict(Channel to, SeldonMessage request) throws Exception {
        byte[] answer = ClientCalls.blockingUnaryCall(to, Protobuf.unary("seldon.protos.Model", "Predict"),
                CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS), request.toByteArray());
        return SeldonMessage.parseFrom(answer);
    }

    @Test
    void tensorAndNdarrayWithNamesAndTagsOverGrpc() throws Exception {
        Meta meta = Meta.newBuilder().setPuid("p-2").putTags("caller", Value.newBuilder().setStringValue("grpc").build()).build();
        SeldonMessage tensor = grpcPredict(SeldonMessage.newBuilder().setMeta(meta).setData(DefaultData.newBuilder()
                .addNames("a").setTensor(Tensor.newBuilder().addShape(1).addShape(1).addValues(4))).build());
        assertEquals(List.of(40.0), tensor.getData().getTensor().getValuesList());
        assertEquals(List.of("score_a"), tensor.getData().getNamesList());
        assertEquals("grpc", tensor.getMeta().getTagsOrThrow("caller").getStringValue());
        assertEquals("java", tensor.getMeta().getTagsOrThrow("scorer").getStringValue());
        assertEquals("p-2", tensor.getMeta().getPuid());

        ListValue row = ListValue.newBuilder().addValues(Value.newBuilder().setNumberValue(0.5)).build();
        SeldonMessage ndarray = grpcPredict(SeldonMessage.newBuilder().setMeta(meta).setData(DefaultData.newBuilder()
                .addNames("b").setNdarray(ListValue.newBuilder().addValues(Value.newBuilder().setListValue(row)))).build());
        assertTrue(ndarray.getData().hasNdarray(), ndarray.toString());
        assertEquals(5.0, ndarray.getData().getNdarray().getValues(0).getListValue().getValues(0).getNumberValue());
        assertEquals(List.of("score_b"), ndarray.getData().getNamesList());
        assertEquals("java", ndarray.getMeta().getTagsOrThrow("scorer").getStringValue());

        SeldonMessage str = grpcPredict(SeldonMessage.newBuilder().setStrData("grpc text").build());
        assertEquals("GRPC TEXT", str.getStrData());
    }

    @Test
    void numbersReachTheClassInTheCallersDataFormOverRestAndGrpc() throws Exception {
        Server single = TestServers.local()
                .model("probe", new SeldonModel(new FormProbe()))
                .start();
        ManagedChannel own = TestServers.channel(single);
        try (single) {
            Http rest = new Http(single.httpPort());
            Http.Answer ndarray = rest.post("/api/v1.0/predictions", "{\"data\":{\"names\":[\"a\",\"b\"],\"ndarray\":[[1,2.5],[3,4]]}}");
            assertEquals(200, ndarray.status(), ndarray.text());
            assertEquals("ndarray", ndarray.body().get("meta").get("tags").get("form").asText(), ndarray.text());
            assertEquals("[[1.0,2.5],[3.0,4.0]]", ndarray.body().get("data").get("ndarray").toString());
            assertEquals("[\"a\",\"b\"]", ndarray.body().get("data").get("names").toString());
            Http.Answer tensor = rest.post("/api/v1.0/predictions", "{\"data\":{\"tensor\":{\"shape\":[1,2],\"values\":[5,6]}}}");
            assertEquals(200, tensor.status(), tensor.text());
            assertEquals("tensor", tensor.body().get("meta").get("tags").get("form").asText(), tensor.text());
            assertEquals("{\"shape\":[1,2],\"values\":[5.0,6.0]}", tensor.body().get("data").get("tensor").toString());
            Http.Answer output = rest.post("/transform-output", "{\"data\":{\"ndarray\":[9]}}");
            assertEquals(200, output.status(), output.text());
            assertEquals("ndarray", output.body().get("meta").get("tags").get("form").asText(), output.text());
            assertEquals("[9.0]", output.body().get("data").get("ndarray").toString());

            ListValue row = ListValue.newBuilder().addValues(Value.newBuilder().setNumberValue(7))
                    .addValues(Value.newBuilder().setNumberValue(-8)).build();
            SeldonMessage grpcNdarray = grpcPredict(own, SeldonMessage.newBuilder().setData(DefaultData.newBuilder()
                    .setNdarray(ListValue.newBuilder().addValues(Value.newBuilder().setListValue(row)))).build());
            assertEquals("ndarray", grpcNdarray.getMeta().getTagsOrThrow("form").getStringValue(), grpcNdarray.toString());
            assertEquals(row, grpcNdarray.getData().getNdarray().getValues(0).getListValue());
            SeldonMessage grpcTensor = grpcPredict(own, SeldonMessage.newBuilder().setData(DefaultData.newBuilder()
                    .setTensor(Tensor.newBuilder().addShape(2).addValues(1).addValues(2))).build());
            assertEquals("tensor", grpcTensor.getMeta().getTagsOrThrow("form").getStringValue(), grpcTensor.toString());
            assertEquals(List.of(1.0, 2.0), grpcTensor.getData().getTensor().getValuesList());
        } finally {
            TestServers.close(own);
        }
    }

    /** Seldon REST's predict on the served model {@code model}. */
    private static Http.Answer restPredict(String model, String body) {
        return SERVED.http().post("/seldon/test/" + model + "/api/v1.0/predictions", body);
    }

    /** A REST {@code data.tftensor} of one string, base64-encoded as proto3 JSON writes bytes. */
    private static String stringTftensor(String value) {
        return "{\"data\":{\"tftensor\":{\"dtype\":\"DT_STRING\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"}]},\"stringVal\":[\""
                + Base64.getEncoder().encodeToString(value.getBytes(StandardCharsets.UTF_8)) + "\"]}}}";
    }

    @Test
    void tftensorRequestsReachTheClassAsTftensorsOfTheirDtypeOverRest() throws Exception {
        // Each request's tftensor (canonical proto3 JSON, as the server writes it), and the proto the class must see.
        // The echo comes back as the caller sent it, except booleans and strings, which the server answers as
        // data.ndarray whatever the caller's form.
        Map<String, String> ndarrayAnswers = Map.of("DT_BOOL", "[true,false]", "DT_STRING", "[\"hé\"]");
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("{\"dtype\":\"DT_FLOAT\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"},{\"size\":\"2\"}]},\"floatVal\":[1.5,2.5]}",
                "dtype: DT_FLOAT tensor_shape { dim { size: 1 } dim { size: 2 } } float_val: 1.5 float_val: 2.5");
        cases.put("{\"dtype\":\"DT_DOUBLE\",\"tensorShape\":{\"dim\":[{\"size\":\"2\"}]},\"doubleVal\":[0.25,-3.0]}",
                "dtype: DT_DOUBLE tensor_shape { dim { size: 2 } } double_val: 0.25 double_val: -3.0");
        cases.put("{\"dtype\":\"DT_INT8\",\"tensorShape\":{\"dim\":[{\"size\":\"2\"}]},\"intVal\":[-3,4]}",
                "dtype: DT_INT8 tensor_shape { dim { size: 2 } } int_val: -3 int_val: 4");
        cases.put("{\"dtype\":\"DT_UINT16\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"}]},\"intVal\":[65535]}",
                "dtype: DT_UINT16 tensor_shape { dim { size: 1 } } int_val: 65535");
        cases.put("{\"dtype\":\"DT_INT32\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"}]},\"intVal\":[-2147483648]}",
                "dtype: DT_INT32 tensor_shape { dim { size: 1 } } int_val: -2147483648");
        cases.put("{\"dtype\":\"DT_INT64\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"}]},\"int64Val\":[\"9007199254740993\"]}",
                "dtype: DT_INT64 tensor_shape { dim { size: 1 } } int64_val: 9007199254740993");
        cases.put("{\"dtype\":\"DT_BOOL\",\"tensorShape\":{\"dim\":[{\"size\":\"2\"}]},\"boolVal\":[true,false]}",
                "dtype: DT_BOOL tensor_shape { dim { size: 2 } } bool_val: true bool_val: false");
        cases.put("{\"dtype\":\"DT_STRING\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"}]},\"stringVal\":[\"aMOp\"]}",
                "dtype: DT_STRING tensor_shape { dim { size: 1 } } string_val: \"h\\303\\251\"");
        cases.put("{\"dtype\":\"DT_HALF\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"}]},\"halfVal\":[15360]}",
                "dtype: DT_HALF tensor_shape { dim { size: 1 } } half_val: 15360");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Http.Answer answer = restPredict("probe", "{\"data\":{\"names\":[\"a\"],\"tftensor\":" + c.getKey() + "}}");
            assertEquals(200, answer.status(), c.getKey() + ": " + answer.text());
            JsonNode tags = answer.body().get("meta").get("tags");
            assertEquals("TFTENSOR", tags.get("form").asText(), answer.text());
            assertEquals(c.getValue(), tags.get("tftensor").asText(), "what the class got for " + c.getKey());
            String dtype = Http.JSON.readTree(c.getKey()).get("dtype").asText();
            if (ndarrayAnswers.containsKey(dtype)) {
                assertEquals(ndarrayAnswers.get(dtype), answer.body().get("data").get("ndarray").toString(), answer.text());
            } else {
                assertEquals(Http.JSON.readTree(c.getKey()), answer.body().get("data").get("tftensor"),
                        "the echo comes back as the caller sent it: " + answer.text());
            }
            assertEquals("[\"a\"]", answer.body().get("data").get("names").toString());
        }
    }

    @Test
    void tftensorRequestsReachTheClassAsTftensorsOverGrpc() throws Exception {
        TensorProto sent = TensorProto.newBuilder().setDtype(org.tensorflow.framework.DataType.DT_FLOAT)
                .setTensorShape(TensorShapeProto.newBuilder()
                        .addDim(TensorShapeProto.Dim.newBuilder().setSize(1))
                        .addDim(TensorShapeProto.Dim.newBuilder().setSize(2)))
                .addFloatVal(1.5f).addFloatVal(2.5f).build();
        SeldonMessage answer = grpcPredict("probe", SeldonMessage.newBuilder()
                .setData(DefaultData.newBuilder().setTftensor(sent)).build());
        assertEquals(TextFormat.shortDebugString(sent), answer.getMeta().getTagsOrThrow("tftensor").getStringValue(),
                "the class gets the caller's proto");
        TensorProto back = answer.getData().getTftensor();
        assertEquals(org.tensorflow.framework.DataType.DT_FLOAT, back.getDtype(), answer.toString());
        assertEquals(sent.getTensorShape(), back.getTensorShape());
        ByteBuffer content = back.getTensorContent().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(8, content.remaining(), answer.toString());
        assertEquals(1.5f, content.getFloat());
        assertEquals(2.5f, content.getFloat());
    }

    @Test
    void aClassMayAnswerTftensorOverRestV2AndGrpc() throws Exception {
        // Seldon REST, tftensor caller: the answer's dtype, shape and values in tftensor form.
        Map<String, String> rest = new java.util.LinkedHashMap<>();
        rest.put("int64", "{\"dtype\":\"DT_INT64\",\"tensorShape\":{\"dim\":[{\"size\":\"2\"}]},\"int64Val\":[\"1\",\"-2\"]}");
        rest.put("content", "{\"dtype\":\"DT_FLOAT\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"},{\"size\":\"2\"}]},\"floatVal\":[0.5,-1.0]}");
        rest.put("uint8", "{\"dtype\":\"DT_UINT8\",\"tensorShape\":{\"dim\":[{\"size\":\"3\"}]},\"intVal\":[7,255,255]}");
        rest.put("half", "{\"dtype\":\"DT_HALF\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"}]},\"halfVal\":[15360]}");
        for (Map.Entry<String, String> c : rest.entrySet()) {
            Http.Answer answer = restPredict("tf", stringTftensor(c.getKey()));
            assertEquals(200, answer.status(), c.getKey() + ": " + answer.text());
            assertEquals(Http.JSON.readTree(c.getValue()), answer.body().get("data").get("tftensor"), c.getKey() + ": " + answer.text());
            assertEquals("[\"out\"]", answer.body().get("data").get("names").toString());
        }
        // Strings, as the server answers them to every caller: data.ndarray.
        Http.Answer strings = restPredict("tf", stringTftensor("strings"));
        assertEquals(200, strings.status(), strings.text());
        assertEquals("[\"x\",\"ÿ\"]", strings.body().get("data").get("ndarray").toString(), strings.text());

        // An ndarray caller gets the tftensor answer as its ndarray.
        Http.Answer ndarray = restPredict("tf", "{\"data\":{\"ndarray\":[\"int64\"]}}");
        assertEquals(200, ndarray.status(), ndarray.text());
        assertEquals("[1,-2]", ndarray.body().get("data").get("ndarray").toString(), ndarray.text());

        // V2: the tftensor's dtype as the output's datatype.
        Map<String, String> v2 = Map.of(
                "int64", "{\"datatype\":\"INT64\",\"shape\":[2],\"data\":[1,-2]}",
                "content", "{\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[0.5,-1.0]}",
                "uint8", "{\"datatype\":\"UINT8\",\"shape\":[3],\"data\":[7,255,255]}",
                "strings", "{\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"x\",\"ÿ\"]}");
        for (Map.Entry<String, String> c : v2.entrySet()) {
            Http.Answer answer = SERVED.http().post("/v2/models/tf/infer",
                    "{\"inputs\":[{\"name\":\"kind\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"" + c.getKey() + "\"]}]}");
            assertEquals(200, answer.status(), c.getKey() + ": " + answer.text());
            JsonNode output = answer.body().get("outputs").get(0);
            JsonNode expected = Http.JSON.readTree(c.getValue());
            for (String field : List.of("datatype", "shape", "data")) {
                assertEquals(expected.get(field), output.get(field), c.getKey() + " " + field + ": " + answer.text());
            }
        }

        // gRPC: the answer in tensor_content, little-endian.
        SeldonMessage grpc = grpcPredict("tf", SeldonMessage.newBuilder().setData(DefaultData.newBuilder()
                .setTftensor(TensorProto.newBuilder().setDtype(org.tensorflow.framework.DataType.DT_STRING)
                        .setTensorShape(TensorShapeProto.newBuilder().addDim(TensorShapeProto.Dim.newBuilder().setSize(1)))
                        .addStringVal(ByteString.copyFromUtf8("int64")))).build());
        TensorProto int64 = grpc.getData().getTftensor();
        assertEquals(org.tensorflow.framework.DataType.DT_INT64, int64.getDtype(), grpc.toString());
        assertEquals(List.of(2L), int64.getTensorShape().getDimList().stream().map(TensorShapeProto.Dim::getSize).toList());
        ByteBuffer content = int64.getTensorContent().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(16, content.remaining(), grpc.toString());
        assertEquals(1L, content.getLong());
        assertEquals(-2L, content.getLong());
    }

    @Test
    void aTftensorAnswerTheAdapterCannotReadIsA500NamingWhy() {
        Map<String, String> cases = Map.of(
                "complex", "data.tftensor.dtype: DT_COMPLEX64 is not supported",
                "int8-overflow", "data.tftensor.intVal[0]: 200 is out of range for DT_INT8",
                "too-few-bytes", "data.tftensor.tensorContent: 2 elements of DT_INT32 need 8 bytes, got 4");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Http.Answer answer = restPredict("tf", stringTftensor(c.getKey()));
            assertEquals(500, answer.status(), c.getKey() + ": " + answer.text());
            assertTrue(answer.text().contains(c.getValue()), c.getKey() + ": " + answer.text());
        }
    }

    @Test
    void routeAggregateAndFeedbackOverRest() {
        Server single = TestServers.local()
                .model("router", new SeldonModel(ROUTER))
                .start();
        try (single) {
            Http own = new Http(single.httpPort());
            Http.Answer high = own.post("/route", "{\"data\":{\"tensor\":{\"shape\":[1,1],\"values\":[9]}}}");
            assertEquals(200, high.status(), high.text());
            assertEquals("[1]", high.body().get("data").get("tensor").get("values").toString(), high.text());
            Http.Answer low = own.post("/route", "{\"data\":{\"ndarray\":[[2]]}}");
            assertEquals("[[0]]", low.body().get("data").get("ndarray").toString(), low.text());
            Http.Answer tf = own.post("/route", "{\"data\":{\"tftensor\":{\"dtype\":\"DT_FLOAT\",\"floatVal\":[9]}}}");
            assertEquals(200, tf.status(), tf.text());
            // The class answered a scalar DT_INT32 tftensor; the server answers the child it read as Seldon does.
            assertEquals("{\"dtype\":\"DT_INT64\",\"tensorShape\":{\"dim\":[{\"size\":\"1\"},{\"size\":\"1\"}]},\"int64Val\":[\"1\"]}",
                    tf.body().get("data").get("tftensor").toString(), tf.text());
            Http.Answer mean = own.post("/aggregate", "{\"seldonMessages\":[{\"data\":{\"tensor\":{\"shape\":[2],\"values\":[1,4]}}},"
                    + "{\"data\":{\"tensor\":{\"shape\":[2],\"values\":[3,8]}}}]}");
            assertEquals(200, mean.status(), mean.text());
            assertEquals("[2.0,6.0]", mean.body().get("data").get("tensor").get("values").toString(), mean.text());
            Http.Answer predict = own.post("/api/v1.0/predictions", "{\"data\":{\"ndarray\":[[1.0]]}}");
            assertTrue(predict.text().contains("does not implement predict"), predict.text());
            Http.Answer feedback = own.post("/send-feedback", "{\"request\":{\"data\":{\"ndarray\":[[1.0]]}},"
                    + "\"response\":{\"meta\":{\"routing\":{\"router\":1}},\"data\":{\"ndarray\":[[2.0]]}},\"reward\":0.5}");
            assertEquals(200, feedback.status(), feedback.text());
            assertEquals("[]", feedback.body().get("data").get("ndarray").toString(), "a null answer is Seldon's empty data");
            assertEquals(List.of("0.5 {router=1}"), ROUTER.feedback);
        }
    }

    @Test
    void aV2RequestWithTwoInputsIsRefusedNamingThem() {
        Http.Answer answer = SERVED.http().post("/v2/models/scorer/infer", "{\"inputs\":["
                + "{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]},"
                + "{\"name\":\"b\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[2]}]}");
        assertEquals(400, answer.status(), answer.text());
        assertTrue(answer.text().contains("a Seldon model takes one tensor, the request has 2 [a, b]"), answer.text());
    }

    @Test
    void theRunnerServesASeldonClass() {
        String[] args = {"--model-class", Scorer.class.getName(), "--host", "127.0.0.1",
            "--http-port", String.valueOf(Http.freePort()), "--grpc-port", String.valueOf(Http.freePort()), "--log-level", "warn"};
        try (Server runner = Runner.start(args, Map.of())) {
            Http.Answer answer = new Http(runner.httpPort()).post("/api/v1.0/predictions", "{\"strData\":\"via runner\"}");
            assertEquals(200, answer.status(), answer.text());
            assertEquals("VIA RUNNER", answer.body().get("strData").asText());
            assertEquals("oxserve:0.1.0", answer.body().get("meta").get("requestPath").get("Scorer").asText(),
                    "the model is named after the Seldon class: " + answer.text());
        }
    }
}
