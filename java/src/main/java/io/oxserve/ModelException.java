package io.oxserve;

/**
 * An exception a model throws to answer with a chosen HTTP status instead of a 500: a 4xx for a
 * request the model cannot take, 503 when it is not ready. The caller gets the message as the
 * error. Any other exception from a model is a 500 naming the exception, and the server keeps
 * serving either way.
 */
public class ModelException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    public ModelException(int status, String message) {
        super(message);
        if (status < 400 || status > 599) {
            throw new IllegalArgumentException("status " + status + " is not an HTTP error status (400-599)");
        }
        this.status = status;
    }

    /** The HTTP status the caller receives (gRPC callers get the matching code). */
    public int status() {
        return status;
    }
}
