"""`nnkeras serve`: the tutorial's Flask web API around one model.

    app        the Flask application (`create_app`), the predictor, the server loop
    requests   parsing and checking a POST /predict body against the model's metadata

`nnkeras.serve:create_app` is the factory to point a WSGI server at.
"""

from nnkeras.serve.app import create_app, load_predictor, serve

__all__ = ["create_app", "load_predictor", "serve"]
