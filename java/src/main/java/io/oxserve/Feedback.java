package io.oxserve;

/**
 * A reward for an earlier prediction (Seldon's feedback), for models that learn from it: routers
 * choosing between children, online learners.
 *
 * @param request the request that was predicted, or null
 * @param response the answer it got, or null; for a router its routing says which child answered
 * @param reward how good the answer was
 * @param truth the right answer, or null
 */
public record Feedback(InferenceRequest request, InferenceResponse response, double reward, InferenceRequest truth) {}
