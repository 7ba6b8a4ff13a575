package io.oxserve;

/**
 * The name, type and shape of one declared input or output; {@code -1} marks a dimension of any
 * size (the batch dimension, usually).
 */
public record TensorSpec(String name, DataType datatype, long... shape) {
    public TensorSpec {
        shape = shape.clone();
    }
}
