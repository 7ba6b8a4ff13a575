package io.oxserve.seldon;

import com.google.protobuf.ByteString;
import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.oxserve.DataType;
import io.oxserve.Feedback;
import io.oxserve.InferenceRequest;
import io.oxserve.InferenceResponse;
import io.oxserve.Json;
import io.oxserve.ModelAdapter;
import io.oxserve.ModelException;
import io.oxserve.Tensor;
import io.seldon.protos.PredictionProtos.DefaultData;
import io.seldon.protos.PredictionProtos.Meta;
import io.seldon.protos.PredictionProtos.Metric;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.SeldonMessageList;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Serves a {@link SeldonPredictionService} as an oxserve model, whatever protocol the caller
 * uses (Seldon REST or gRPC, V2, KServe v1).
 *
 * <p>The server hands a model one tensor per Seldon payload, with {@code data.names} as the
 * tensor parameter {@code names}, {@code jsonData}/{@code strData}/{@code binData} as a
 * one-element BYTES tensor marked by the parameter {@code content_type}, and {@code meta} as
 * the request's meta. This adapter turns that back into the {@code SeldonMessage} the class
 * expects, and its answer into a tensor the same way, so the caller gets the payload kind the
 * class answered ({@code strData}, {@code jsonData}, {@code binData} or {@code data}) with the
 * class's names and meta (its tags and metrics are added to the request's).
 *
 * <p>The server answers {@code data} in the form the caller sent ({@code tensor},
 * {@code ndarray} or {@code tftensor}), and marks each message it hands a class with that form
 * (the tensor parameter {@code seldon_data_form}), so the class gets the caller's form, as
 * Seldon's wrapper passes it on: {@code data.tftensor} (a TensorFlow {@code TensorProto} of the
 * tensor's own dtype, its values in the dtype's typed list, e.g. {@code float_val} for FP32,
 * {@code int_val} for INT8 to INT32 and UINT8/UINT16, {@code string_val} for BYTES) for a tftensor
 * request, {@code data.ndarray} (nested lists of doubles) for an ndarray request, and
 * {@code data.tensor} (shape and values, doubles) otherwise. Outside tftensor, strings and
 * booleans always come as {@code data.ndarray}, 64-bit integers beyond 2^53 lose precision as
 * doubles, as they do in Seldon's tensor, and FP16 and BF16 inputs are refused. The class may
 * answer any of the three forms: a {@code tftensor} answer (typed values, or little-endian
 * {@code tensor_content} for fixed-size dtypes) keeps its dtype as the matching V2 datatype
 * (the server answers strings and booleans as {@code data.ndarray} to every caller); complex,
 * quantized, resource and variant dtypes, and {@code customData} answers, are not supported (a
 * 500 naming them).
 */
public final class SeldonModel implements ModelAdapter {
    /** The tensor parameter that holds Seldon's {@code data.names}. */
    private static final String NAMES = "names";
    /** The tensor parameter that marks a jsonData/strData/binData payload. */
    private static final String CONTENT_TYPE = "content_type";
    /**
     * The tensor parameter in which the server names the {@code data} form the caller sent
     * (the Rust server's {@code DATA_FORM_PARAMETER}); read here and not passed on, since a
     * {@code SeldonMessage} has no tensor parameters.
     */
    private static final String DATA_FORM = "seldon_data_form";
    /** The {@link #DATA_FORM} value of a {@code data.ndarray} request. */
    private static final String NDARRAY_FORM = "data.ndarray";
    /** The {@link #DATA_FORM} value of a {@code data.tftensor} request. */
    private static final String TFTENSOR_FORM = "data.tftensor";

    private final SeldonPredictionService service;
    private final Set<String> implemented;

    public SeldonModel(SeldonPredictionService service) {
        this.service = Objects.requireNonNull(service, "service");
        this.implemented = implemented(service.getClass());
    }

    @Override
    public Class<?> adaptedClass() {
        return service.getClass();
    }

    @Override
    public Set<String> implemented() {
        return implemented;
    }

    @Override
    public InferenceResponse predict(InferenceRequest request) {
        return response(answered("predict", service.predict(message(request.inputs(), request.meta()))));
    }

    @Override
    public InferenceRequest transformInput(InferenceRequest request) {
        SeldonMessage answer = answered("transformInput", service.transformInput(message(request.inputs(), request.meta())));
        String name = request.inputs().size() == 1 ? request.inputs().get(0).name() : "data";
        return request.withInputs(tensors(answer, name)).withMeta(meta(answer.getMeta()));
    }

    @Override
    public InferenceResponse transformOutput(InferenceResponse response) {
        return response(answered("transformOutput", service.transformOutput(message(response.outputs(), response.meta()))));
    }

    /** The first value of the router's answer (a tensor's or tftensor's, or an ndarray's first number) as the child's index. */
    @Override
    public int route(InferenceRequest request) {
        SeldonMessage answer = answered("route", service.route(message(request.inputs(), request.meta())));
        DefaultData data = answer.getData();
        double value;
        if (data.hasTensor() && data.getTensor().getValuesCount() > 0) {
            value = data.getTensor().getValues(0);
        } else if (data.hasNdarray()) {
            Value first = Value.newBuilder().setListValue(data.getNdarray()).build();
            while (first.hasListValue() && first.getListValue().getValuesCount() > 0) {
                first = first.getListValue().getValues(0);
            }
            if (!first.hasNumberValue()) {
                throw new ModelException(500, "route answered no number in data.ndarray");
            }
            value = first.getNumberValue();
        } else if (data.hasTftensor()) {
            Tensor tensor = TfTensors.tensor(data.getTftensor(), "route", Map.of());
            DataType datatype = tensor.datatype();
            if (!numeric(datatype) || datatype == DataType.FP16 || datatype == DataType.BF16 || tensor.elementCount() == 0) {
                throw new ModelException(500, "route answered a data.tftensor of " + data.getTftensor().getDtype()
                        + " with " + tensor.elementCount() + " elements, not a number");
            }
            value = numbers(tensor)[0];
        } else {
            throw new ModelException(500, "route answered no data.tensor, data.ndarray or data.tftensor holding the child's index");
        }
        if (value != Math.rint(value) || value < -1 || value > Integer.MAX_VALUE) {
            throw new ModelException(500, "route answered " + value + ", which is not a child's index (or -1)");
        }
        return (int) value;
    }

    @Override
    public InferenceResponse aggregate(List<InferenceResponse> responses) {
        SeldonMessageList.Builder list = SeldonMessageList.newBuilder();
        for (InferenceResponse response : responses) {
            list.addSeldonMessages(message(response.outputs(), response.meta()));
        }
        return response(answered("aggregate", service.aggregate(list.build())));
    }

    /** Seldon's feedback; an answer without data (or none) answers Seldon's empty data. */
    @Override
    public InferenceResponse sendFeedback(Feedback feedback) {
        io.seldon.protos.PredictionProtos.Feedback.Builder message =
                io.seldon.protos.PredictionProtos.Feedback.newBuilder().setReward((float) feedback.reward());
        if (feedback.request() != null) {
            message.setRequest(message(feedback.request().inputs(), feedback.request().meta()));
        }
        if (feedback.response() != null) {
            message.setResponse(message(feedback.response().outputs(), feedback.response().meta()));
        }
        if (feedback.truth() != null) {
            message.setTruth(message(feedback.truth().inputs(), feedback.truth().meta()));
        }
        SeldonMessage answer = service.sendFeedback(message.build());
        if (answer == null || answer.getDataOneofCase() == SeldonMessage.DataOneofCase.DATAONEOF_NOT_SET) {
            Map<String, Object> meta = answer == null ? Map.of() : meta(answer.getMeta());
            return InferenceResponse.of(Tensor.ofDoubles("data", new long[] {0}, new double[0])).withMeta(meta);
        }
        return response(answer);
    }

    /** The methods of {@link SeldonPredictionService} that {@code type} overrides, by {@code Model}'s names. */
    private static Set<String> implemented(Class<?> type) {
        Map<String, Class<?>> methods = new LinkedHashMap<>();
        methods.put("predict", SeldonMessage.class);
        methods.put("transformInput", SeldonMessage.class);
        methods.put("transformOutput", SeldonMessage.class);
        methods.put("route", SeldonMessage.class);
        methods.put("aggregate", SeldonMessageList.class);
        methods.put("sendFeedback", io.seldon.protos.PredictionProtos.Feedback.class);
        Set<String> implemented = new LinkedHashSet<>();
        for (Map.Entry<String, Class<?>> method : methods.entrySet()) {
            try {
                if (type.getMethod(method.getKey(), method.getValue()).getDeclaringClass() != SeldonPredictionService.class) {
                    implemented.add(method.getKey());
                }
            } catch (NoSuchMethodException e) {
                throw new AssertionError("SeldonPredictionService declares " + method.getKey(), e);
            }
        }
        return Set.copyOf(implemented);
    }

    private static SeldonMessage answered(String method, SeldonMessage answer) {
        if (answer == null) {
            throw new ModelException(500, method + " answered null instead of a SeldonMessage");
        }
        return answer;
    }

    private static InferenceResponse response(SeldonMessage answer) {
        List<Tensor> outputs = tensors(answer, "data");
        if (outputs.isEmpty()) {
            throw new ModelException(500, "the answer carries no payload: set data, strData, binData or jsonData");
        }
        return new InferenceResponse(outputs).withMeta(meta(answer.getMeta()));
    }

    // ---- tensors to a SeldonMessage -----------------------------------------------------------

    /** The message of a Seldon payload (the one tensor, if any) and meta. */
    private static SeldonMessage message(List<Tensor> tensors, Map<String, Object> meta) {
        SeldonMessage.Builder message = SeldonMessage.newBuilder();
        if (!meta.isEmpty()) {
            message.setMeta(meta(meta));
        }
        if (tensors.isEmpty()) {
            return message.build();
        }
        if (tensors.size() > 1) {
            List<String> names = tensors.stream().map(Tensor::name).toList();
            throw new ModelException(400, "a Seldon model takes one tensor, the request has " + tensors.size() + " "
                    + names + ": send one");
        }
        Tensor tensor = tensors.get(0);
        Object contentType = tensor.parameters().get(CONTENT_TYPE);
        if (tensor.datatype() == DataType.BYTES && tensor.elementCount() == 1 && contentType != null) {
            byte[] element = tensor.elements()[0];
            switch (contentType.toString()) {
                case "str":
                    return message.setStrData(new String(element, StandardCharsets.UTF_8)).build();
                case "bytes":
                    return message.setBinData(ByteString.copyFrom(element)).build();
                case "json":
                    return message.setJsonData(value(Json.read(new String(element, StandardCharsets.UTF_8)))).build();
                default:
                    break;
            }
        }
        DefaultData.Builder data = DefaultData.newBuilder();
        if (tensor.parameters().get(NAMES) instanceof List<?> names) {
            for (Object name : names) {
                data.addNames(String.valueOf(name));
            }
        }
        Object form = tensor.parameters().get(DATA_FORM);
        if (TFTENSOR_FORM.equals(form)) {
            data.setTftensor(TfTensors.proto(tensor));
        } else if (!numeric(tensor.datatype())) {
            data.setNdarray(ndarray(tensor));
        } else if (tensor.datatype() == DataType.FP16 || tensor.datatype() == DataType.BF16) {
            throw new ModelException(400, "tensor '" + tensor.name() + "' is " + tensor.datatype()
                    + ", which a SeldonMessage's data.tensor and data.ndarray cannot carry: send FP32 or FP64, "
                    + "or send data.tftensor");
        } else if (NDARRAY_FORM.equals(form)) {
            data.setNdarray(ndarray(tensor));
        } else {
            data.setTensor(seldonTensor(tensor));
        }
        return message.setData(data).build();
    }

    /** Whether a datatype holds numbers (BOOL and BYTES do not). */
    private static boolean numeric(DataType datatype) {
        return datatype != DataType.BOOL && datatype != DataType.BYTES;
    }

    private static io.seldon.protos.PredictionProtos.Tensor seldonTensor(Tensor tensor) {
        io.seldon.protos.PredictionProtos.Tensor.Builder out = io.seldon.protos.PredictionProtos.Tensor.newBuilder();
        for (long dim : tensor.shape()) {
            out.addShape(Math.toIntExact(dim));
        }
        for (double v : numbers(tensor)) {
            out.addValues(v);
        }
        return out.build();
    }

    /** The elements of a numeric tensor (not FP16/BF16) as doubles, unsigned types read as unsigned. */
    private static double[] numbers(Tensor tensor) {
        boolean unsigned = tensor.datatype().name().startsWith("UINT");
        return switch (tensor.datatype()) {
            case INT8, UINT8 -> {
                byte[] x = (byte[]) tensor.data();
                double[] out = new double[x.length];
                for (int i = 0; i < x.length; i++) {
                    out[i] = unsigned ? Byte.toUnsignedInt(x[i]) : x[i];
                }
                yield out;
            }
            case INT16, UINT16 -> {
                short[] x = (short[]) tensor.data();
                double[] out = new double[x.length];
                for (int i = 0; i < x.length; i++) {
                    out[i] = unsigned ? Short.toUnsignedInt(x[i]) : x[i];
                }
                yield out;
            }
            case FP64 -> tensor.doubles();
            case FP32 -> {
                float[] x = tensor.floats();
                double[] out = new double[x.length];
                for (int i = 0; i < x.length; i++) {
                    out[i] = x[i];
                }
                yield out;
            }
            case INT32, UINT32 -> java.util.Arrays.stream(tensor.ints())
                    .mapToDouble(v -> unsigned ? Integer.toUnsignedLong(v) : v).toArray();
            default -> java.util.Arrays.stream(tensor.longs())
                    .mapToDouble(v -> unsigned && v < 0 ? (v >>> 1) * 2.0 + (v & 1) : v)
                    .toArray();
        };
    }

    /** A BYTES (as UTF-8 strings), BOOL or numeric (as doubles) tensor as nested lists. */
    private static ListValue ndarray(Tensor tensor) {
        List<Value> leaves = new ArrayList<>();
        if (tensor.datatype() == DataType.BOOL) {
            for (boolean b : tensor.booleans()) {
                leaves.add(Value.newBuilder().setBoolValue(b).build());
            }
        } else if (tensor.datatype() == DataType.BYTES) {
            for (String s : tensor.strings()) {
                leaves.add(Value.newBuilder().setStringValue(s).build());
            }
        } else {
            for (double v : numbers(tensor)) {
                leaves.add(Value.newBuilder().setNumberValue(v).build());
            }
        }
        long[] shape = tensor.shape();
        if (shape.length == 0) {
            return ListValue.newBuilder().addAllValues(leaves).build();
        }
        return nest(leaves, shape, 0, new int[] {0}).getListValue();
    }

    private static Value nest(List<Value> leaves, long[] shape, int depth, int[] next) {
        if (depth == shape.length) {
            return leaves.get(next[0]++);
        }
        ListValue.Builder list = ListValue.newBuilder();
        for (long i = 0; i < shape[depth]; i++) {
            list.addValues(nest(leaves, shape, depth + 1, next));
        }
        return Value.newBuilder().setListValue(list).build();
    }

    // ---- a SeldonMessage to tensors -----------------------------------------------------------

    /** The tensor of a message's payload, named {@code name} for data (none without a payload). */
    private static List<Tensor> tensors(SeldonMessage message, String name) {
        switch (message.getDataOneofCase()) {
            case STRDATA:
                return List.of(raw("strData", "str", message.getStrData().getBytes(StandardCharsets.UTF_8)));
            case BINDATA:
                return List.of(raw("binData", "bytes", message.getBinData().toByteArray()));
            case JSONDATA:
                return List.of(raw("jsonData", "json",
                        Json.write(java(message.getJsonData())).getBytes(StandardCharsets.UTF_8)));
            case DATA:
                return List.of(data(message.getData(), name));
            case CUSTOMDATA:
                throw new ModelException(500, "customData: google.protobuf.Any answers are not supported");
            default:
                return List.of();
        }
    }

    private static Tensor raw(String name, String contentType, byte[] payload) {
        return new Tensor(name, DataType.BYTES, new long[] {1}, new byte[][] {payload}, Map.of(CONTENT_TYPE, contentType));
    }

    private static Tensor data(DefaultData data, String name) {
        Map<String, Object> parameters = data.getNamesCount() == 0 ? Map.of() : Map.of(NAMES, List.copyOf(data.getNamesList()));
        switch (data.getDataOneofCase()) {
            case TENSOR: {
                io.seldon.protos.PredictionProtos.Tensor tensor = data.getTensor();
                long[] shape = tensor.getShapeList().stream().mapToLong(Integer::longValue).toArray();
                double[] values = tensor.getValuesList().stream().mapToDouble(Double::doubleValue).toArray();
                try {
                    return new Tensor(name, DataType.FP64, shape, values, parameters);
                } catch (IllegalArgumentException e) {
                    throw new ModelException(500, "data.tensor: " + e.getMessage());
                }
            }
            case NDARRAY:
                return fromNdarray(data.getNdarray(), name, parameters);
            case TFTENSOR:
                return TfTensors.tensor(data.getTftensor(), name, parameters);
            default:
                throw new ModelException(500, "data holds none of tensor, ndarray and tftensor");
        }
    }

    /** A rectangular ndarray of numbers (FP64), strings (BYTES) or booleans (BOOL). */
    private static Tensor fromNdarray(ListValue ndarray, String name, Map<String, Object> parameters) {
        List<Long> shape = new ArrayList<>();
        Value probe = Value.newBuilder().setListValue(ndarray).build();
        while (probe.hasListValue()) {
            shape.add((long) probe.getListValue().getValuesCount());
            if (probe.getListValue().getValuesCount() == 0) {
                break;
            }
            probe = probe.getListValue().getValues(0);
        }
        List<Value> leaves = new ArrayList<>();
        flatten(Value.newBuilder().setListValue(ndarray).build(), shape, 0, leaves);
        long[] dims = shape.stream().mapToLong(Long::longValue).toArray();
        Value.KindCase kind = leaves.isEmpty() ? Value.KindCase.NUMBER_VALUE : leaves.get(0).getKindCase();
        for (Value leaf : leaves) {
            if (leaf.getKindCase() != kind) {
                throw new ModelException(500, "data.ndarray mixes " + kind + " and " + leaf.getKindCase());
            }
        }
        switch (kind) {
            case NUMBER_VALUE:
                return new Tensor(name, DataType.FP64, dims, leaves.stream().mapToDouble(Value::getNumberValue).toArray(),
                        parameters);
            case STRING_VALUE: {
                byte[][] elements = new byte[leaves.size()][];
                for (int i = 0; i < elements.length; i++) {
                    elements[i] = leaves.get(i).getStringValue().getBytes(StandardCharsets.UTF_8);
                }
                return new Tensor(name, DataType.BYTES, dims, elements, parameters);
            }
            case BOOL_VALUE: {
                boolean[] elements = new boolean[leaves.size()];
                for (int i = 0; i < elements.length; i++) {
                    elements[i] = leaves.get(i).getBoolValue();
                }
                return new Tensor(name, DataType.BOOL, dims, elements, parameters);
            }
            default:
                throw new ModelException(500, "data.ndarray holds " + kind + ": answer numbers, strings or booleans");
        }
    }

    private static void flatten(Value value, List<Long> shape, int depth, List<Value> leaves) {
        if (depth == shape.size()) {
            if (value.hasListValue()) {
                throw new ModelException(500, "data.ndarray is ragged: lists nest deeper than the first element's");
            }
            leaves.add(value);
            return;
        }
        if (!value.hasListValue() || value.getListValue().getValuesCount() != shape.get(depth)) {
            throw new ModelException(500, "data.ndarray is ragged: every list at depth " + depth + " must hold "
                    + shape.get(depth) + " elements");
        }
        for (Value element : value.getListValue().getValuesList()) {
            flatten(element, shape, depth + 1, leaves);
        }
    }

    // ---- meta -------------------------------------------------------------------------------

    /** Seldon's meta as the plain map oxserve messages carry (Seldon's JSON field names). */
    private static Map<String, Object> meta(Meta meta) {
        Map<String, Object> out = new LinkedHashMap<>();
        if (!meta.getPuid().isEmpty()) {
            out.put("puid", meta.getPuid());
        }
        if (meta.getTagsCount() > 0) {
            Map<String, Object> tags = new LinkedHashMap<>();
            meta.getTagsMap().forEach((key, value) -> tags.put(key, java(value)));
            out.put("tags", tags);
        }
        if (meta.getRoutingCount() > 0) {
            Map<String, Object> routing = new LinkedHashMap<>();
            meta.getRoutingMap().forEach((key, value) -> routing.put(key, (long) value));
            out.put("routing", routing);
        }
        if (meta.getRequestPathCount() > 0) {
            out.put("requestPath", new LinkedHashMap<String, Object>(meta.getRequestPathMap()));
        }
        if (meta.getMetricsCount() > 0) {
            List<Object> metrics = new ArrayList<>();
            for (Metric metric : meta.getMetricsList()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("key", metric.getKey());
                m.put("type", metric.getType().name());
                m.put("value", (double) metric.getValue());
                if (metric.getTagsCount() > 0) {
                    m.put("tags", new LinkedHashMap<String, Object>(metric.getTagsMap()));
                }
                metrics.add(m);
            }
            out.put("metrics", metrics);
        }
        return out;
    }

    /** The plain map of oxserve's messages as Seldon's meta. */
    private static Meta meta(Map<String, Object> meta) {
        Meta.Builder out = Meta.newBuilder();
        if (meta.get("puid") instanceof String puid) {
            out.setPuid(puid);
        }
        if (meta.get("tags") instanceof Map<?, ?> tags) {
            tags.forEach((key, value) -> out.putTags(key.toString(), value(value)));
        }
        if (meta.get("routing") instanceof Map<?, ?> routing) {
            routing.forEach((key, value) -> out.putRouting(key.toString(), ((Number) value).intValue()));
        }
        if (meta.get("requestPath") instanceof Map<?, ?> path) {
            path.forEach((key, value) -> out.putRequestPath(key.toString(), String.valueOf(value)));
        }
        if (meta.get("metrics") instanceof List<?> metrics) {
            for (Object item : metrics) {
                Map<?, ?> m = (Map<?, ?>) item;
                Metric.Builder metric = Metric.newBuilder()
                        .setKey(String.valueOf(m.get("key")))
                        .setType(Metric.MetricType.valueOf(String.valueOf(m.get("type"))))
                        .setValue(((Number) m.get("value")).floatValue());
                if (m.get("tags") instanceof Map<?, ?> tags) {
                    tags.forEach((key, value) -> metric.putTags(key.toString(), String.valueOf(value)));
                }
                out.addMetrics(metric);
            }
        }
        return out.build();
    }

    /** A protobuf JSON value as plain Java; whole numbers (within a long) as {@code Long}, so tags keep their form. */
    private static Object java(Value value) {
        switch (value.getKindCase()) {
            case NUMBER_VALUE: {
                double number = value.getNumberValue();
                return number == Math.rint(number) && Math.abs(number) < 0x1p53 ? (Object) (long) number : (Object) number;
            }
            case STRING_VALUE:
                return value.getStringValue();
            case BOOL_VALUE:
                return value.getBoolValue();
            case STRUCT_VALUE: {
                Map<String, Object> map = new LinkedHashMap<>();
                value.getStructValue().getFieldsMap().forEach((key, field) -> map.put(key, java(field)));
                return map;
            }
            case LIST_VALUE: {
                List<Object> list = new ArrayList<>();
                for (Value element : value.getListValue().getValuesList()) {
                    list.add(java(element));
                }
                return list;
            }
            default:
                return null;
        }
    }

    /** Plain Java (as {@link Json} reads it) as a protobuf JSON value. */
    private static Value value(Object value) {
        Value.Builder out = Value.newBuilder();
        if (value == null) {
            out.setNullValue(NullValue.NULL_VALUE);
        } else if (value instanceof Number number) {
            out.setNumberValue(number.doubleValue());
        } else if (value instanceof String string) {
            out.setStringValue(string);
        } else if (value instanceof Boolean bool) {
            out.setBoolValue(bool);
        } else if (value instanceof Map<?, ?> map) {
            Struct.Builder struct = Struct.newBuilder();
            map.forEach((key, field) -> struct.putFields(key.toString(), value(field)));
            out.setStructValue(struct);
        } else if (value instanceof List<?> list) {
            ListValue.Builder values = ListValue.newBuilder();
            for (Object element : list) {
                values.addValues(value(element));
            }
            out.setListValue(values);
        } else {
            throw new IllegalArgumentException("no JSON form for " + value.getClass());
        }
        return out.build();
    }
}
