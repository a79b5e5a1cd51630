"""Run a .tflite file in LiteRT as if it were a float model: x in, logits out.

Used by the verification after conversion, by the server and by the
benchmarks, so all three feed the model the same way. An int8-io model takes
int8 and returns int8; this wrapper quantises the normalised input and
dequantises the logits with the scales stored in the file, exactly the two
formulas an app applies (mobile/README.md).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from nnkeras.errors import NNKerasError


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


class LiteRTModel:
    """One single-input, single-output .tflite model in `ai_edge_litert`'s Interpreter.

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
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise NNKerasError(f"model has {len(inputs)} inputs and {len(outputs)} outputs; nnkeras serves 1 and 1")
        self.input, self.output = inputs[0], outputs[0]
        self.input_shape = tuple(int(d) for d in self.input["shape_signature"][1:])
        self.input_dtype = np.dtype(self.input["dtype"])
        # A batch dimension of -1 can be resized; a fixed one means one example per call.
        self.dynamic_batch = int(self.input["shape_signature"][0]) == -1
        self._batch = int(self.input["shape"][0])
        self._lock = threading.Lock()
        self.interpreter.allocate_tensors()

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float logits for the (normalised) inputs `x`, shape (n, *input_shape)."""
        x = np.asarray(x)
        step = batch_size if self.dynamic_batch else self._batch
        with self._lock:
            parts = [self._invoke(x[i : i + step]) for i in range(0, len(x), step)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.output["shape"][1:]), np.float32)

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        if self.dynamic_batch and len(x) != self._batch:
            self.interpreter.resize_tensor_input(self.input["index"], [len(x), *self.input_shape])
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self.input["index"], self._to_input(x))
        self.interpreter.invoke()
        return self._from_output(self.interpreter.get_tensor(self.output["index"]))

    def _to_input(self, x: np.ndarray) -> np.ndarray:
        scale, zero_point = self.input["quantization"]
        if self.input_dtype in (np.int8, np.uint8) and scale:
            return quantize(x.astype(np.float32), scale, zero_point, self.input_dtype)
        return x.astype(self.input_dtype)

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

        return {"input": params(self.input), "output": params(self.output),
                "input_dtype": self.input_dtype.name, "output_dtype": np.dtype(self.output["dtype"]).name}
