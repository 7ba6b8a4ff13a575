package io.oxserve;

import java.util.List;
import java.util.Optional;

/**
 * A model's answer: its output tensors. The server fills in the request id and model name.
 *
 * @param outputs the output tensors
 */
public record InferenceResponse(List<Tensor> outputs) {
    public InferenceResponse {
        outputs = List.copyOf(outputs);
    }

    public static InferenceResponse of(Tensor... outputs) {
        return new InferenceResponse(List.of(outputs));
    }

    /** The output called {@code name}, if the response has one. */
    public Optional<Tensor> output(String name) {
        return outputs.stream().filter(t -> t.name().equals(name)).findFirst();
    }
}
