"""Official whole-model weights: where they live on the Hub and what they are.

Every entry pins a Hub repository, a revision and the SHA-256 of its ``model.safetensors``, and records the
class names, the metrics and the training recipe. An entry whose ``published`` flag is ``False`` describes a
checkpoint that has not been uploaded yet: using it raises a clear ``ValueError`` before any network access,
instead of a 404 from the Hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..recipe import TrainingRecipe, get_recipe
from ._api import WeightsEnum, WeightsRecord

__all__ = ["MaskRCNNWeights", "ModelWeights"]


@dataclass(frozen=True, kw_only=True)
class ModelWeights(WeightsRecord):
    """A whole-model checkpoint on the Hugging Face Hub (a ``save_pretrained`` folder).

    Attributes:
        repo_id: Hub repository holding ``config.json``, ``model.safetensors`` and ``README.md``.
        arch: Backbone the checkpoint was trained with, e.g. ``"resnet101"``.
        revision: Branch, tag or commit hash; a commit hash pins the exact files.
        sha256: Expected SHA-256 of ``model.safetensors`` (checked after download), when known.
        filename: The weights file of the folder (``model.safetensors``).
        categories: Class names, background first (``num_classes == len(categories)``).
        metrics: Evaluation results, e.g. ``{"segm_mAP": 0.61}``, with the data they were measured on in
            ``meta["eval_data"]``.
        recipe: The :class:`~maskrcnn_custom.TrainingRecipe` the weights were trained with, as
            :meth:`~maskrcnn_custom.TrainingRecipe.to_dict` (see :attr:`training_recipe`).
        license: License of the weights.
        published: Whether the files are on the Hub. Unpublished entries raise when used.
        meta: Anything else worth recording (``recipe_preset``, ``train_data``, ``backbone_init``, ...).

    Examples:
        >>> from maskrcnn_custom import MaskRCNNWeights, get_recipe
        >>> MaskRCNNWeights.SEED_RESNET101_V1.value.training_recipe == get_recipe("seed")
        True
    """

    arch: str
    categories: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict, compare=False, hash=False)
    recipe: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    license: str = "mit"
    published: bool = False

    @property
    def num_classes(self) -> int:
        """Number of classes including the background."""
        return len(self.categories)

    @property
    def training_recipe(self) -> TrainingRecipe:
        """:attr:`recipe` as a :class:`~maskrcnn_custom.TrainingRecipe` (checked field by field).

        Raises:
            ValueError: If :attr:`recipe` holds an unknown field or an invalid value.
            TypeError: If a number field holds something else than a number.
        """
        return TrainingRecipe.from_dict(self.recipe)


#: How the seed checkpoint is trained: the ``"seed"`` training recipe (the one ``fit`` defaults to), on these
#: data from this backbone initialisation.
_SEED_TRAINING: Mapping[str, Any] = {
    "recipe_preset": "seed",
    "train_data": "2,500 synthetic 256x256 images of long, thin objects",
    "backbone_init": "ResNet101BackboneWeights.IMAGENET1K_V1",
}


class MaskRCNNWeights(WeightsEnum):
    """Official whole-model weights (pass a member as ``weights=`` or to :func:`from_pretrained`).

    No entry is published yet: ``SEED_RESNET101_V1`` reserves the place (repository, class names,
    recipe) of the first checkpoint trained with the seed recipe. Its revision, SHA-256 and metrics are
    filled in, and ``published`` set, when it is uploaded.

    Examples:
        >>> from maskrcnn_custom import MaskRCNNWeights
        >>> MaskRCNNWeights.SEED_RESNET101_V1.value.published
        False
    """

    SEED_RESNET101_V1 = ModelWeights(
        repo_id="maskrcnn-custom/maskrcnn_resnet101_fpn.seed_synthetic",
        arch="resnet101",
        categories=("__background__", "object"),
        recipe=get_recipe("seed").to_dict(),
        meta=_SEED_TRAINING,
        published=False,
    )

    def check_published(self) -> ModelWeights:
        """Return the entry's :class:`ModelWeights`, or raise if it is not on the Hub yet.

        Raises:
            ValueError: If the entry is not published.
        """
        w: ModelWeights = self.value
        if not w.published:
            raise ValueError(
                f"{type(self).__name__}.{self.name} ({w.repo_id}) is not published on the Hub yet, so it cannot be "
                "downloaded. Train your own (or load a checkpoint you have) and pass its save_pretrained folder or "
                "Hub repo id instead, e.g. from_pretrained('path/to/folder'), or use weights=None"
            )
        return w
