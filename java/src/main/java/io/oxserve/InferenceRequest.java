package io.oxserve;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One inference call, whatever protocol it arrived in (V2 REST or gRPC, Seldon, KServe v1).
 *
 * <p>Parameters and meta are JSON values read into plain Java: objects are {@code Map}s (in
 * their order), arrays {@code List}s, strings, {@code Long} for whole numbers, {@code Double}
 * for others, {@code Boolean} and {@code null}. The maps are unmodifiable; the {@code with}
 * methods make changed copies.
 *
 * @param id the caller's request id, or null
 * @param model the name of the model it was sent to
 * @param inputs the input tensors, in the caller's order
 * @param parameters the request's V2 {@code parameters} (empty when none were sent)
 * @param meta Seldon's {@code meta} ({@code puid}, {@code tags}, {@code routing},
 *     {@code requestPath}, {@code metrics}) for a Seldon call; empty for other protocols
 */
public record InferenceRequest(String id, String model, List<Tensor> inputs, Map<String, Object> parameters,
        Map<String, Object> meta) {
    public InferenceRequest {
        inputs = List.copyOf(inputs);
        parameters = Json.copy(parameters);
        meta = Json.copy(meta);
    }

    /** A request without parameters or meta (the constructor of earlier versions). */
    public InferenceRequest(String id, String model, List<Tensor> inputs) {
        this(id, model, inputs, Map.of(), Map.of());
    }

    /** A request of {@code inputs} with no id, for calling a model from Java code. */
    public static InferenceRequest of(String model, Tensor... inputs) {
        return new InferenceRequest(null, model, List.of(inputs));
    }

    /** The input called {@code name}, if the request has one. */
    public Optional<Tensor> input(String name) {
        return inputs.stream().filter(t -> t.name().equals(name)).findFirst();
    }

    /** The parameter called {@code name}, if the request has one. */
    public Optional<Object> parameter(String name) {
        return Optional.ofNullable(parameters.get(name));
    }

    /** The same request with other inputs: what a transformer answers. */
    public InferenceRequest withInputs(List<Tensor> inputs) {
        return new InferenceRequest(id, model, inputs, parameters, meta);
    }

    /** The same request with other parameters, which the next step of a graph receives. */
    public InferenceRequest withParameters(Map<String, Object> parameters) {
        return new InferenceRequest(id, model, inputs, parameters, meta);
    }

    /** The same request with another Seldon meta, which the next step of a graph receives. */
    public InferenceRequest withMeta(Map<String, Object> meta) {
        return new InferenceRequest(id, model, inputs, parameters, meta);
    }
}
