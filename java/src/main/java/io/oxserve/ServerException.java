package io.oxserve;

/**
 * The server could not start (a port in use, a model class that is not a {@link Model},
 * inconsistent settings, a model whose {@code load} failed) or failed while serving.
 */
public class ServerException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ServerException(String message) {
        super(message);
    }

    public ServerException(String message, Throwable cause) {
        super(message, cause);
    }
}
