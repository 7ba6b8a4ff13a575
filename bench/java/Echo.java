package oxservebench;

import io.oxserve.InferenceRequest;
import io.oxserve.InferenceResponse;
import io.oxserve.Model;
import io.oxserve.Tensor;

/**
 * A Java model that does nothing: it answers its first input, unchanged, as {@code output}. Served
 * with the jar's runner, its time per call in the server is what crossing from Rust into Java and
 * back costs (the hand-off to a JVM thread, the JNI call, the tensors converted both ways), which
 * bench/run.py compares with the ONNX identity model (bench/models.py) served natively.
 */
public class Echo implements Model {
    @Override
    public InferenceResponse predict(InferenceRequest request) {
        Tensor input = request.inputs().get(0);
        return InferenceResponse.of(new Tensor("output", input.datatype(), input.shape(), input.data()));
    }
}
