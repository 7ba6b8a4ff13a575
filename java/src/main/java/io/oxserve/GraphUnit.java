package io.oxserve;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A Java class of an inference graph ({@link Server.Builder#graph}), built, checked and loaded for
 * the native side, which calls {@link #build} for each {@code implementation: JAVA} node while it
 * assembles the graph, then serves {@link #model} as it serves a model of
 * {@link Server.Builder#model}.
 *
 * @param model the node's model, loaded
 * @param declaration what {@link Server.Builder#declare} says of it, as JSON
 */
record GraphUnit(Model model, String declaration) {
    /**
     * Builds the class a node names and loads it. {@code request} is JSON: the node's
     * {@code node} name, {@code class}, {@code classpath} (absolute paths), {@code parameters}
     * (a map) and the {@code operations} its place in the graph calls (native names:
     * {@code transform_input}, …).
     *
     * @throws ServerException naming the node and the class when the class cannot be built,
     *     lacks one of the operations, or its {@code load} fails
     */
    @SuppressWarnings("unchecked")
    static GraphUnit build(String request) {
        Map<String, Object> node = (Map<String, Object>) Json.read(request);
        String name = (String) node.get("node");
        String className = (String) node.get("class");
        String subject = "node '" + name + "': class " + className;
        try {
            List<Path> classpath = new ArrayList<>();
            for (Object entry : (List<Object>) node.get("classpath")) {
                classpath.add(Path.of((String) entry));
            }
            Model model = ModelClasses.instantiate(className, classpath, (Map<String, Object>) node.get("parameters"),
                    new ModelClasses.Origin(subject, "node '" + name + "': classpath"));
            List<String> implemented = Server.Builder.operations(model);
            for (Object operation : (List<Object>) node.get("operations")) {
                if (!implemented.contains(operation)) {
                    throw new ServerException(subject + " does not implement " + method((String) operation)
                            + ", which the node's type calls");
                }
            }
            return new GraphUnit(model, Json.write(Server.Builder.declare(name, model, ModelOptions.defaults())));
        } catch (ServerException e) {
            throw e;
        } catch (RuntimeException | LinkageError e) {
            throw new ServerException(subject + ": " + e, e);
        }
    }

    /** The Java method of an operation the native side names. */
    private static String method(String operation) {
        for (Server.Operation known : Server.Operation.values()) {
            if (known.nativeName().equals(operation)) {
                return known.method();
            }
        }
        return operation;
    }
}
