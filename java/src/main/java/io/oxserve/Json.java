package io.oxserve;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON for the plain Java values oxserve hands models (maps, lists, strings, numbers, booleans
 * and null): the parameters and Seldon meta of messages, the server's declaration, and a
 * {@code jsonData} payload, which arrives as the UTF-8 text of one BYTES element. The native side
 * only hands Java JSON that serde wrote, so a small reader and writer are enough and the
 * artifact needs no JSON library.
 */
public final class Json {
    private Json() {}

    /** An unmodifiable copy of {@code map} in its order (null: empty); JSON nulls are kept. */
    static Map<String, Object> copy(Map<String, Object> map) {
        return map == null || map.isEmpty() ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(map));
    }

    /**
     * The value {@code json} holds: objects as unmodifiable {@code Map}s in their order, arrays as
     * unmodifiable {@code List}s, whole numbers as {@code Long} (others, and whole numbers beyond
     * a long, as {@code Double}), strings, booleans and null.
     *
     * @throws IllegalArgumentException at the first character that is not JSON
     */
    public static Object read(String json) {
        Reader reader = new Reader(json);
        Object value = reader.value();
        reader.space();
        if (reader.at < json.length()) {
            throw reader.error("end of input");
        }
        return value;
    }

    /**
     * {@code value} as JSON text.
     *
     * @throws IllegalArgumentException for a value of another type, naming its class
     */
    public static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String s) {
            string(s, out);
        } else if (value instanceof Number || value instanceof Boolean) {
            out.append(value);
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            String separator = "";
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                out.append(separator);
                string(entry.getKey().toString(), out);
                out.append(':');
                write(entry.getValue(), out);
                separator = ",";
            }
            out.append('}');
        } else if (value instanceof List<?> list) {
            out.append('[');
            for (int i = 0; i < list.size(); i++) {
                out.append(i == 0 ? "" : ",");
                write(list.get(i), out);
            }
            out.append(']');
        } else {
            throw new IllegalArgumentException("no JSON form for " + value.getClass());
        }
    }

    private static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** A recursive-descent reader over one JSON text. */
    private static final class Reader {
        private final String text;
        private int at;

        Reader(String text) {
            this.text = text;
        }

        Object value() {
            space();
            if (at == text.length()) {
                throw error("a value");
            }
            char c = text.charAt(at);
            switch (c) {
                case '{':
                    return object();
                case '[':
                    return array();
                case '"':
                    return string();
                case 't':
                    return literal("true", Boolean.TRUE);
                case 'f':
                    return literal("false", Boolean.FALSE);
                case 'n':
                    return literal("null", null);
                default:
                    return number();
            }
        }

        private Map<String, Object> object() {
            at++;
            Map<String, Object> map = new LinkedHashMap<>();
            space();
            if (peek('}')) {
                return Collections.unmodifiableMap(map);
            }
            do {
                space();
                if (!peek('"')) {
                    throw error("a string key");
                }
                at--;
                String key = string();
                space();
                expect(':');
                map.put(key, value());
                space();
            } while (peek(','));
            expect('}');
            return Collections.unmodifiableMap(map);
        }

        private List<Object> array() {
            at++;
            List<Object> list = new ArrayList<>();
            space();
            if (peek(']')) {
                return Collections.unmodifiableList(list);
            }
            do {
                list.add(value());
                space();
            } while (peek(','));
            expect(']');
            return Collections.unmodifiableList(list);
        }

        private String string() {
            at++;
            StringBuilder out = new StringBuilder();
            while (at < text.length()) {
                char c = text.charAt(at++);
                if (c == '"') {
                    return out.toString();
                }
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                if (at == text.length()) {
                    break;
                }
                char escaped = text.charAt(at++);
                switch (escaped) {
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    case 'u' -> {
                        if (at + 4 > text.length()) {
                            throw error("four hex digits");
                        }
                        try {
                            out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                        } catch (NumberFormatException e) {
                            throw error("four hex digits");
                        }
                        at += 4;
                    }
                    case '"', '\\', '/' -> out.append(escaped);
                    default -> throw error("an escape");
                }
            }
            throw error("the end of the string");
        }

        private Object number() {
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) {
                at++;
            }
            String number = text.substring(start, at);
            try {
                if (number.chars().allMatch(c -> c == '-' || Character.isDigit(c))) {
                    try {
                        return Long.parseLong(number);
                    } catch (NumberFormatException tooLong) {
                        return Double.parseDouble(number);
                    }
                }
                return Double.parseDouble(number);
            } catch (NumberFormatException e) {
                at = start;
                throw error("a value");
            }
        }

        private Object literal(String word, Object value) {
            if (!text.startsWith(word, at)) {
                throw error("a value");
            }
            at += word.length();
            return value;
        }

        void space() {
            while (at < text.length() && " \t\r\n".indexOf(text.charAt(at)) >= 0) {
                at++;
            }
        }

        private boolean peek(char c) {
            if (at < text.length() && text.charAt(at) == c) {
                at++;
                return true;
            }
            return false;
        }

        private void expect(char c) {
            if (!peek(c)) {
                throw error("'" + c + "'");
            }
        }

        IllegalArgumentException error(String expected) {
            return new IllegalArgumentException("JSON: expected " + expected + " at character " + at);
        }
    }
}
