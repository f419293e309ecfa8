"""Weights on the Hugging Face Hub: download helpers, ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``."""

from ..weights.download import hub_download
from ..weights.model import MaskRCNNWeights, ModelWeights
from .convert import convert_checkpoint
from .pretrained import build_with_weights, from_pretrained, push_to_hub, save_pretrained

__all__ = [
    "MaskRCNNWeights",
    "ModelWeights",
    "build_with_weights",
    "convert_checkpoint",
    "from_pretrained",
    "hub_download",
    "push_to_hub",
    "save_pretrained",
]
