"""Weights on the Hugging Face Hub: download helpers, ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``."""

from .download import hub_download

__all__ = ["hub_download"]
