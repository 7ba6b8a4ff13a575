package io.oxserve;

import java.io.File;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Users' model classes, found and built by name: the runner's {@code --model-class} and the
 * {@code implementation: JAVA} nodes of a graph. A class comes from its own class path (jars and
 * folders) through a class loader whose parent loaded oxserve, so the class and oxserve share
 * {@code io.oxserve.*}; it must implement {@link Model} or Seldon's Java contract
 * ({@code io.oxserve.seldon.SeldonPredictionService}, served through
 * {@code io.oxserve.seldon.SeldonModel}). It is built with its constructor taking a
 * {@code java.util.Map<String, Object>} (the parameters, as Seldon passes them to a class) when
 * it has one, else with its constructor without arguments.
 */
final class ModelClasses {
    /** Seldon's contract, named rather than referenced so that oxserve loads without protobuf. */
    private static final String SELDON_SERVICE = "io.oxserve.seldon.SeldonPredictionService";

    private ModelClasses() {}

    /**
     * Where a class is asked for, as errors name it: {@code subject} is how the class is named
     * ({@code model class com.example.Iris}, {@code node 'lr': class com.example.Lr}) and
     * {@code classpathOption} the option that lists its class path.
     */
    record Origin(String subject, String classpathOption) {}

    /**
     * A new instance of {@code className}, found on {@code classpath} (or, when it is empty, on
     * oxserve's own class path), given {@code parameters}.
     *
     * @throws ServerException naming the class when it is missing, is neither a {@link Model} nor
     *     a Seldon service, takes no parameters but is given some, or cannot be constructed
     */
    static Model instantiate(String className, List<Path> classpath, Map<String, Object> parameters, Origin origin) {
        ClassLoader loader = loader(classpath, origin);
        Class<?> type;
        try {
            type = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            throw new ServerException(origin.subject() + " is not on the class path"
                    + (classpath.isEmpty() ? " (add its jar or folder with " + origin.classpathOption() + ")" : " " + classpath));
        } catch (LinkageError e) {
            throw new ServerException(origin.subject() + " cannot be loaded: " + e, e);
        }
        boolean seldon = !Model.class.isAssignableFrom(type) && isSeldonService(type);
        if (!Model.class.isAssignableFrom(type) && !seldon) {
            throw new ServerException(origin.subject() + " implements neither io.oxserve.Model nor " + SELDON_SERVICE);
        }
        try {
            Object instance = construct(type, parameters, origin);
            return seldon ? seldonModel(instance, origin) : (Model) instance;
        } catch (InvocationTargetException e) {
            throw new ServerException(origin.subject() + ": its constructor threw " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new ServerException(origin.subject() + " cannot be constructed: " + e, e);
        }
    }

    /** Calls the constructor taking the parameters, else the one without arguments. */
    private static Object construct(Class<?> type, Map<String, Object> parameters, Origin origin)
            throws ReflectiveOperationException {
        Constructor<?> withParameters;
        try {
            withParameters = type.getDeclaredConstructor(Map.class);
        } catch (NoSuchMethodException e) {
            withParameters = null;
        }
        if (withParameters != null) {
            return withParameters.newInstance(Json.copy(parameters));
        }
        if (!parameters.isEmpty()) {
            throw new ServerException(origin.subject() + " is given the parameters " + parameters.keySet()
                    + " but has no constructor taking a java.util.Map<String, Object>");
        }
        try {
            return type.getDeclaredConstructor().newInstance();
        } catch (NoSuchMethodException e) {
            throw new ServerException(origin.subject()
                    + " has no constructor without arguments nor one taking a java.util.Map<String, Object>");
        }
    }

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
    private static Model seldonModel(Object service, Origin origin) throws ReflectiveOperationException {
        ClassLoader loader = service.getClass().getClassLoader();
        Class<?> contract = Class.forName(SELDON_SERVICE, true, loader);
        try {
            return (Model) Class.forName("io.oxserve.seldon.SeldonModel", true, loader)
                    .getConstructor(contract)
                    .newInstance(service);
        } catch (InvocationTargetException | LinkageError e) {
            Throwable cause = e instanceof InvocationTargetException ? e.getCause() : e;
            if (cause instanceof LinkageError) {
                throw new ServerException(origin.subject()
                        + " is a Seldon service, which needs protobuf-java on the class path: " + cause, cause);
            }
            throw e;
        }
    }

    /** A loader for {@code classpath} whose parent loaded oxserve; oxserve's own when it is empty. */
    private static ClassLoader loader(List<Path> classpath, Origin origin) {
        ClassLoader parent = ModelClasses.class.getClassLoader();
        if (classpath.isEmpty()) {
            return parent;
        }
        List<URL> urls = new ArrayList<>();
        for (Path entry : classpath) {
            File file = entry.toFile();
            if (!file.exists()) {
                throw new ServerException(origin.classpathOption() + ": " + entry + " does not exist");
            }
            try {
                urls.add(file.toURI().toURL());
            } catch (MalformedURLException e) {
                throw new ServerException(origin.classpathOption() + ": " + entry + ": " + e.getMessage(), e);
            }
        }
        return new URLClassLoader(urls.toArray(new URL[0]), parent);
    }
}
