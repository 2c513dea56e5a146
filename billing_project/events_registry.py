"""Which serializer renders an object in an event's `data.object`, by the object's class.

Services record events but must not import the api layer (where the serializers live). Each app
registers its object kinds in its AppConfig.ready() with the serializer's dotted path, imported
lazily on first use, so an event's object is exactly what the API returns for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_registry: dict[type, str] = {}
_loaded: dict[type, Any] = {}


def register(cls: type, serializer_path: str) -> None:
    """Register `serializer_path` ("app.api.module:SerializerName") for objects of class `cls`."""
    _registry[cls] = serializer_path
    _loaded.pop(cls, None)


def _serializer_for(cls: type):
    for klass in cls.__mro__:
        if klass in _loaded:
            return _loaded[klass]
        path = _registry.get(klass)
        if path is not None:
            module, _, name = path.partition(":")
            _loaded[klass] = getattr(import_module(module), name)
            return _loaded[klass]
    raise LookupError(f"No event serializer registered for {cls.__module__}.{cls.__qualname__}")


def render(obj: Any) -> dict:
    """Return `obj` as the API shows it, through the serializer registered for its class."""
    return dict(_serializer_for(type(obj))(obj).data)


def is_registered(cls: type) -> bool:
    """Return whether objects of `cls` (or a base class) can be rendered."""
    return any(klass in _registry for klass in cls.__mro__)
