package io.oxserve;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's answer: its output tensors, and optionally parameters and Seldon meta. The server
 * fills in the request id and model name.
 *
 * <p>Parameters go back as the V2 response's {@code parameters}. Over Seldon, the answer's
 * {@code meta} is the request's with this meta laid over it: its {@code tags},
 * {@code routing} and {@code requestPath} entries are added (replacing equal keys), its
 * {@code metrics} reported as the model's custom metrics. Values are plain Java as in
 * {@link InferenceRequest}.
 *
 * @param outputs the output tensors
 * @param parameters the response's V2 {@code parameters}
 * @param meta Seldon {@code meta} to add to the answer
 */
public record InferenceResponse(List<Tensor> outputs, Map<String, Object> parameters, Map<String, Object> meta) {
    public InferenceResponse {
        outputs = List.copyOf(outputs);
        parameters = Json.copy(parameters);
        meta = Json.copy(meta);
    }

    /** A response without parameters or meta (the constructor of earlier versions). */
    public InferenceResponse(List<Tensor> outputs) {
        this(outputs, Map.of(), Map.of());
    }

    public static InferenceResponse of(Tensor... outputs) {
        return new InferenceResponse(List.of(outputs));
    }

    /** The output called {@code name}, if the response has one. */
    public Optional<Tensor> output(String name) {
        return outputs.stream().filter(t -> t.name().equals(name)).findFirst();
    }

    /** The same response with other parameters. */
    public InferenceResponse withParameters(Map<String, Object> parameters) {
        return new InferenceResponse(outputs, parameters, meta);
    }

    /** The same response with another Seldon meta. */
    public InferenceResponse withMeta(Map<String, Object> meta) {
        return new InferenceResponse(outputs, parameters, meta);
    }
}
