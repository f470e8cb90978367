"""distillscope: model distillation through APIs, seen from both sides."""

__version__ = "0.1.0"
