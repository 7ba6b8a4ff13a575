package io.oxserve;

import java.util.List;
import java.util.Optional;

/**
 * One inference call, whatever protocol it arrived in (V2 REST or gRPC, Seldon, KServe v1).
 *
 * @param id the caller's request id, or null
 * @param model the name of the model it was sent to
 * @param inputs the input tensors, in the caller's order
 */
public record InferenceRequest(String id, String model, List<Tensor> inputs) {
    public InferenceRequest {
        inputs = List.copyOf(inputs);
    }

    /** A request of {@code inputs} with no id, for calling a model from Java code. */
    public static InferenceRequest of(String model, Tensor... inputs) {
        return new InferenceRequest(null, model, List.of(inputs));
    }

    /** The input called {@code name}, if the request has one. */
    public Optional<Tensor> input(String name) {
        return inputs.stream().filter(t -> t.name().equals(name)).findFirst();
    }

    /** The same request with other inputs: what a transformer answers. */
    public InferenceRequest withInputs(List<Tensor> inputs) {
        return new InferenceRequest(id, model, inputs);
    }
}
