"""From a finished run directory to a verified .tflite (or .onnx) file.

    convert     model.keras -> SavedModel -> TFLite builtin ops (or ONNX); writes file,
                metadata and verification report; `nnkeras convert`
    verify      the converted file against the Keras model on the run's test split
    metadata    what a file carries so an app can feed it raw data
    flatbuffer  embedding that metadata in a .tflite and reading it back
    litert      running a .tflite in LiteRT (ai_edge_litert) as a float model
    onnx        the optional ONNX route (tf2onnx + onnxruntime)

The run itself is read by nnkeras.finished_run, one floor below.
"""
