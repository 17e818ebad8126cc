"""Work bombs under the pixel limit (issue 17, item 8): what one photo costs, old path beside new.

Each file is made here: featureless images of about 40 megapixels (just under ``max_image_pixels``)
that compress to a few KB, a 5 KB progressive JPEG of 400 scans, and a real photo enlarged as the
control that must still be answered correctly. For each file and path a fresh process loads the
models, then does what identify does before embedding: decode, detect (with the CNN fallback when
HOG finds nothing), align. It reports the wall time of that work and the process's peak RSS (the
loaded models included; their baseline is shown).

- old: the decoder and the detection budgets before issue 17: every format decoded whole (a JPEG
  at 1/2, 1/4 or 1/8 scale only above twice ``decode_max_side``), HOG upsampled on all of it, the
  CNN fallback scanning up to 1 megapixel.
- new: facesearch as it is: files refused before decoding when their decoder would take over
  ``max_decode_bytes`` or a JPEG has over 100 scans; the rest reduced to ``decode_max_side``,
  HOG and CNN each bounded in the pixels they scan.

    python bench/bombs.py                 # new path only
    python bench/bombs.py --old           # old beside new (the old path takes minutes)
    python bench/bombs.py --old --only png-black jpeg   # some of the files
    python bench/bombs.py --decode-only   # bytes a declared pixel each decoder takes (limits lifted)
    python bench/bombs.py --recognizer sface   # new galleries' recognizer (YuNet detection)

Results: a table on stdout and ``bench/out/bombs.json``. Times are of a shared machine: compare
the two paths of one run.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import skimage.data
from PIL import Image, ImageOps, features

OUT = Path(__file__).resolve().parent / "out"
SIDE = 6300  # 39.7 megapixels: just under the default max_image_pixels (40 M)


def _saved(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _scan_bomb() -> bytes:
    """A 6000x6600 progressive JPEG whose few-byte scans are repeated 40 times: 400 passes."""
    small = _saved(Image.new("RGB", (16, 16), (128, 128, 128)), "JPEG", progressive=True)
    first = small.index(b"\xff\xda")
    header = bytearray(small[:first])
    sof = header.index(b"\xff\xc2")
    header[sof + 5 : sof + 9] = (6600).to_bytes(2, "big") + (6000).to_bytes(2, "big")
    return bytes(header) + small[first:-2] * 40 + b"\xff\xd9"


def make_files(folder: Path) -> list[Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers import zero_png  # the test suite's own bomb maker

    black = Image.new("RGB", (SIDE, SIDE))
    files: dict[str, bytes] = {
        "png-black-6300.png": zero_png(SIDE, SIDE),
        "jpeg-black-6000x6600.jpg": _saved(Image.new("L", (6000, 6600)), "JPEG", quality=10),
        "jpeg-400-scans-6000x6600.jpg": _scan_bomb(),
        "webp-black-6300.webp": _saved(black, "WEBP", lossless=True),
        "gif-black-6300.gif": _saved(black.convert("L"), "GIF"),
        "tiff-black-6300.tif": _saved(black, "TIFF", compression="tiff_adobe_deflate"),
        "png16-black-6300.png": _saved(Image.new("I;16", (SIDE, SIDE)), "PNG"),
        "jp2-black-6300.jp2": _saved(black, "JPEG2000"),
    }
    if features.check("avif"):
        files["avif-black-6300.avif"] = _saved(black, "AVIF", speed=10)
    photo = Image.fromarray(skimage.data.astronaut()).resize((4400, 4400), Image.Resampling.LANCZOS)
    files["control-astronaut-4400.png"] = _saved(photo, "PNG")
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


# --- the child: one file, one path ------------------------------------------------------------


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MB: the kernel's own count, which unlike
    ru_maxrss does not include the parent's memory inherited at fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _old_decode(data: bytes, max_side: int) -> tuple[np.ndarray, float]:
    """facesearch's decoder before issue 17, for pixels and scale (its refusals are the same)."""
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    scale = 1.0
    if image.format == "JPEG" and max(width, height) > 2 * max_side:
        factor = max_side / max(width, height)
        image.draft("RGB", (math.ceil(width * factor), math.ceil(height * factor)))
        scale = image.size[0] / width
    image.load()
    return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(image).convert("RGB"))), scale


def per_pixel(path: Path) -> None:
    """Decode only, with max_decode_bytes lifted: the peak memory above the process's baseline over
    the pixels the header declares (what DECODE_BYTES_PER_PIXEL in pipeline/decode.py estimates)."""
    from PIL import Image as PILImage

    from facesearch.config import Settings
    from facesearch.errors import InputError
    from facesearch.pipeline.decode import decode

    with PILImage.open(path) as image:
        declared = image.size[0] * image.size[1]
    baseline = _status_mb("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    outcome = "decoded"
    try:
        decode(path, Settings(max_decode_bytes=1 << 40))
    except InputError as exc:
        outcome = f"refused: {exc.code}"
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status_mb("VmHWM")
    per = (peak - baseline) * 2**20 / declared
    outcome = f"decode only: {per:.1f} bytes a declared pixel" if per > 0.5 else outcome
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_mb": peak, "baseline_mb": baseline, "outcome": outcome}))


def child(path: Path, way: str, recognizer: str) -> None:
    from facesearch.config import Settings
    from facesearch.errors import InputError
    from facesearch.pipeline import detect
    from facesearch.pipeline.decode import decode
    from facesearch.pipeline.faces import FacePipeline
    from facesearch.types import DecodedImage

    settings = Settings(recognizer=recognizer)
    pipeline = FacePipeline(settings)
    blank = np.zeros((64, 64, 3), np.uint8)
    pipeline.find(DecodedImage(blank, "", 64, 64, "", "warm-up"))  # loads the detectors (and dlib's fallback)
    baseline = _status_mb("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    try:
        if way == "old":
            detect.HOG_MAX_PIXELS = 1 << 62
            detect.CNN_MAX_PIXELS = 1_000_000
            pixels, scale = _old_decode(path.read_bytes(), settings.decode_max_side)
            image = DecodedImage(pixels, "", pixels.shape[1], pixels.shape[0], "", path.name, scale)
        else:
            image = decode(path, settings)
        outcome = f"{len(pipeline.find(image))} faces in {image.pixels.shape[1]}x{image.pixels.shape[0]} px"
    except InputError as exc:
        outcome = f"refused: {exc.code}"
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_mb": peak, "baseline_mb": baseline, "outcome": outcome}))


# --- the parent -------------------------------------------------------------------------------


def measure(path: Path, way: str, recognizer: str, timeout_s: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(path), way, "--recognizer", recognizer]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"seconds": None, "outcome": f"killed after {timeout_s:.0f} s"}
    lines = output.strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"seconds": None, "outcome": f"crashed (status {process.returncode})"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _row(result: dict[str, Any]) -> str:
    head = f"{result['file']:30s} {result['kb']:>7.1f} KB  {result['way']:6s}"
    if result["seconds"] is None:
        return f"{head}  {result['outcome']}"
    return (
        f"{head}  {result['seconds']:6.2f} s wall  {result['cpu_s']:6.2f} s cpu  {result['peak_mb']:5.0f} MB peak "
        f"({result['baseline_mb']:.0f} before the photo)  {result['outcome']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", action="store_true", help="also run the path before issue 17")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds before a run is killed")
    parser.add_argument("--only", nargs="*", default=[], help="only the files whose names contain one of these")
    parser.add_argument("--decode-only", action="store_true", help="bytes a declared pixel each decoder takes")
    parser.add_argument(
        "--recognizer",
        default="dlib",
        help="dlib (default: HOG and the CNN fallback, where issue 17 measured the bombs) or sface (YuNet)",
    )
    parser.add_argument("--child", nargs=2, metavar=("PATH", "WAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[1] == "decode":
            per_pixel(Path(args.child[0]))
        else:
            child(Path(args.child[0]), args.child[1], args.recognizer)
        return
    ways = ("decode",) if args.decode_only else ("old", "new") if args.old else ("new",)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for path in make_files(Path(folder)):
            if args.only and not any(part in path.name for part in args.only):
                continue
            for way in ways:
                result = measure(path, way, args.recognizer, args.timeout)
                result |= {"file": path.name, "kb": round(path.stat().st_size / 1024, 1), "way": way}
                rows.append(result)
                print(_row(result), flush=True)
    OUT.mkdir(exist_ok=True)
    load = os.getloadavg()
    summary = {"rows": rows, "loadavg": load, "cpus": os.cpu_count()}
    (OUT / "bombs.json").write_text(json.dumps(summary, indent=2))
    print(f"load average {load[0]:.1f} on {os.cpu_count()} cores; results in {OUT / 'bombs.json'}")


if __name__ == "__main__":
    main()
