"""A labelled evaluation dataset: one sub-folder of photos per identity, optional pairs and groups.

Group labels (for example the sex labels that ship with LFW) are read from files the user supplies
and used only to split error rates; facesearch never infers such a trait from a face.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facesearch.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


@dataclasses.dataclass(frozen=True)
class LabelledDataset:
    """Photos with the identity each shows. ``paths[i]`` shows identity ``identity_of[i]``."""

    root: Path
    paths: tuple[Path, ...]
    identity_of: npt.NDArray[np.int64]
    identities: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def relative(self, i: int) -> str:
        return self.paths[i].relative_to(self.root).as_posix()


def load_dataset(root: Path) -> LabelledDataset:
    """Read DATASET/<identity>/<photo>; identities and photos in name order."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {str(root)!r} does not exist")
    # LFW ships its photos under images/; accept that layout as well as the folder itself
    base = root / "images" if (root / "images").is_dir() and not _photos_under(root) else root
    paths: list[Path] = []
    labels: list[int] = []
    identities: list[str] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            labels.extend([len(identities)] * len(photos))
            paths.extend(photos)
            identities.append(folder.name)
    if not paths:
        raise DatasetError(f"{str(root)!r} holds no photos in per-identity sub-folders (DATASET/<identity>/<photo>)")
    return LabelledDataset(base, tuple(paths), np.asarray(labels, dtype=np.int64), tuple(identities))


def _photos_under(root: Path) -> bool:
    return any(
        p.suffix.lower() in IMAGE_SUFFIXES for folder in root.iterdir() if folder.is_dir() for p in folder.iterdir()
    )


def file_digests(paths: Iterable[Path]) -> list[str]:
    """SHA-256 of each file's bytes."""
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def dataset_digest(dataset: LabelledDataset, digests: list[str]) -> str:
    """One hash for the dataset: every photo's path relative to the root, its identity and its bytes."""
    h = hashlib.sha256()
    for i, digest in enumerate(digests):
        h.update(f"{dataset.relative(i)}\t{dataset.identities[dataset.identity_of[i]]}\t{digest}\n".encode())
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class PairList:
    """Pairs of dataset photos (indices), whether each shows one person, and its fold."""

    a: npt.NDArray[np.int64]
    b: npt.NDArray[np.int64]
    same: npt.NDArray[np.bool_]
    fold: npt.NDArray[np.int64]


def read_lfw_pairs(path: Path, dataset: LabelledDataset) -> PairList:
    """An LFW-style pairs file: a header ``folds n``, then per fold n lines ``name i j`` (same person)
    followed by n lines ``name1 i name2 j`` (different people)."""
    try:
        lines = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise DatasetError(f"cannot read pairs file {str(path)!r}: {exc.strerror}") from None
    index = {p.name: i for i, p in enumerate(dataset.paths)}

    def photo(name: str, n: str, line_no: int) -> int:
        for candidate in (f"{name}_{int(n):04d}", f"{name}_{n}"):
            for suffix in (".jpg", ".png", ".jpeg"):
                if candidate + suffix in index:
                    return index[candidate + suffix]
        raise DatasetError(f"{path}: line {line_no}: no photo {name} #{n} in the dataset")

    a: list[int] = []
    b: list[int] = []
    same: list[bool] = []
    fold: list[int] = []
    try:
        n_folds, per_half = (int(x) for x in lines[0]) if len(lines[0]) == 2 else (1, len(lines) - 1)
        for k, row in enumerate(lines[1:], start=2):
            if len(row) == 3:
                a.append(photo(row[0], row[1], k))
                b.append(photo(row[0], row[2], k))
                same.append(True)
            elif len(row) == 4:
                a.append(photo(row[0], row[1], k))
                b.append(photo(row[2], row[3], k))
                same.append(False)
            else:
                raise DatasetError(f"{path}: line {k}: expected 'name i j' or 'name1 i name2 j'")
            fold.append(min((k - 2) // (2 * per_half), n_folds - 1))
    except (ValueError, IndexError):
        raise DatasetError(f"{path}: not an LFW pairs file (header 'folds pairs-per-half', then pairs)") from None
    return PairList(np.asarray(a), np.asarray(b), np.asarray(same, dtype=bool), np.asarray(fold, dtype=np.int64))


def read_groups(specs: Iterable[str]) -> tuple[dict[str, str], frozenset[str]]:
    """(photo file name -> group label, names given conflicting labels), from one or more specs.

    A spec is either ``LABEL=FILE`` (FILE lists one photo file name per line, all in group LABEL,
    like LFW's ``male_names.txt``) or ``FILE`` whose lines are ``name,label`` (comma or tab). A name
    given two different labels (LFW's sex lists have five) is left unlabelled and reported.
    """
    groups: dict[str, str] = {}
    conflicts: set[str] = set()
    for spec in specs:
        label, sep, file = spec.partition("=")
        path = Path(file if sep else spec)
        try:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except OSError as exc:
            raise DatasetError(f"cannot read groups file {str(path)!r}: {exc.strerror}") from None
        for k, line in enumerate(lines, start=1):
            if not line or line.startswith("#"):
                continue
            if sep:
                name, group = line, label
            else:
                parts = line.split("\t") if "\t" in line else line.split(",")
                if len(parts) != 2 or not all(p.strip() for p in parts):
                    raise DatasetError(f"{path}: line {k}: expected 'file name,group' (or use LABEL=FILE)")
                name, group = parts[0].strip(), parts[1].strip()
            name = Path(name).name
            if groups.get(name, group) != group:
                conflicts.add(name)
            groups[name] = group
    for name in conflicts:
        del groups[name]
    return groups, frozenset(conflicts)
