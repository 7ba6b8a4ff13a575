package io.oxserve;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** The models the tests serve, one per behaviour under test. */
final class Models {
    private Models() {}

    /** Doubles every element of its FP32 or FP64 inputs; declares nothing, so takes any input. */
    static final class Doubler implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            List<Tensor> outputs = new ArrayList<>();
            for (Tensor input : request.inputs()) {
                if (input.datatype() == DataType.FP64) {
                    double[] x = input.doubles().clone();
                    for (int i = 0; i < x.length; i++) {
                        x[i] *= 2;
                    }
                    outputs.add(Tensor.ofDoubles(input.name(), input.shape(), x));
                } else {
                    float[] x = input.floats().clone();
                    for (int i = 0; i < x.length; i++) {
                        x[i] *= 2;
                    }
                    outputs.add(Tensor.ofFloats(input.name(), input.shape(), x));
                }
            }
            return new InferenceResponse(outputs);
        }
    }

    /** Answers its inputs unchanged, of any datatype. */
    static final class Echo implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            return new InferenceResponse(request.inputs());
        }
    }

    /** Answers its FP32 input as a direct buffer, which the server reads in place. */
    static final class DirectBuffer implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            float[] x = request.inputs().get(0).floats();
            java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(x.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            out.asFloatBuffer().put(x);
            return InferenceResponse.of(new Tensor("y", DataType.FP32, request.inputs().get(0).shape(), out));
        }
    }

    /** Declares one FP32 input of shape [-1, 2] and sums each row. */
    static final class RowSum implements Model {
        @Override
        public ModelMetadata metadata() {
            return new ModelMetadata("java-test", List.of(new TensorSpec("x", DataType.FP32, -1, 2)),
                    List.of(new TensorSpec("sum", DataType.FP32, -1)));
        }

        @Override
        public InferenceResponse predict(InferenceRequest request) {
            Tensor x = request.input("x").orElseThrow();
            float[] values = x.floats();
            int rows = (int) x.shape()[0];
            float[] sums = new float[rows];
            for (int r = 0; r < rows; r++) {
                sums[r] = values[2 * r] + values[2 * r + 1];
            }
            return InferenceResponse.of(Tensor.ofFloats("sum", new long[] {rows}, sums));
        }
    }

    /** Throws an unchecked exception from predict. */
    static final class Failing implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            throw new IllegalStateException("boom: the model failed");
        }
    }

    /** Refuses every request with a 422 of its own. */
    static final class Refusing implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            throw new ModelException(422, "row 0 has a negative age");
        }
    }

    /** Asks the JVM for more memory than any test heap has (16 GiB at once), so the JVM throws OutOfMemoryError. */
    static final class OutOfMemory implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            long[] huge = new long[Integer.MAX_VALUE - 16];
            return InferenceResponse.of(Tensor.ofLongs("y", new long[] {huge.length}, huge));
        }
    }

    /** Takes a second to answer. */
    static final class Slow implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) throws InterruptedException {
            Thread.sleep(1000);
            return new InferenceResponse(request.inputs());
        }
    }

    /** Answers null instead of a response. */
    static final class AnswersNull implements Model {
        @Override
        public InferenceResponse predict(InferenceRequest request) {
            return null;
        }
    }

    /** Records the largest batch it was given, waiting a little so that requests queue up. */
    static final class Batched implements Model {
        final AtomicInteger largestBatch = new AtomicInteger();

        @Override
        public InferenceResponse predict(InferenceRequest request) throws InterruptedException {
            Tensor x = request.inputs().get(0);
            largestBatch.accumulateAndGet((int) x.shape()[0], Math::max);
            Thread.sleep(20);
            return InferenceResponse.of(Tensor.ofFloats("y", x.shape(), x.floats()));
        }
    }

    /**
     * A graph step with every operation but predict: adds one to every FP64 element on the way
     * in, routes every request to child 1, averages its children's answers, and keeps the
     * rewards it is sent.
     */
    static final class Component implements Model {
        final List<Double> rewards = java.util.Collections.synchronizedList(new ArrayList<>());

        @Override
        public InferenceRequest transformInput(InferenceRequest request) {
            Tensor x = request.inputs().get(0);
            double[] values = x.doubles().clone();
            for (int i = 0; i < values.length; i++) {
                values[i] += 1;
            }
            return request.withInputs(List.of(Tensor.ofDoubles(x.name(), x.shape(), values)));
        }

        @Override
        public int route(InferenceRequest request) {
            return 1;
        }

        @Override
        public InferenceResponse aggregate(List<InferenceResponse> responses) {
            Tensor first = responses.get(0).outputs().get(0);
            double[] mean = new double[first.doubles().length];
            for (InferenceResponse response : responses) {
                double[] values = response.outputs().get(0).doubles();
                for (int i = 0; i < mean.length; i++) {
                    mean[i] += values[i] / responses.size();
                }
            }
            return InferenceResponse.of(Tensor.ofDoubles(first.name(), first.shape(), mean));
        }

        @Override
        public InferenceResponse sendFeedback(Feedback feedback) {
            rewards.add(feedback.reward());
            return InferenceResponse.of(Tensor.ofDoubles("ack", new long[] {0}, new double[0]));
        }
    }

    /** Echoes, and is ready while {@code ready} is set; {@code health()} throws while {@code failing} is. */
    static final class Toggled implements Model {
        final java.util.concurrent.atomic.AtomicBoolean ready = new java.util.concurrent.atomic.AtomicBoolean(true);
        final java.util.concurrent.atomic.AtomicBoolean failing = new java.util.concurrent.atomic.AtomicBoolean();

        @Override
        public boolean health() {
            if (failing.get()) {
                throw new IllegalStateException("the model's disk is gone");
            }
            return ready.get();
        }

        @Override
        public InferenceResponse predict(InferenceRequest request) {
            return new InferenceResponse(request.inputs());
        }
    }

    /** Implements no operation at all. */
    static final class Nothing implements Model {}

    /** Fails to load. */
    static final class Unloadable implements Model {
        @Override
        public void load() throws java.io.IOException {
            throw new java.io.IOException("weights.bin: no such file");
        }

        @Override
        public InferenceResponse predict(InferenceRequest request) {
            return InferenceResponse.of();
        }
    }
}
