package io.oxserve;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.util.concurrent.TimeUnit;

/** How the tests start a server in this JVM and reach its gRPC port, kept in one place. */
final class TestServers {
    private TestServers() {}

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
