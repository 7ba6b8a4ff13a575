package io.oxserve.seldon;

import io.seldon.protos.PredictionProtos.Feedback;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.SeldonMessageList;

/**
 * The contract of Seldon Core's Java wrapper, so that a class written for it serves with
 * oxserve after one changed import (this interface instead of
 * {@code io.seldon.wrapper.api.SeldonPredictionService}); the messages are the same
 * {@code io.seldon.protos.PredictionProtos} classes, generated from the Seldon
 * {@code prediction.proto} the server itself speaks.
 *
 * <p>{@link SeldonModel} serves an implementation: pass {@code new SeldonModel(service)} to
 * {@link io.oxserve.Server.Builder#model}, or name the class to the runner's
 * {@code --model-class}. Only the methods a class overrides are served; the server answers the
 * others as unimplemented, or passes the message on unchanged for the transforms. The defaults
 * here answer an empty message, as the wrapper's do, for code that calls them directly.
 */
public interface SeldonPredictionService {
    /** A model's prediction. */
    default SeldonMessage predict(SeldonMessage request) {
        return SeldonMessage.getDefaultInstance();
    }

    /** A router's choice: the child's index as the message's first value (-1: all children). */
    default SeldonMessage route(SeldonMessage request) {
        return SeldonMessage.getDefaultInstance();
    }

    /** Takes a reward for an earlier answer; for a router, the response's {@code meta.routing} says which child gave it. */
    default SeldonMessage sendFeedback(Feedback request) {
        return SeldonMessage.getDefaultInstance();
    }

    /** Rewrites a request before the next step of a graph. */
    default SeldonMessage transformInput(SeldonMessage request) {
        return SeldonMessage.getDefaultInstance();
    }

    /** Rewrites an answer on its way back. */
    default SeldonMessage transformOutput(SeldonMessage request) {
        return SeldonMessage.getDefaultInstance();
    }

    /** Combines the answers of a combiner's children. */
    default SeldonMessage aggregate(SeldonMessageList request) {
        return SeldonMessage.getDefaultInstance();
    }
}
