package io.oxserve;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the native server ({@code liboxserve_java}) once per JVM.
 *
 * <p>The jar carries the library under {@code native/<os>-<arch>/}; it is copied to a temporary
 * file and loaded from there, since a library cannot be loaded from inside a jar. The system
 * property {@code oxserve.native.library} names a library file to load instead (a development
 * build of the Rust crate).
 */
final class NativeLibrary {
    private static boolean loaded;

    private NativeLibrary() {}

    static synchronized void load() {
        if (loaded) {
            return;
        }
        String explicit = System.getProperty("oxserve.native.library");
        if (explicit != null) {
            System.load(Path.of(explicit).toAbsolutePath().toString());
        } else {
            System.load(extract().toString());
        }
        loaded = true;
    }

    /** The resource folder of this platform: {@code linux-x86_64}, {@code linux-aarch64}, {@code macos-aarch64}… */
    static String platform() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        String osName = os.contains("mac") ? "macos" : os.contains("win") ? "windows" : "linux";
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    private static Path extract() {
        String file = System.mapLibraryName("oxserve_java");
        String resource = "/native/" + platform() + "/" + file;
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new ServerException("this oxserve jar has no native library for " + platform() + " (looked for "
                        + resource + "); build one with `mvn package` on that platform, or set -Doxserve.native.library");
            }
            Path dir = Files.createTempDirectory("oxserve-native");
            Path target = dir.resolve(file);
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            target.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return target;
        } catch (IOException e) {
            throw new ServerException("cannot extract the native library " + resource + ": " + e.getMessage(), e);
        }
    }
}
