package io.oxserve;

import java.util.List;

/**
 * What a model declares about itself, answered on V2 {@code GET /v2/models/{name}}. Declared
 * inputs are checked before the model is called, so it only ever sees tensors it declared; a
 * model that declares none takes any.
 *
 * @param platform a free-form name of the framework (V2's {@code platform}), or ""
 * @param inputs the inputs the model takes
 * @param outputs the outputs it answers
 */
public record ModelMetadata(String platform, List<TensorSpec> inputs, List<TensorSpec> outputs) {
    public ModelMetadata {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
    }

    /** Metadata that declares nothing: any input is passed to the model. */
    public static ModelMetadata any() {
        return new ModelMetadata("", List.of(), List.of());
    }
}
