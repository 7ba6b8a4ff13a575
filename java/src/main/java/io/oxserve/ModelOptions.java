package io.oxserve;

/**
 * How the server schedules one model: dynamic batching, concurrency, queue and time limits.
 * The names and units are MLServer's model-settings fields.
 *
 * @param maxBatchSize the most rows the batcher stacks into one call; 0 turns batching off
 * @param maxBatchTime how long a request may wait for others to join its batch, in seconds
 * @param instances how many calls may run concurrently (one attached thread each)
 * @param maxQueueSize requests that may wait before new ones are refused with 503; 0: the default
 * @param timeout the longest a request may wait for the model, in seconds; 0: no limit
 */
public record ModelOptions(int maxBatchSize, double maxBatchTime, int instances, int maxQueueSize, double timeout) {
    public ModelOptions {
        if (maxBatchSize < 0 || maxBatchTime < 0 || instances < 1 || maxQueueSize < 0 || timeout < 0) {
            throw new IllegalArgumentException("model options must not be negative, and instances at least 1: maxBatchSize="
                    + maxBatchSize + ", maxBatchTime=" + maxBatchTime + ", instances=" + instances + ", maxQueueSize="
                    + maxQueueSize + ", timeout=" + timeout);
        }
    }

    /** One call at a time, no batching, no limits beyond the server's defaults. */
    public static ModelOptions defaults() {
        return new ModelOptions(0, 0, 1, 0, 0);
    }

    public ModelOptions withMaxBatchSize(int maxBatchSize, double maxBatchTime) {
        return new ModelOptions(maxBatchSize, maxBatchTime, instances, maxQueueSize, timeout);
    }

    public ModelOptions withInstances(int instances) {
        return new ModelOptions(maxBatchSize, maxBatchTime, instances, maxQueueSize, timeout);
    }

    public ModelOptions withMaxQueueSize(int maxQueueSize) {
        return new ModelOptions(maxBatchSize, maxBatchTime, instances, maxQueueSize, timeout);
    }

    public ModelOptions withTimeout(double timeout) {
        return new ModelOptions(maxBatchSize, maxBatchTime, instances, maxQueueSize, timeout);
    }
}
