"""Exceptions a model raises to choose the status of its answer.

The server reads the integer ``status_code`` of any exception raised by user code: an exception
that has one answers with that status and its message (Seldon's microservice exceptions carry one
too, so they work unchanged); any other exception is the model's failure, a 500.
"""


class OxserveError(Exception):
    """A failure with an HTTP status; ``str(error)`` is the message the caller receives."""

    status_code = 500

    def __init__(self, message, status_code=None):
        super().__init__(message)
        if status_code is not None:
            self.status_code = int(status_code)


class InvalidInput(OxserveError):
    """The request does not fit the model (400)."""

    status_code = 400


class ModelNotReady(OxserveError):
    """The model cannot take requests now (503)."""

    status_code = 503


class MicroserviceException(OxserveError):
    """Seldon's ``SeldonMicroserviceException`` shape: a message, a status (400 by default) and
    a reason, so Seldon-style code can ``raise MicroserviceException("bad", status_code=400)``."""

    status_code = 400

    def __init__(self, message, status_code=None, payload=None, reason="MICROSERVICE_BAD_DATA"):
        super().__init__(message, status_code)
        self.payload = payload
        self.reason = reason


from ._native import ServerError  # noqa: E402,F401 - raised by the Rust server, re-exported here


class StartupError(Exception):
    """A model cannot be served: an import failed or a required method is missing. The message
    names the class and the method."""
