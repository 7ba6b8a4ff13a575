"""Seldon's protobuf messages, for the methods to which Seldon's wrapper hands protos: ``*_raw``
over gRPC, the deprecated ``*_grpc``, and ``send_feedback_raw`` always.

The classes are built at run time from the descriptors compiled into the Rust core, so oxserve
ships no generated code; they need the ``protobuf`` package, as Seldon's wrapper does. Without it
those methods get Seldon's JSON dicts instead.
"""

import functools

from . import _native

# The seldon.protos messages a method may be handed.
MESSAGES = ("SeldonMessage", "SeldonMessageList", "Feedback")


@functools.cache
def _classes():
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        return None
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(_native.service_descriptors()).file:
        pool.Add(file)
    descriptors = {name: pool.FindMessageTypeByName(f"seldon.protos.{name}") for name in MESSAGES}
    if hasattr(message_factory, "GetMessageClass"):
        return {name: message_factory.GetMessageClass(d) for name, d in descriptors.items()}
    factory = message_factory.MessageFactory(pool)  # protobuf before 4.21
    return {name: factory.GetPrototype(d) for name, d in descriptors.items()}


def available():
    """Whether ``protobuf`` is installed, so that methods can be handed protos."""
    return _classes() is not None


def to_proto(name, message):
    """Seldon's JSON ``message`` as the proto ``name`` (one of :data:`MESSAGES`), or as it is
    when ``protobuf`` is missing."""
    classes = _classes()
    if classes is None:
        return message
    from google.protobuf import json_format

    return json_format.ParseDict(message, classes[name](), ignore_unknown_fields=True)


def to_dict(value):
    """A method's answer as Seldon's JSON dict: a proto is converted, anything else returned."""
    if hasattr(value, "DESCRIPTOR"):
        from google.protobuf import json_format

        return json_format.MessageToDict(value)
    return value
