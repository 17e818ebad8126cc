"""Videos (issue 20, item 4): processing speed as a multiple of real time, and peak memory, on a
synthetic 720p video the bench makes from the sample photos; the photo pipeline measured in the
same run, on the same machine, for comparison. No peer: no other tool here reads videos.

The video is scenes of Eileen Collins and Grace Hopper (scikit-image's and matplotlib's photos)
drifting across a 1280x720 frame with a little sensor noise, cut every few seconds, encoded with
x264 at 25 frames a second. Each length runs in a fresh process, so its peak memory (max RSS) is
its own: memory bounded whatever the length shows as the same peak for a longer video.

    python bench/video.py                       # 1- and 4-minute videos, 2 cores' worth of threads
    python bench/video.py --minutes 1 10 60     # an hour takes minutes to encode first

Target: at least 10x real time on 2 cores. Results: a table on stdout and ``bench/out/video.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
FPS = 25
SCENE_S = 6


def sample_people() -> list[object]:
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    astronaut = Image.fromarray(skimage.data.astronaut())
    hopper = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    return [astronaut, hopper]


def make_video(path: Path, minutes: float) -> Path:
    """A 720p video of the sample photos, MINUTES long (see the module's text)."""
    import av
    import numpy as np
    from PIL import Image

    people = sample_people()
    rng = np.random.default_rng(0)
    noise = [rng.integers(-6, 7, size=(720, 1280, 3), dtype=np.int16) for _ in range(8)]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("h264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for n in range(round(minutes * 60 * FPS)):
            scene, offset = divmod(n, SCENE_S * FPS)
            person = people[scene % len(people)]
            canvas = Image.new("RGB", (1280, 720), (80 + 20 * (scene % 3), 90, 100))
            canvas.paste(person, (200 + offset % 400, 100))
            pixels = np.clip(np.asarray(canvas, dtype=np.int16) + noise[n % len(noise)], 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def measure_video(path: Path) -> dict[str, float]:
    """In this process: the video's faces found and followed, with the time and peak memory taken."""
    from facesearch.config import Settings
    from facesearch.pipeline.faces import FacePipeline
    from facesearch.pipeline.tracks import video_faces
    from facesearch.pipeline.video import VideoFile, file_sha256

    pipeline = FacePipeline(Settings())
    pipeline.find(_warm_image())  # models loaded before the clock starts
    started = time.perf_counter()
    tracks = list(video_faces(VideoFile(path, path.name), file_sha256(path), pipeline))
    seconds = time.perf_counter() - started
    import av

    with av.open(str(path)) as container:
        length = float(container.duration) / 1_000_000
    return {
        "video_s": round(length, 1),
        "seconds": round(seconds, 2),
        "x_real_time": round(length / seconds, 1),
        "tracks": len(tracks),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure_photos(count: int) -> dict[str, float]:
    """In this process: the photo pipeline (decode, find, embed) on COUNT copies of the sample photos."""
    import io

    from facesearch.config import Settings
    from facesearch.pipeline.decode import decode
    from facesearch.pipeline.faces import FacePipeline

    pipeline = FacePipeline(Settings())
    photos = []
    for person in sample_people():
        buffer = io.BytesIO()
        person.save(buffer, format="JPEG", quality=92)  # type: ignore[attr-defined]
        photos.append(buffer.getvalue())
    pipeline.analyze(decode(photos[0], pipeline.settings))
    started = time.perf_counter()
    faces = sum(len(pipeline.analyze(decode(photos[n % len(photos)], pipeline.settings))) for n in range(count))
    seconds = time.perf_counter() - started
    return {"photos": count, "faces": faces, "seconds": round(seconds, 2), "photos_per_s": round(count / seconds, 1)}


def _warm_image() -> object:
    import numpy as np

    from facesearch.types import DecodedImage

    return DecodedImage(np.zeros((720, 1280, 3), np.uint8), "", 1280, 720, "video", "warm-up")


def in_child(*args: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--child-video", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-photos", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_video:
        print(json.dumps(measure_video(args.child_video)))
        return
    if args.child_photos:
        print(json.dumps(measure_photos(args.child_photos)))
        return
    OUT.mkdir(exist_ok=True)
    rows = []
    for minutes in args.minutes:
        path = OUT / f"synthetic-{minutes:g}min.mp4"
        if not path.exists():
            started = time.perf_counter()
            make_video(path, minutes)
            print(f"made {path.name} ({path.stat().st_size // 2**20} MiB) in {time.perf_counter() - started:.0f} s")
        row = {"minutes": minutes, **in_child("--child-video", str(path))}
        rows.append(row)
        print(
            f"{minutes:g} min of 720p: {row['seconds']} s, {row['x_real_time']}x real time, "
            f"{row['tracks']} tracks, peak RSS {row['peak_rss_mib']} MiB"
        )
    photos = in_child("--child-photos", str(args.photos))
    print(f"photos: {photos['photos']} in {photos['seconds']} s ({photos['photos_per_s']} a second)")
    (OUT / "video.json").write_text(json.dumps({"videos": rows, "photos": photos}, indent=2))


if __name__ == "__main__":
    main()
