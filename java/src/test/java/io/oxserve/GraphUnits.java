package io.oxserve;

import java.util.Map;

/**
 * Classes the graph tests name in their graph files ({@code io.oxserve.GraphUnits$Sum}, …): public,
 * with public constructors, as a graph's Java classes are.
 */
public final class GraphUnits {
    private GraphUnits() {}

    /** The rows of a request's first input, FP32 or FP64, as doubles. */
    static double[] values(Tensor x) {
        if (x.datatype() == DataType.FP64) {
            return x.doubles();
        }
        float[] floats = x.floats();
        double[] values = new double[floats.length];
        for (int i = 0; i < floats.length; i++) {
            values[i] = floats[i];
        }
        return values;
    }

    /**
     * A MODEL that sums each row of its first input (FP32 or FP64, shape [rows, columns]) into
     * {@code sum}; a row whose sum is not finite is a failure of the model.
     */
    public static final class Sum implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            Tensor x = request.inputs().get(0);
            double[] values = values(x);
            int rows = (int) x.shape()[0];
            int columns = rows == 0 ? 0 : values.length / rows;
            float[] sums = new float[rows];
            for (int r = 0; r < rows; r++) {
                double sum = 0;
                for (int c = 0; c < columns; c++) {
                    sum += values[r * columns + c];
                }
                if (!Double.isFinite(sum)) {
                    throw new ArithmeticException("row " + r + " sums to " + sum);
                }
                sums[r] = (float) sum;
            }
            return InferenceResponse.of(Tensor.ofFloats("sum", new long[] {rows}, sums));
        }
    }

    /** Implements {@code predict} only, so it cannot be a TRANSFORMER. */
    public static final class PredictOnly implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            return new InferenceResponse(request.inputs());
        }
    }

    /** Remembers the parameters it was built with, and answers them as its response's parameters. */
    public static final class Parameterised implements Model {
        private final Map<String, Object> parameters;

        public Parameterised(Map<String, Object> parameters) {
            this.parameters = parameters;
        }

        @Override
        public InferenceResponse predict(InferenceRequest request) {
            return new InferenceResponse(request.inputs()).withParameters(parameters);
        }
    }
}
