"""The 'fusion' recognizer: SFace and dlib's ResNet on the same faces, their scores combined.

YuNet finds each face once. The face is aligned twice, once per member network: to SFace's
112x112 ArcFace chip by YuNet's five landmarks, and to dlib's 150x150 chip by dlib's 5-point
shape predictor placed in YuNet's box. Each member embeds its chip and its mirror image (the
members' default recipes, ``+mirror``) and the two vectors are scaled to unit length, ``u1`` and
``u2``.

The score is score-level fusion by z-normalisation: each member's cosine ``c_i`` is normalised by
the mean ``mu_i`` and standard deviation ``sd_i`` of that member's cosines over LFW's
different-person pairs, and the two are summed with weights ``w_i``::

    z = w1 * (c1 - mu1) / sd1 + w2 * (c2 - mu2) / sd2

That sum is an increasing affine function of one cosine: with ``k_i = w_i / sd_i`` and
``s_i = k_i / (k1 + k2)``, the template is the concatenation ``[sqrt(s1) u1, sqrt(s2) u2]``
(unit length, 256-d), and the cosine of two templates is ``s1 c1 + s2 c2`` =
``(z + w1 mu1 / sd1 + w2 mu2 / sd2) / (k1 + k2)``. So a fused gallery is searched by every
vector index like any other cosine gallery, and it stores both members' templates: ``u_i`` is
its block divided by ``sqrt(s_i)``.

The weights and the normalisation are part of the recipe and of its model id: other weights make
other templates. Their values, and where they come from, are in :data:`FUSION_V1`;
``bench/make_reference.py`` copies them into the recipe's reference measurement
(``scoring/reference/<model id>.json``) when one is made. How the fusion compares with its members,
with its parameters fit on training data only, is measured by ``bench/fusion.py`` (docs/benchmarks.md, fusion).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from facesearch.config import Settings
from facesearch.pipeline.align import align_face
from facesearch.pipeline.models import DLIB_RESNET_V1_MIRRORED, EmbedderSpec, Models
from facesearch.pipeline.recognizers.dlib import DlibRecognizer
from facesearch.pipeline.recognizers.sface import SFACE_MIRRORED, sface_recognizer
from facesearch.types import AlignedFace, Embedding, Metric, RGBArray


@dataclasses.dataclass(frozen=True)
class Member:
    """One network of a fused recipe and how its cosine is normalised and weighted."""

    spec: EmbedderSpec  # the member's own recipe (its chip, mirror image and metric)
    impostor_mean: float  # mean cosine of different-person pairs (LFW)
    impostor_sd: float  # their standard deviation
    weight: float  # weight of the normalised score in the sum


@dataclasses.dataclass(frozen=True)
class Fusion:
    """A fused recipe's members, in the order of their blocks in the template."""

    members: tuple[Member, ...]
    source: str  # where the impostor statistics and the weights come from

    @property
    def shares(self) -> tuple[float, ...]:
        """``s_i``: each member's share of the template's cosine (they sum to 1)."""
        k = [m.weight / m.impostor_sd for m in self.members]
        return tuple(x / sum(k) for x in k)

    def fused_cosine(self, cosines: Sequence[float]) -> float:
        """The templates' cosine from the members' cosines: ``sum(s_i c_i)``."""
        return float(sum(s * c for s, c in zip(self.shares, cosines, strict=True)))

    def z_score(self, cosine: float) -> float:
        """The weighted sum of normalised member scores that a template cosine stands for."""
        k = sum(m.weight / m.impostor_sd for m in self.members)
        offset = sum(m.weight * m.impostor_mean / m.impostor_sd for m in self.members)
        return cosine * k - offset

    def template(self, units: Sequence[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        """The fused template of the members' unit vectors."""
        blocks = [math.sqrt(s) * u for s, u in zip(self.shares, units, strict=True)]
        return np.ascontiguousarray(np.concatenate(blocks), dtype=np.float32)

    def member_templates(self, vector: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """The members' unit templates stored in a fused template."""
        out, start = [], 0
        for member, share in zip(self.members, self.shares, strict=True):
            end = start + member.spec.dimension
            out.append((vector[start:end] / math.sqrt(share)).astype(np.float32))
            start = end
        return out


# Impostor statistics of each member recipe: every different-person pair of the 7,701 photos of
# LFW's pairs.txt (29.6 million pairs), from the members' own recipes as bench/models.py measures
# them (dlib's on its own detector); equal weights, as in issue 16's check outside the project.
FUSION_V1 = Fusion(
    members=(
        Member(SFACE_MIRRORED, impostor_mean=0.09234, impostor_sd=0.08818, weight=1.0),
        Member(DLIB_RESNET_V1_MIRRORED, impostor_mean=0.83841, impostor_sd=0.03452, weight=1.0),
    ),
    source=(
        "mean and standard deviation of each member's cosine over all 29.6 million different-person pairs of "
        "the 7,701 photos of LFW's pairs.txt; equal weights"
    ),
)

FUSION = EmbedderSpec(
    model_id="fusion(sface+dlib,lfw-znorm,1:1)-v1+mirror+cosine",
    dimension=sum(m.spec.dimension for m in FUSION_V1.members),
    metric=Metric.COSINE,
    chip_size=SFACE_MIRRORED.chip_size,
    chip_padding=SFACE_MIRRORED.chip_padding,
    # the template cosine at which about 1 in 1,000 of LFW's different-person pairs match: chosen on
    # 2 million pairs of 10,576 photos (bench/fusion.py); 1 in 880 in the full reference shipped in
    # scoring/reference/ (5 million pairs sampled over all 13,232 photos)
    published_threshold=0.753,
    threshold_meaning=(
        "score = cosine similarity of fused templates = 0.281 x SFace's cosine + 0.719 x dlib's cosine (each of "
        "mirror-averaged embeddings), i.e. the equal-weight sum of the two cosines, each z-normalised by its LFW "
        "different-person mean and standard deviation, rescaled; higher is more alike. Threshold 0.753 is where "
        "about 1 in 880 of LFW's different-person pairs match (5 million pairs sampled over all 13,232 photos; "
        "the normalisation was fitted on LFW too: calibrate on photos like yours)."
    ),
    cluster_threshold=0.778,  # not measured for clustering: the point of FMR 1e-4 on LFW (bench/fusion.py)
    mirror_average=True,
    recognizer="fusion",
)


class FusionRecognizer:
    """YuNet once, then each member's alignment and network; templates as :class:`Fusion` says."""

    def __init__(self, spec: EmbedderSpec, settings: Settings, models: Models, fusion: Fusion = FUSION_V1) -> None:
        self.spec = spec
        self.fusion = fusion
        self._models = models
        sface, dlib = (m.spec for m in fusion.members)
        self._sface = sface_recognizer(sface, settings, models)
        self._dlib = DlibRecognizer(dlib, settings, models)

    def find(self, pixels: RGBArray, settings: Settings) -> list[AlignedFace]:
        """Every face YuNet finds, most confident first, with SFace's chip and dlib's."""
        found = []
        for face in self._sface.find(pixels, settings):
            dlib_chip = align_face(pixels, face.detection, self._dlib.spec, self._models).chip
            found.append(dataclasses.replace(face, member_chips=(face.chip, dlib_chip)))
        return found

    def embed(self, faces: Sequence[AlignedFace]) -> list[Embedding]:
        """One fused template per face: each member's mirror-averaged embedding, made unit, scaled and
        concatenated."""
        if not faces:
            return []
        per_member = []
        for k, embed in enumerate((self._sface.embed, self._dlib.embed)):
            chips = [dataclasses.replace(f, chip=f.member_chips[k]) for f in faces]
            vectors = np.stack([e.vector for e in embed(chips)])
            per_member.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        return [
            Embedding(
                vector=self.fusion.template([units[i] for units in per_member]),
                model_id=self.spec.model_id,
                metric=self.spec.metric,
            )
            for i in range(len(faces))
        ]
