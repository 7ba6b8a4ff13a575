"""TensorFlow SavedModels, called through a serving signature."""

from ..errors import InvalidInput
from ._base import PrepackagedModel


class TensorFlowModel(PrepackagedModel):
    """Calls the signature ``parameters.extra.signature`` (``serving_default`` by default) with one
    argument per request input, by name (a one-argument signature takes the one input whatever its
    name), and answers its outputs by their signature names."""

    implementation = "tensorflow"
    module = "tensorflow"
    package = "tensorflow"
    model_files = ("saved_model.pb",)

    def load_model(self, tensorflow, path):
        # The model is the folder that holds saved_model.pb; parameters.uri may name either.
        folder = path.parent if path.name == "saved_model.pb" else path
        loaded = tensorflow.saved_model.load(str(folder))
        name = self.extra.get("signature", "serving_default")
        if name not in loaded.signatures:
            raise self.fail(
                f"the SavedModel has no signature '{name}'; it has {', '.join(loaded.signatures)}"
            )
        self.tensorflow = tensorflow
        self.signature = loaded.signatures[name]
        self.arguments = self.signature.structured_input_signature[1]
        # A loaded SavedModel owns the variables the signature reads; keep it alive.
        return loaded

    def infer(self, arrays, requested):
        if len(self.arguments) == 1 and len(arrays) == 1:
            # One argument takes the one input whatever its name, so that KServe v1 `instances`
            # and Seldon `ndarray` requests, which carry no names, reach it.
            named = {next(iter(self.arguments)): next(iter(arrays.values()))}
        else:
            missing = sorted(set(self.arguments) - set(arrays))
            if missing:
                raise InvalidInput(
                    f"model '{self.name}' needs inputs {sorted(self.arguments)}; missing {missing}"
                )
            named = arrays
        # JSON numbers arrive as FP64 or INT64; the signature fixes the dtype each argument takes.
        arguments = {
            name: self.tensorflow.constant(named[name], dtype=spec.dtype)
            for name, spec in self.arguments.items()
        }
        outputs = self.signature(**arguments)
        return {name: value.numpy() for name, value in outputs.items()}
