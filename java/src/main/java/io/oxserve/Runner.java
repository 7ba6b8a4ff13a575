package io.oxserve;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The jar's entry point: serves one model class, or an inference graph file, without any code of
 * the user's beyond the model classes.
 *
 * <pre>
 * java -jar oxserve-0.1.0.jar --model-class com.example.Iris --classpath model.jar [--model-name iris]
 *     [--http-port 8080] [--grpc-port 8081] [--host 0.0.0.0] [--max-batch-size 0] [--max-batch-time 0]
 *     [--instances 1] [--max-queue-size 0] [--timeout 0] [--log-level info]
 * java -jar oxserve-0.1.0.jar --graph graph.yaml [--http-port 8080] [--grpc-port 8081] [--host 0.0.0.0]
 *     [--log-level info]
 * </pre>
 *
 * A graph ({@link Server.Builder#graph}) declares its units in its file, so {@code --graph}
 * takes the listening options only.
 *
 * Each flag can also come from an environment variable ({@code OXSERVE_MODEL_CLASS},
 * {@code OXSERVE_CLASSPATH}, {@code OXSERVE_HTTP_PORT}, …: the flag's name in upper case with
 * underscores); a flag wins over its variable. The class must implement {@link Model}, or
 * {@code io.oxserve.seldon.SeldonPredictionService} (Seldon's Java wrapper contract: then
 * protobuf-java must be on the runner's class path too, {@code java -cp
 * oxserve.jar:protobuf-java.jar:model.jar io.oxserve.Runner ...}), and have a public
 * constructor without arguments. SIGTERM or Ctrl-C drains in-flight requests, then the
 * JVM exits as it does on those signals (status 143 or 130); a model or server that cannot start
 * prints the reason and exits 1.
 */
public final class Runner {
    private static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

    static {
        DEFAULTS.put("model-class", null);
        DEFAULTS.put("graph", null);
        DEFAULTS.put("classpath", "");
        DEFAULTS.put("model-name", null);
        DEFAULTS.put("host", "0.0.0.0");
        DEFAULTS.put("http-port", "8080");
        DEFAULTS.put("grpc-port", "8081");
        DEFAULTS.put("max-batch-size", "0");
        DEFAULTS.put("max-batch-time", "0");
        DEFAULTS.put("instances", "1");
        DEFAULTS.put("max-queue-size", "0");
        DEFAULTS.put("timeout", "0");
        DEFAULTS.put("log-level", "info");
    }

    /** The options that describe the one model of {@code --model-class}. */
    private static final List<String> MODEL_OPTIONS = List.of("classpath", "model-name", "max-batch-size",
            "max-batch-time", "instances", "max-queue-size", "timeout");

    private Runner() {}

    public static void main(String[] args) throws InterruptedException {
        Server server;
        try {
            server = start(args, System.getenv());
        } catch (ServerException | IllegalArgumentException e) {
            System.err.println("oxserve: " + e.getMessage());
            System.exit(1);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "oxserve-shutdown"));
        server.awaitTermination();
    }

    /** Parses {@code args} (over {@code environment}), loads the model class or the graph and starts serving it. */
    static Server start(String[] args, Map<String, String> environment) {
        Map<String, String> options = options(args, environment);
        Server.Builder builder = Server.builder()
                .host(options.get("host"))
                .httpPort(integer(options, "http-port"))
                .grpcPort(integer(options, "grpc-port"))
                .logLevel(options.get("log-level"));
        String graph = options.get("graph");
        if (graph != null) {
            if (options.get("model-class") != null) {
                throw new IllegalArgumentException("--graph and --model-class exclude each other: serve a graph file or one model class");
            }
            for (String option : MODEL_OPTIONS) {
                if (!Objects.equals(options.get(option), DEFAULTS.get(option))) {
                    throw new IllegalArgumentException("--" + option + " applies to --model-class, not to --graph, whose "
                            + "file declares its units");
                }
            }
            return builder.graph(Path.of(graph)).start();
        }
        String className = options.get("model-class");
        if (className == null) {
            throw new IllegalArgumentException("--model-class or --graph (or OXSERVE_MODEL_CLASS, OXSERVE_GRAPH) is required");
        }
        Model model = instantiate(className, options.get("classpath"));
        Class<?> served = model instanceof ModelAdapter adapter ? adapter.adaptedClass() : model.getClass();
        String name = options.get("model-name") != null ? options.get("model-name") : served.getSimpleName();
        ModelOptions modelOptions = ModelOptions.defaults()
                .withMaxBatchSize(integer(options, "max-batch-size"), number(options, "max-batch-time"))
                .withInstances(integer(options, "instances"))
                .withMaxQueueSize(integer(options, "max-queue-size"))
                .withTimeout(number(options, "timeout"));
        return builder.model(name, model, modelOptions).start();
    }

    /**
     * A new instance of {@code className}, found on {@code classpath} (jars and folders separated
     * by the platform's path separator) or on the runner's own class path.
     *
     * @throws ServerException naming the class when it is missing, is neither a {@link Model}
     *     nor a Seldon service, or cannot be constructed
     */
    static Model instantiate(String className, String classpath) {
        List<Path> entries = new ArrayList<>();
        for (String entry : classpath.split(File.pathSeparator)) {
            if (!entry.isEmpty()) {
                entries.add(Path.of(entry));
            }
        }
        return ModelClasses.instantiate(className, entries, Map.of(),
                new ModelClasses.Origin("model class " + className, "--classpath"));
    }

    /** Flags over environment variables over defaults; an unknown flag is an error naming it. */
    private static Map<String, String> options(String[] args, Map<String, String> environment) {
        Map<String, String> options = new LinkedHashMap<>();
        for (Map.Entry<String, String> option : DEFAULTS.entrySet()) {
            String variable = "OXSERVE_" + option.getKey().toUpperCase(java.util.Locale.ROOT).replace('-', '_');
            options.put(option.getKey(), environment.getOrDefault(variable, option.getValue()));
        }
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            String key = flag.startsWith("--") ? flag.substring(2) : flag;
            String value = null;
            int equals = key.indexOf('=');
            if (equals >= 0) {
                value = key.substring(equals + 1);
                key = key.substring(0, equals);
            }
            if (!flag.startsWith("--") || !DEFAULTS.containsKey(key)) {
                throw new IllegalArgumentException("unknown option " + flag + "; options: --" + String.join(", --", DEFAULTS.keySet()));
            }
            if (value == null) {
                if (i + 1 == args.length) {
                    throw new IllegalArgumentException(flag + " needs a value");
                }
                value = args[++i];
            }
            options.put(key, value);
        }
        return options;
    }

    private static int integer(Map<String, String> options, String key) {
        try {
            return Integer.parseInt(options.get(key));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + key + ": '" + options.get(key) + "' is not a whole number");
        }
    }

    private static double number(Map<String, String> options, String key) {
        try {
            return Double.parseDouble(options.get(key));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + key + ": '" + options.get(key) + "' is not a number");
        }
    }
}
