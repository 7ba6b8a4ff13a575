package io.oxserve;

import java.util.Set;

/**
 * A {@link Model} that serves an object written for another contract (a class written for
 * Seldon's Java wrapper, served by {@code io.oxserve.seldon.SeldonModel}). The adapter
 * overrides every method of {@code Model}, so the server cannot tell from it which operations
 * exist: it asks {@link #implemented} instead, and names {@link #adaptedClass} in errors.
 */
public interface ModelAdapter extends Model {
    /** The class of the object served, as start-up errors name it. */
    Class<?> adaptedClass();

    /**
     * The {@code Model} methods the served object implements, by their names ({@code predict},
     * {@code transformInput}, {@code transformOutput}, {@code route}, {@code aggregate},
     * {@code sendFeedback}, {@code health}); the others answer as if not overridden.
     */
    Set<String> implemented();
}
