package io.oxserve;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * How the tests start a server in this JVM and reach it, kept in one place. Registered as a static
 * {@code @RegisterExtension} field, it serves a test class's models before its tests and closes the
 * server (and the gRPC channel, if one was opened) after them.
 */
final class TestServers implements BeforeAllCallback, AfterAllCallback {
    private final UnaryOperator<Server.Builder> models;
    private Server server;
    private Http http;
    private ManagedChannel channel;

    private TestServers(UnaryOperator<Server.Builder> models) {
        this.models = models;
    }

    /** A server for the test class: {@link #local()} with what {@code models} adds to it. */
    static TestServers serving(UnaryOperator<Server.Builder> models) {
        return new TestServers(models);
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        server = models.apply(local()).start();
        http = new Http(server.httpPort());
    }

    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
        if (channel != null) {
            close(channel);
        }
        server.close();
    }

    Server server() {
        return server;
    }

    /** A client for the server's HTTP port. */
    Http http() {
        return http;
    }

    /** A channel to the server's gRPC port, opened on first use and closed with the server. */
    ManagedChannel channel() {
        if (channel == null) {
            channel = channel(server);
        }
        return channel;
    }

    /** A builder serving on loopback, on free HTTP and gRPC ports, logging warnings and worse. */
    static Server.Builder local() {
        return Server.builder()
                .host("127.0.0.1")
                .httpPort(Http.freePort())
                .grpcPort(Http.freePort())
                .logLevel("warn");
    }

    /** A plaintext channel to the server's gRPC port; close it with {@link #close(ManagedChannel)}. */
    static ManagedChannel channel(Server server) {
        return ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
    }

    /** Stops the channel and waits (a few seconds at most) for its calls to end. */
    static void close(ManagedChannel channel) throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
