package com.example;

import io.oxserve.InferenceResponse;
import io.oxserve.Model;
import io.oxserve.ModelException;
import io.oxserve.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An inference graph's OUTPUT_TRANSFORMER: adds to a classifier's answer the name of each row's
 * most probable class, as a {@code species} output. The names are the graph node's
 * {@code species} parameter, which the server passes to this constructor (as Seldon passes a
 * node's parameters to a class); see {@code examples/graphs/java-chain.yaml}.
 */
public class IrisLabels implements Model {
    private final List<String> species = new ArrayList<>();

    public IrisLabels(Map<String, Object> parameters) {
        if (!(parameters.get("species") instanceof List<?> names) || names.isEmpty()) {
            throw new IllegalArgumentException("parameter species: a list of class names is required");
        }
        names.forEach(name -> species.add(String.valueOf(name)));
    }

    @Override
    public InferenceResponse transformOutput(InferenceResponse response) {
        Tensor probabilities = response.output("probabilities")
                .orElseThrow(() -> new ModelException(500, "the classifier answered no 'probabilities' output"));
        float[] p = probabilities.floats();
        int rows = (int) probabilities.shape()[0];
        int classes = (int) probabilities.shape()[1];
        if (classes != species.size()) {
            throw new ModelException(500, "the classifier answered " + classes + " classes, but " + species.size()
                    + " species are named");
        }
        String[] labels = new String[rows];
        for (int r = 0; r < rows; r++) {
            int best = 0;
            for (int c = 1; c < classes; c++) {
                if (p[r * classes + c] > p[r * classes + best]) {
                    best = c;
                }
            }
            labels[r] = species.get(best);
        }
        List<Tensor> outputs = new ArrayList<>(response.outputs());
        outputs.add(Tensor.ofStrings("species", new long[] {rows}, labels));
        return new InferenceResponse(outputs, response.parameters(), response.meta());
    }
}
