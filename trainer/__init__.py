"""Reference encoder/fusion trainer."""
