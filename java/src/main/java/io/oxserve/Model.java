package io.oxserve;

import java.util.List;

/**
 * A model, or another step of an inference graph, written in Java.
 *
 * <p>Implement the methods of the model's role; the others keep their defaults, which the
 * server treats as "not implemented" (transforms pass the message through unchanged, other
 * calls answer 501). The server calls these methods on its own threads, each attached to the JVM
 * once; with {@code instances > 1} (see {@link ModelOptions}) several calls may run at the same
 * time on one object, so a model that keeps mutable state must guard it.
 *
 * <p>A method that throws answers the caller with a 500 naming the exception (or the status of a
 * {@link ModelException}); the server keeps serving.
 */
public interface Model {
    /** Prepares the model (reads weights, warms up) before the server takes requests. */
    default void load() throws Exception {}

    /**
     * Whether the model can take requests now; V2 and KServe readiness follow it. The server asks
     * once after {@link #load} and then, while it is probed, at most once a second on one of the
     * model's threads (so a busy model answers probes with its last known state). An exception
     * counts as not ready.
     */
    default boolean health() throws Exception {
        return true;
    }

    /** What the model declares about its inputs and outputs; by default nothing. */
    default ModelMetadata metadata() {
        return ModelMetadata.any();
    }

    /**
     * Runs the model. With dynamic batching ({@link ModelOptions#maxBatchSize}), the inputs hold
     * the rows of several requests stacked along the first dimension, and the outputs must keep
     * one row per input row.
     */
    default InferenceResponse predict(InferenceRequest request) throws Exception {
        throw new UnsupportedOperationException("predict");
    }

    /** Rewrites a request before the next step of a graph (a Seldon TRANSFORMER). */
    default InferenceRequest transformInput(InferenceRequest request) throws Exception {
        throw new UnsupportedOperationException("transformInput");
    }

    /** Rewrites a response on its way back (a Seldon OUTPUT_TRANSFORMER). */
    default InferenceResponse transformOutput(InferenceResponse response) throws Exception {
        throw new UnsupportedOperationException("transformOutput");
    }

    /** Picks the child that handles the request (a Seldon ROUTER): its index, -1 for all. */
    default int route(InferenceRequest request) throws Exception {
        throw new UnsupportedOperationException("route");
    }

    /** Combines the answers of all children into one (a Seldon COMBINER). */
    default InferenceResponse aggregate(List<InferenceResponse> responses) throws Exception {
        throw new UnsupportedOperationException("aggregate");
    }

    /**
     * Takes a reward for an earlier prediction; the answer goes back to the caller. Seldon's
     * clients expect data in it: an empty tensor (shape {@code [0]}) answers Seldon's empty data.
     */
    default InferenceResponse sendFeedback(Feedback feedback) throws Exception {
        throw new UnsupportedOperationException("sendFeedback");
    }
}
