"""Run a .tflite file in LiteRT as if it were a float model: x in, logits out.

Used by the verification after conversion, by the server and by the
benchmarks, so all three feed the model the same way. An int8-io model takes
int8 and returns int8; this wrapper quantises the normalised input and
dequantises the logits with the scales stored in the file, exactly the two
formulas an app applies (mobile/README.md).

A model with several inputs (a table: one tensor per column) takes a dict
name -> array; the names are those of the file's signature, so tensors are
matched by name, never by their order in the file.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from nnkeras.errors import NNKerasError
from nnkeras.quiet import quiet_stderr


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


class LiteRTModel:
    """One single-output .tflite model in `ai_edge_litert`'s Interpreter.

    Not safe to call from two threads at once (one interpreter holds one set
    of tensors); `predict` takes a lock so the server can share it.
    """

    def __init__(self, source: str | Path | bytes, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        content = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
        self.size_bytes = len(content)
        try:
            self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:
            raise NNKerasError(f"LiteRT cannot load the model ({str(exc).splitlines()[0]}); convert it again") from None
        self.inputs, outputs = _named_inputs(self.interpreter), self.interpreter.get_output_details()
        if len(outputs) != 1:
            raise NNKerasError(f"model has {len(outputs)} outputs; nnkeras serves models with one")
        self.output = outputs[0]
        self.input = next(iter(self.inputs.values())) if len(self.inputs) == 1 else None
        if self.input is not None:
            self.input_shape = tuple(int(d) for d in self.input["shape_signature"][1:])
            self.input_dtype = np.dtype(self.input["dtype"])
        # A batch dimension of -1 can be resized; a fixed one means one example per call.
        self.dynamic_batch = all(int(d["shape_signature"][0]) == -1 for d in self.inputs.values())
        self._batch = int(next(iter(self.inputs.values()))["shape"][0])
        self._lock = threading.Lock()
        with quiet_stderr():  # the first allocation applies the XNNPACK delegate, and says so on stderr
            self.interpreter.allocate_tensors()

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        """Float logits for the (normalised) inputs: an array (n, *input_shape), or a dict name -> array."""
        x = self._by_name(x)
        n = len(next(iter(x.values())))
        step = batch_size if self.dynamic_batch else self._batch
        with self._lock:
            parts = [self._invoke({k: v[i : i + step] for k, v in x.items()}) for i in range(0, n, step)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.output["shape"][1:]), np.float32)

    def _by_name(self, x) -> dict[str, np.ndarray]:
        if not isinstance(x, dict):
            if self.input is None:
                raise NNKerasError(f"model takes {len(self.inputs)} named inputs ({', '.join(self.inputs)}); pass a dict")
            return {next(iter(self.inputs)): np.asarray(x)}
        if set(x) != set(self.inputs):
            raise NNKerasError(f"model takes inputs {', '.join(sorted(self.inputs))}; got {', '.join(sorted(x))}")
        return {k: np.asarray(v) for k, v in x.items()}

    def _invoke(self, x: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(x.values())))
        if self.dynamic_batch and n != self._batch:
            for name, detail in self.inputs.items():
                self.interpreter.resize_tensor_input(detail["index"], [n, *detail["shape_signature"][1:]])
            self.interpreter.allocate_tensors()
            self._batch = n
        for name, detail in self.inputs.items():
            self.interpreter.set_tensor(detail["index"], to_input(detail, x[name]))
        self.interpreter.invoke()
        return self._from_output(self.interpreter.get_tensor(self.output["index"]))

    def _from_output(self, y: np.ndarray) -> np.ndarray:
        scale, zero_point = self.output["quantization"]
        if np.dtype(self.output["dtype"]) in (np.int8, np.uint8) and scale:
            return dequantize(y, scale, zero_point)
        return y.astype(np.float32)

    def io_quantization(self) -> dict:
        """Scale and zero point of the input and output tensors (None when they are float)."""

        def params(detail):
            scale, zero_point = detail["quantization"]
            return {"scale": float(scale), "zero_point": int(zero_point)} if scale else None

        single = self.input is not None
        return {"input": params(self.input) if single else None, "output": params(self.output),
                "input_dtype": self.input_dtype.name if single else None,
                "output_dtype": np.dtype(self.output["dtype"]).name}


def _named_inputs(interpreter) -> dict[str, dict]:
    """Input name -> tensor details, by the file's one signature (its names are the Keras input names)."""
    signatures = interpreter.get_signature_list()
    if len(signatures) == 1:
        return interpreter.get_signature_runner(next(iter(signatures))).get_input_details()
    return {detail["name"]: detail for detail in interpreter.get_input_details()}


def to_input(detail: dict, x: np.ndarray) -> np.ndarray:
    """`x` in the tensor's dtype, quantised when the tensor is int8 with a scale."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype in (np.int8, np.uint8) and scale:
        return quantize(np.asarray(x, np.float32), scale, zero_point, dtype)
    return np.asarray(x).astype(dtype)
