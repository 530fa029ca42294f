"""Registries name their classes as ``"module:Class"`` strings so that listing names
imports nothing heavy; :func:`load_class` imports one when it is asked for."""

from __future__ import annotations

import importlib

__all__ = ["load_class"]


def load_class(package: str, target: str) -> type:
    """``load_class("actsearch.tasks", "digits:DigitsCNN")`` -> the class ``DigitsCNN``."""
    module_name, _, cls_name = target.partition(":")
    return getattr(importlib.import_module(f"{package}.{module_name}"), cls_name)
