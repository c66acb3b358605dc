"""Reference encoder/fusion trainer; `load_encoder` opens a saved encoder file without the trainer."""

from climb.trainer.export import load_encoder

__all__ = ["load_encoder"]
