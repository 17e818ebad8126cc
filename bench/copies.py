"""Copies of one picture on LFW: which near-copies the perceptual hash groups, and which different
photos of one person it would wrongly group, at each distance (``near_copy_max_distance_bits``).

For the first ``--originals`` photos (one per person, people in name order), each copy a seized
drive holds is made in memory: re-saved as JPEG at quality 30 and 50, resized to half and to double,
cropped 2%, 3% and 5% off every side, given a white or a black border of 5% and 10%, and all at once
(cropped 3%, halved, bordered, quality 50). Every photo goes through the engine's own path:
``decode_bytes`` with default settings, then ``facesearch.clustering.copies.perceptual_hashes``; the
distance is :func:`facesearch.clustering.copies.distance_bits`. Different photos: every pair of
photos of one person, for every person with two or more (at most ``--per-person`` photos each).

A copy is grouped at distance D when its distance is at most D; a different photo likewise is a
false grouping, the worse error (its faces would not be analysed). LFW itself holds a few pictures
twice under one person (one shot, cropped or toned differently by two agencies): the pairs in
``SAME_PICTURE`` were looked at by eye, are counted apart, and are no false grouping. The default is
the largest D at which no other pair groups.

    python bench/copies.py                       # all of LFW's people with 2+ photos
    python bench/copies.py --originals 100 --per-person 4   # quick

Results: a table on stdout and ``bench/out/copies.json``.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image, ImageOps
from rich.console import Console
from rich.table import Table

from facesearch.clustering.copies import Fingerprint, distance_bits, perceptual_hashes
from facesearch.config import Settings
from facesearch.pipeline.decode import decode_bytes

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
DISTANCES = range(0, 11)
SETTINGS = Settings()
# LFW pairs of one person within 5 bits that are one picture (looked at side by side): the same shot, framed
# or toned a little differently. William_Ford_Jr_0004/0005, 4 bits apart, are two photos (another pose).
SAME_PICTURE = {
    ("Leslie_Ann_Woodward_0001.jpg", "Leslie_Ann_Woodward_0002.jpg"),
    ("Julie_Gerberding_0004.jpg", "Julie_Gerberding_0006.jpg"),
    ("Prince_Willem-Alexander_0002.jpg", "Prince_Willem-Alexander_0003.jpg"),
    ("Julianne_Moore_0001.jpg", "Julianne_Moore_0008.jpg"),
}


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def cropped(image: Image.Image, share: float) -> Image.Image:
    dx, dy = round(image.width * share), round(image.height * share)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def bordered(image: Image.Image, share: float, colour: str) -> Image.Image:
    return ImageOps.expand(image, border=max(1, round(image.width * share)), fill=colour)


def half(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)


COPIES: dict[str, Callable[[Image.Image], bytes]] = {
    "re-saved at JPEG quality 30": lambda im: jpeg(im, 30),
    "re-saved at JPEG quality 50": lambda im: jpeg(im, 50),
    "resized to half": lambda im: jpeg(half(im)),
    "resized to double": lambda im: jpeg(im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC)),
    "cropped 2% off each side": lambda im: jpeg(cropped(im, 0.02)),
    "cropped 3% off each side": lambda im: jpeg(cropped(im, 0.03)),
    "cropped 5% off each side": lambda im: jpeg(cropped(im, 0.05)),
    "white border 5%": lambda im: jpeg(bordered(im, 0.05, "white")),
    "white border 10%": lambda im: jpeg(bordered(im, 0.10, "white")),
    "black border 5%": lambda im: jpeg(bordered(im, 0.05, "black")),
    "black border 10%": lambda im: jpeg(bordered(im, 0.10, "black")),
    "all: cropped 3%, halved, white border, quality 50": lambda im: jpeg(
        bordered(half(cropped(im, 0.03)), 0.05, "white"), 50
    ),
}


def fingerprint(data: bytes, name: str) -> Fingerprint:
    image = decode_bytes(data, name, SETTINGS)
    return Fingerprint(image.sha256, image.width, image.height, perceptual_hashes(image.pixels))


def people(lfw: Path) -> Iterator[list[Path]]:
    for folder in sorted((lfw / "images").iterdir()):
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) >= 2:
            yield photos


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--originals", type=int, default=500, help="photos (one per person) copied in every way")
    parser.add_argument("--per-person", type=int, default=10, help="at most this many photos of each person")
    args = parser.parse_args(argv)
    if not (args.lfw / "images").is_dir():
        sys.exit(f"{args.lfw}/images: no LFW here (see shared/data/README.md)")
    started = time.perf_counter()
    groups = list(people(args.lfw))
    copy_distances: dict[str, list[int]] = {name: [] for name in COPIES}
    for photos in groups[: args.originals]:
        original = Image.open(photos[0]).convert("RGB")
        first = fingerprint(photos[0].read_bytes(), photos[0].name)
        for name, make in COPIES.items():
            copy_distances[name].append(distance_bits(first, fingerprint(make(original), name)))
    pairs: list[tuple[int, str, str]] = []
    for photos in groups:
        prints = [(p.name, fingerprint(p.read_bytes(), p.name)) for p in photos[: args.per_person]]
        pairs.extend((distance_bits(a, b), na, nb) for (na, a), (nb, b) in itertools.combinations(prints, 2))
    seconds = time.perf_counter() - started
    report(copy_distances, pairs, seconds, len(groups), args)


def report(
    copies: dict[str, list[int]],
    pairs: list[tuple[int, str, str]],
    seconds: float,
    people: int,
    args: argparse.Namespace,
) -> None:
    console = Console()
    table = Table(title="share grouped at each near_copy_max_distance_bits (copies: higher is better)")
    table.add_column("photos")
    for d in DISTANCES:
        table.add_column(str(d), justify="right")
    for name, found in copies.items():
        table.add_row(name, *(f"{sum(x <= d for x in found) / len(found):.2f}" for d in DISTANCES))
    same = [p for p in pairs if (p[1], p[2]) in SAME_PICTURE]
    others = [p for p in pairs if (p[1], p[2]) not in SAME_PICTURE]
    wrong = [sum(p[0] <= d for p in others) for d in DISTANCES]
    table.add_row(f"different photos of one person ({len(others)} pairs): pairs grouped", *map(str, wrong))
    table.add_row(
        f"LFW's own copies of one picture ({len(same)} pairs, SAME_PICTURE): grouped",
        *(str(sum(p[0] <= d for p in same)) for d in DISTANCES),
    )
    console.print(table)
    safe = next((d - 1 for d, n in zip(DISTANCES, wrong, strict=True) if n), DISTANCES[-1])
    closest = sorted(others)[:5]
    console.print(f"largest distance grouping no different photos: {safe}; the closest different photos: {closest}")
    console.print(f"{people} people with 2+ photos, {len(next(iter(copies.values())))} originals, {seconds:.0f} s")
    OUT.mkdir(exist_ok=True)
    result = {
        "originals": args.originals,
        "per_person": args.per_person,
        "copies_grouped": {n: {d: sum(x <= d for x in f) / len(f) for d in DISTANCES} for n, f in copies.items()},
        "different_pairs": len(others),
        "lfw_same_picture": sorted(same),
        "different_pairs_grouped": dict(zip(DISTANCES, wrong, strict=True)),
        "closest_different": closest,
        "safe_distance": safe,
    }
    (OUT / "copies.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
