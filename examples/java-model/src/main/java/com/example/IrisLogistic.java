package com.example;

import io.oxserve.DataType;
import io.oxserve.InferenceRequest;
import io.oxserve.InferenceResponse;
import io.oxserve.Model;
import io.oxserve.ModelMetadata;
import io.oxserve.Tensor;
import io.oxserve.TensorSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * An iris classifier: multinomial logistic regression with fixed weights read from a text file
 * ({@code weights.txt} in the working folder, or the file the {@code iris.weights} system property
 * names). It takes rows of four measurements and answers one probability per class.
 */
public class IrisLogistic implements Model {
    static final int FEATURES = 4;
    static final int CLASSES = 3;

    /** {@code CLASSES} rows of {@code FEATURES} weights and a bias. */
    private double[][] weights;

    @Override
    public void load() throws IOException {
        Path file = Path.of(System.getProperty("iris.weights", "weights.txt"));
        List<String> lines = Files.readAllLines(file).stream()
                .map(String::strip)
                .filter(line -> !line.isEmpty() && !line.startsWith("#"))
                .toList();
        if (lines.size() != CLASSES) {
            throw new IOException(file + ": expected " + CLASSES + " lines of weights, found " + lines.size());
        }
        weights = new double[CLASSES][];
        for (int c = 0; c < CLASSES; c++) {
            String[] fields = lines.get(c).split("\\s+");
            if (fields.length != FEATURES + 1) {
                throw new IOException(file + ": class " + c + " needs " + (FEATURES + 1) + " numbers, found " + fields.length);
            }
            weights[c] = new double[FEATURES + 1];
            for (int i = 0; i <= FEATURES; i++) {
                weights[c][i] = Double.parseDouble(fields[i]);
            }
        }
    }

    @Override
    public ModelMetadata metadata() {
        return new ModelMetadata("java-logistic-regression",
                List.of(new TensorSpec("x", DataType.FP32, -1, FEATURES)),
                List.of(new TensorSpec("probabilities", DataType.FP32, -1, CLASSES)));
    }

    /** Softmax over each row's class scores; the server has already checked the input's type and shape. */
    @Override
    public InferenceResponse predict(InferenceRequest request) {
        Tensor x = request.input("x").orElseThrow();
        float[] features = x.floats();
        int rows = (int) x.shape()[0];
        float[] probabilities = new float[rows * CLASSES];
        double[] scores = new double[CLASSES];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < CLASSES; c++) {
                double score = weights[c][FEATURES];
                for (int i = 0; i < FEATURES; i++) {
                    score += weights[c][i] * features[r * FEATURES + i];
                }
                scores[c] = score;
                max = Math.max(max, score);
            }
            double sum = 0;
            for (int c = 0; c < CLASSES; c++) {
                scores[c] = Math.exp(scores[c] - max);
                sum += scores[c];
            }
            for (int c = 0; c < CLASSES; c++) {
                probabilities[r * CLASSES + c] = (float) (scores[c] / sum);
            }
        }
        return InferenceResponse.of(Tensor.ofFloats("probabilities", new long[] {rows, CLASSES}, probabilities));
    }
}
