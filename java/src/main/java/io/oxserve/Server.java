package io.oxserve;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The oxserve server, running inside this JVM: V2 (Open Inference) REST and gRPC, Seldon REST
 * and gRPC, KServe v1 and Prometheus metrics, on two ports, for the models (and the inference
 * graph) given to its {@link Builder}.
 *
 * <pre>{@code
 * try (Server server = Server.builder().httpPort(8080).grpcPort(8081).model("iris", new Iris()).start()) {
 *     server.awaitTermination();
 * }
 * }</pre>
 *
 * <p>The protocols, batching and scheduling run in Rust on the server's own threads; only the
 * models' methods run Java, on threads the server attaches to the JVM once per model instance.
 * The server does not install signal handlers: {@link #close} (from a shutdown hook, say)
 * stops it, letting in-flight requests finish within the drain timeout.
 */
public final class Server implements AutoCloseable {
    private final long handle;
    private final int httpPort;
    private final int grpcPort;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CountDownLatch stopped = new CountDownLatch(1);

    private Server(long handle, int httpPort, int grpcPort) {
        this.handle = handle;
        this.httpPort = httpPort;
        this.grpcPort = grpcPort;
    }

    public static Builder builder() {
        return new Builder();
    }

    public int httpPort() {
        return httpPort;
    }

    public int grpcPort() {
        return grpcPort;
    }

    /** Blocks until {@link #close} has stopped the server. */
    public void awaitTermination() throws InterruptedException {
        stopped.await();
    }

    /**
     * Stops taking connections, lets in-flight requests finish (at most the drain timeout) and
     * returns once the server has stopped. Later calls do nothing.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                stop0(handle);
            } finally {
                stopped.countDown();
            }
        }
    }

    /** Declares the server and its models; {@link #start} starts it. */
    public static final class Builder {
        private String host = "0.0.0.0";
        private int httpPort = 8080;
        private int grpcPort = 8081;
        private double drainTimeout = 30;
        private long maxRequestSize = 64L * 1024 * 1024;
        private String defaultModel;
        private String logLevel = "info";
        private final Map<String, Declared> models = new LinkedHashMap<>();
        private Path graph;

        private record Declared(Model model, ModelOptions options) {}

        private Builder() {}

        /** The interface to listen on; all of them by default. */
        public Builder host(String host) {
            this.host = host;
            return this;
        }

        /** The REST port (which takes gRPC too); 8080 by default. */
        public Builder httpPort(int port) {
            this.httpPort = port;
            return this;
        }

        /** The gRPC port (which takes REST too); 8081 by default. */
        public Builder grpcPort(int port) {
            this.grpcPort = port;
            return this;
        }

        /** How long in-flight requests may take to finish once {@link Server#close} is called, in seconds. */
        public Builder drainTimeout(double seconds) {
            this.drainTimeout = seconds;
            return this;
        }

        /** The largest request body or gRPC message, in bytes. */
        public Builder maxRequestSize(long bytes) {
            this.maxRequestSize = bytes;
            return this;
        }

        /** The model that answers calls without a model name (Seldon's endpoints); the only one by default. */
        public Builder defaultModel(String name) {
            this.defaultModel = name;
            return this;
        }

        /** {@code error}, {@code warn}, {@code info} or {@code debug}; the {@code OXSERVE_LOG} variable wins. */
        public Builder logLevel(String level) {
            this.logLevel = level;
            return this;
        }

        /** Serves {@code model} as {@code name}, one call at a time and without batching. */
        public Builder model(String name, Model model) {
            return model(name, model, ModelOptions.defaults());
        }

        /** Serves {@code model} as {@code name}, scheduled as {@code options} say. */
        public Builder model(String name, Model model, ModelOptions options) {
            if (models.containsKey(name)) {
                throw new IllegalArgumentException("model '" + name + "' is declared twice");
            }
            models.put(name, new Declared(model, options));
            return this;
        }

        /**
         * Serves the inference graph in {@code file} (a native graph YAML, a SeldonDeployment or a
         * KServe InferenceGraph, as {@code oxserve run} reads them) as one more model, named as
         * the file names it. Its units run in this JVM: ONNX model files, oxserve's built-in
         * routers and combiners, remote units, and Java classes ({@code implementation: JAVA}
         * with a {@code class} and its {@code classpath}), each built through a class loader of
         * its own whose parent loaded oxserve, with its constructor taking a
         * {@code Map<String, Object>} (the node's {@code parameters}) if it has one, else its
         * constructor without arguments. A class must implement the calls of its node's type
         * ({@code predict} for a MODEL, {@code transformInput} for a TRANSFORMER, {@code route}
         * for a ROUTER…). Python classes and prepackaged servers cannot run here and stop the
         * start naming their node; ONNX Runtime is found as by {@code oxserve run} (set
         * {@code ORT_DYLIB_PATH} to name the library).
         */
        public Builder graph(Path file) {
            if (graph != null) {
                throw new IllegalArgumentException("a server serves one graph; " + graph + " is already declared");
            }
            this.graph = file;
            return this;
        }

        /**
         * Loads every model ({@link Model#load}) and the graph's units and starts serving;
         * returns once both ports listen.
         *
         * @throws ServerException when a model or a graph unit fails to load, a model implements
         *     no operation, or the server cannot start (a port in use, a bad graph file)
         */
        public Server start() {
            if (models.isEmpty() && graph == null) {
                throw new ServerException("no model to serve: add one with Server.builder().model(name, model) "
                        + "or a graph with graph(file)");
            }
            List<Object> declarations = new ArrayList<>();
            List<Model> instances = new ArrayList<>();
            for (Map.Entry<String, Declared> entry : models.entrySet()) {
                String name = entry.getKey();
                Model model = entry.getValue().model();
                declarations.add(declare(name, model, entry.getValue().options()));
                instances.add(model);
            }
            Map<String, Object> declaration = new LinkedHashMap<>();
            declaration.put("host", host);
            declaration.put("http_port", httpPort);
            declaration.put("grpc_port", grpcPort);
            declaration.put("default_model", defaultModel);
            declaration.put("drain_timeout", drainTimeout);
            declaration.put("max_request_size", maxRequestSize);
            declaration.put("log_level", logLevel);
            declaration.put("models", declarations);
            declaration.put("graph", graph == null ? null : graph.toAbsolutePath().toString());
            NativeLibrary.load();
            long handle = start0(Json.write(declaration), instances.toArray(new Model[0]));
            return new Server(handle, httpPort, grpcPort);
        }

        /** Loads {@code model} and describes it for the native side. */
        static Map<String, Object> declare(String name, Model model, ModelOptions options) {
            String className = (model instanceof ModelAdapter adapter ? adapter.adaptedClass() : model.getClass()).getName();
            List<String> operations = operations(model);
            if (operations.isEmpty() || operations.equals(List.of("health"))) {
                throw new ServerException("model '" + name + "' (" + className
                        + ") implements none of predict, transformInput, transformOutput, route, aggregate, sendFeedback");
            }
            try {
                model.load();
            } catch (Exception e) {
                throw new ServerException("model '" + name + "' (" + className + "): load failed: " + e, e);
            }
            boolean ready;
            try {
                ready = model.health();
            } catch (Exception e) {
                ready = false;
            }
            ModelMetadata metadata = model.metadata();
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("name", name);
            meta.put("platform", metadata.platform());
            meta.put("inputs", specs(metadata.inputs()));
            meta.put("outputs", specs(metadata.outputs()));
            Map<String, Object> settings = new LinkedHashMap<>();
            settings.put("name", name);
            settings.put("max_batch_size", options.maxBatchSize());
            settings.put("max_batch_time", options.maxBatchTime());
            settings.put("instances", options.instances());
            settings.put("max_queue_size", options.maxQueueSize());
            settings.put("timeout", options.timeout());
            Map<String, Object> declared = new LinkedHashMap<>();
            declared.put("metadata", meta);
            declared.put("settings", settings);
            declared.put("operations", operations);
            declared.put("ready", ready);
            return declared;
        }

        private static List<Object> specs(List<TensorSpec> specs) {
            List<Object> out = new ArrayList<>();
            for (TensorSpec spec : specs) {
                List<Object> shape = new ArrayList<>();
                for (long dim : spec.shape()) {
                    shape.add(dim);
                }
                out.add(Map.of("name", spec.name(), "datatype", spec.datatype().name(), "shape", shape));
            }
            return out;
        }

        /**
         * The operations (by the native side's names) that {@code model} implements: the methods
         * its class overrides, or what a {@link ModelAdapter} says its served object implements.
         */
        static List<String> operations(Model model) {
            List<String> operations = new ArrayList<>();
            for (Operation operation : Operation.values()) {
                boolean implemented = model instanceof ModelAdapter adapter
                        ? adapter.implemented().contains(operation.method)
                        : operation.overriddenBy(model.getClass());
                if (implemented) {
                    operations.add(operation.nativeName());
                }
            }
            return operations;
        }
    }

    /** The operations of {@link Model}, named as the native side names them, with their Java methods. */
    enum Operation {
        PREDICT("predict", InferenceRequest.class),
        TRANSFORM_INPUT("transformInput", InferenceRequest.class),
        TRANSFORM_OUTPUT("transformOutput", InferenceResponse.class),
        ROUTE("route", InferenceRequest.class),
        AGGREGATE("aggregate", List.class),
        SEND_FEEDBACK("sendFeedback", Feedback.class),
        HEALTH("health");

        private final String method;
        private final Class<?>[] parameters;

        Operation(String method, Class<?>... parameters) {
            this.method = method;
            this.parameters = parameters;
        }

        /** The name the native side and a graph's stages give the operation ({@code transform_input}). */
        String nativeName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        /** The Java method ({@code transformInput}). */
        String method() {
            return method;
        }

        boolean overriddenBy(Class<?> type) {
            try {
                return type.getMethod(method, parameters).getDeclaringClass() != Model.class;
            } catch (NoSuchMethodException e) {
                throw new AssertionError("io.oxserve.Model declares " + method, e);
            }
        }
    }

    private static native long start0(String declaration, Model[] models);

    private static native void stop0(long handle);
}
