"""The tiny offline model, shared by the scoring tests of this folder (built and loaded once)."""

from tiny_model import tiny_lm, tiny_model_dir  # noqa: F401  (fixtures)
