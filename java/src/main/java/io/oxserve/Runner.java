package io.oxserve;

import java.io.File;
import java.lang.reflect.InvocationTargetException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The jar's entry point: serves one model class without any code of the user's beyond the model.
 *
 * <pre>
 * java -jar oxserve-0.1.0.jar --model-class com.example.Iris --classpath model.jar [--model-name iris]
 *     [--http-port 8080] [--grpc-port 8081] [--host 0.0.0.0] [--max-batch-size 0] [--max-batch-time 0]
 *     [--instances 1] [--max-queue-size 0] [--timeout 0] [--log-level info]
 * </pre>
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

    /** Parses {@code args} (over {@code environment}), loads the model class and starts serving it. */
    static Server start(String[] args, Map<String, String> environment) {
        Map<String, String> options = options(args, environment);
        String className = options.get("model-class");
        if (className == null) {
            throw new IllegalArgumentException("--model-class (or OXSERVE_MODEL_CLASS) is required");
        }
        Model model = instantiate(className, options.get("classpath"));
        Class<?> served = model instanceof ModelAdapter adapter ? adapter.adaptedClass() : model.getClass();
        String name = options.get("model-name") != null ? options.get("model-name") : served.getSimpleName();
        ModelOptions modelOptions = ModelOptions.defaults()
                .withMaxBatchSize(integer(options, "max-batch-size"), number(options, "max-batch-time"))
                .withInstances(integer(options, "instances"))
                .withMaxQueueSize(integer(options, "max-queue-size"))
                .withTimeout(number(options, "timeout"));
        return Server.builder()
                .host(options.get("host"))
                .httpPort(integer(options, "http-port"))
                .grpcPort(integer(options, "grpc-port"))
                .logLevel(options.get("log-level"))
                .model(name, model, modelOptions)
                .start();
    }

    /**
     * A new instance of {@code className}, found on {@code classpath} (jars and folders separated
     * by the platform's path separator) or on the runner's own class path.
     *
     * @throws ServerException naming the class when it is missing, is neither a {@link Model}
     *     nor a Seldon service, or cannot be constructed
     */
    static Model instantiate(String className, String classpath) {
        ClassLoader loader = loader(classpath);
        Class<?> type;
        try {
            type = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            throw new ServerException("model class " + className + " is not on the class path"
                    + (classpath.isEmpty() ? " (add its jar with --classpath)" : " " + classpath));
        } catch (LinkageError e) {
            throw new ServerException("model class " + className + " cannot be loaded: " + e, e);
        }
        boolean seldon = !Model.class.isAssignableFrom(type) && isSeldonService(type);
        if (!Model.class.isAssignableFrom(type) && !seldon) {
            throw new ServerException("model class " + className + " implements neither io.oxserve.Model nor "
                    + SELDON_SERVICE);
        }
        try {
            Object instance = type.getDeclaredConstructor().newInstance();
            return seldon ? seldonModel(instance) : (Model) instance;
        } catch (NoSuchMethodException e) {
            throw new ServerException("model class " + className + " has no constructor without arguments");
        } catch (InvocationTargetException e) {
            throw new ServerException("model class " + className + ": its constructor threw " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new ServerException("model class " + className + " cannot be constructed: " + e, e);
        }
    }

    /** Seldon's contract, named rather than referenced so that the runner loads without protobuf. */
    private static final String SELDON_SERVICE = "io.oxserve.seldon.SeldonPredictionService";

    /** Whether {@code type} implements {@link #SELDON_SERVICE} (false when protobuf is missing, so it cannot). */
    private static boolean isSeldonService(Class<?> type) {
        try {
            return Class.forName(SELDON_SERVICE, false, type.getClassLoader()).isAssignableFrom(type);
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /**
     * {@code service} served by {@code io.oxserve.seldon.SeldonModel}; a missing protobuf-java
     * (which the adapter needs) is named.
     */
    private static Model seldonModel(Object service) throws ReflectiveOperationException {
        ClassLoader loader = service.getClass().getClassLoader();
        Class<?> contract = Class.forName(SELDON_SERVICE, true, loader);
        try {
            return (Model) Class.forName("io.oxserve.seldon.SeldonModel", true, loader)
                    .getConstructor(contract)
                    .newInstance(service);
        } catch (InvocationTargetException | LinkageError e) {
            Throwable cause = e instanceof InvocationTargetException ? e.getCause() : e;
            if (cause instanceof LinkageError) {
                throw new ServerException("model class " + service.getClass().getName()
                        + " is a Seldon service, which needs protobuf-java on the class path: " + cause, cause);
            }
            throw e;
        }
    }

    private static ClassLoader loader(String classpath) {
        ClassLoader parent = Runner.class.getClassLoader();
        if (classpath.isEmpty()) {
            return parent;
        }
        List<URL> urls = new ArrayList<>();
        for (String entry : classpath.split(File.pathSeparator)) {
            File file = new File(entry);
            if (!file.exists()) {
                throw new ServerException("--classpath: " + entry + " does not exist");
            }
            try {
                urls.add(file.toURI().toURL());
            } catch (MalformedURLException e) {
                throw new ServerException("--classpath: " + entry + ": " + e.getMessage(), e);
            }
        }
        return new URLClassLoader(urls.toArray(new URL[0]), parent);
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
