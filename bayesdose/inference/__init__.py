"""How a model is sampled: the NUTS backends and compile-once models with swappable data.

Modules: :mod:`~bayesdose.inference.backends` and :mod:`~bayesdose.inference.compiled`.
"""
