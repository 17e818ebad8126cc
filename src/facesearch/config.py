"""Settings: declared once, each with its documentation, validated, passed in (never a global).

A home folder may hold ``facesearch.toml`` with any of these keys at top level; anything not
given keeps its default. ``facesearch settings`` prints them with their documentation.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Any

from facesearch.errors import ConfigError

CONFIG_FILE = "facesearch.toml"
INDEX_BACKENDS = ("exact", "hnsw", "ivf", "pgvector", "milvus")
_HOURS = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")


def _setting(default: Any, doc: str) -> Any:
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every tunable of the engine. Use :meth:`documentation` to list them."""

    max_image_pixels: int = _setting(
        40_000_000,
        "Largest pixel count (width x height) an image header may declare; larger files are refused "
        "before decoding (guards against decompression bombs).",
    )
    max_image_bytes: int = _setting(
        50 * 1024 * 1024, "Largest image file accepted, in bytes; larger files are refused unread."
    )
    max_video_bytes: int = _setting(
        8 * 1024**3,
        "Largest video file accepted, in bytes; larger files are refused unread. Videos are read as a "
        "stream, a few frames at a time: this bounds an upload's disk, not memory.",
    )
    video_max_seconds: int = _setting(
        6 * 3600,
        "Longest video looked at, in seconds: a longer one is refused, by the length its container "
        "declares before any frame is decoded, and by its frames' times while it is decoded.",
    )
    video_max_pixels_per_byte: int = _setting(
        30_000,
        "Most frame pixels a video may decode per byte of its stream read so far (past its first 300 frames). A "
        "camera's or a phone's video decodes a few hundred per byte, a still screen recording up to about 15,000; "
        "thousands of black 720p frames of a few bytes each decode near 100,000 per byte: refused as a "
        "decoding bomb within its first seconds, not decoded for minutes.",
    )
    video_sample_fps: float = _setting(
        1.0,
        "Frames of a video looked at for faces each second, at a steady rate, besides the first frame "
        "after each scene change. Higher catches faces seen more briefly and costs time in proportion "
        "(about 30 ms a frame at 720p); 1.0 catches everyone on screen for a second.",
    )
    video_max_side: int = _setting(
        1280,
        "A video's frames are looked at reduced to at most this many pixels on their longer side (720p "
        "as it is, 1080p and 4K reduced): faces of about 40 pixels and more are found at this size.",
    )
    video_track_templates: int = _setting(
        3,
        "Faces kept from each track of a face followed across a video's frames: the sharpest and most "
        "frontal, averaged into the track's template (its one face in a collection, its probe in a search).",
    )
    max_decode_bytes: int = _setting(
        320 * 1024 * 1024,
        "Most memory decoding one image may take, in bytes, estimated from the size its header "
        "declares and its format (8 bytes a pixel; WebP 18, JPEG 2000 21, AVIF 10) before any pixel "
        "is decoded; larger images are refused as too large. The default admits 40 megapixels "
        "(max_image_pixels) in most formats, 18 in WebP, 16 in JPEG 2000.",
    )
    recognizer: str = _setting(
        "sface",
        "What finds, aligns and embeds faces in a new gallery (and in 'evaluate'): 'sface' (OpenCV Zoo's "
        "YuNet detector and SFace network: LFW 10-fold 99.4%, the stronger), 'dlib' (dlib's HOG/CNN detector "
        "and ResNet: 99.2%, the recipe of galleries made before it existed), 'fusion' (YuNet, then both networks on "
        "each face, their scores z-normalised and summed: see docs/benchmarks.md) or the name of a model registered "
        "with 'facesearch models register'. A gallery keeps the recognizer its templates were made with (its "
        "model id): changing this changes only galleries created afterwards.",
    )
    onnx_providers: str = _setting(
        "cpu",
        "Where ONNX Runtime runs the networks: 'cpu', 'auto' (a GPU where the installed onnxruntime build "
        "has one, e.g. CUDA with the onnxruntime-gpu package, else the CPU) or a comma-separated list of "
        "ONNX Runtime execution provider names in order of preference, each of which the build must have. "
        "The same vectors either way (to about 1e-5): the model id does not change.",
    )
    detector: str = _setting(
        "hog",
        "The dlib recognizer's face detector: 'hog' (dlib's HOG + linear SVM, fast on CPU) or 'cnn' (dlib's "
        "MMOD CNN, finds more rotated and small faces, several times slower on CPU; it scans at most 150,000 "
        "pixels, a smaller copy of a larger photo, to bound its memory at about 150 MB). 'sface' always uses YuNet.",
    )
    fallback_detector: str = _setting(
        "cnn",
        "The dlib recognizer's detector tried when the main one finds no face: 'cnn', 'hog' or 'none'. The "
        "CNN finds faces the HOG detector misses (turned or partly covered) and costs time only on those photos.",
    )
    upsample: int = _setting(
        1,
        "Times the image is doubled in size before dlib's detection; higher finds smaller faces, slower. 0 to 3. "
        "YuNet ('sface') finds faces from about 10 pixels at the photo's size; it looks at a large photo "
        "scaled to 640 pixels for large faces and, when this is above 0, also at up to 2048 pixels for small ones.",
    )
    adaptive_upsample: bool = _setting(
        True,
        "Enrollment first looks for faces without upsampling (it finds faces of about 80 pixels and "
        "more, in a quarter of the time) and searches again as configured unless that finds exactly "
        "one usable face. A bystander smaller than 80 pixels beside a large face then goes unseen. "
        "Searches always upsample.",
    )
    decode_max_side: int = _setting(
        2048,
        "Faces are sought in the photo reduced to at most this many pixels on its longer side (a "
        "JPEG decoded at 1/2, 1/4 or 1/8 scale by its DCT, then resampled): it bounds the time and "
        "memory of detection. Faces under about 40 pixels in the reduced image are then not found; "
        "boxes are reported in the photo's own pixels.",
    )
    enroll_min_face_px: int = _setting(
        40,
        "Enrollment refuses a face whose box is smaller than this many pixels on its shorter side "
        "(reason 'face-too-small'); probes below it are searched with a warning.",
    )
    enroll_min_sharpness: float = _setting(
        5.0,
        "Enrollment refuses a face whose aligned chip has a Laplacian variance below this (reason "
        "'face-blurred'); probes below it are searched with a warning. Higher is stricter.",
    )
    enroll_min_detector_score: float = _setting(
        0.3,
        "Enrollment counts only faces the detector scores at least this (reason "
        "'low-detector-confidence' when none does); probes below it are searched with a warning. "
        "Higher is stricter; dlib's HOG detector reports 0 at its own decision boundary.",
    )
    embed_mirrored: bool = _setting(
        True,
        "Embed each face together with its mirror image and average the two (twice the network time; "
        "on LFW it lifts verification accuracy for both built-in recognizers). It changes the model id: "
        "a gallery keeps the choice it was created with.",
    )
    runtime: str = _setting(
        "onnx",
        "What runs the dlib recognizer's face network: 'onnx' (ONNX Runtime, over the network converted at "
        "load from dlib's weights file; about 3x faster) or 'dlib'. Both give the same vectors (to 4e-7), so "
        "the model id does not change and a gallery may switch. Jittering always runs on dlib.",
    )
    num_jitters: int = _setting(
        0,
        "Extra randomly jittered copies of each face averaged into its embedding; higher is slightly "
        "more accurate and proportionally slower. 0 embeds the face once.",
    )
    keep_crops: bool = _setting(
        True,
        "Store a JPEG crop of each enrolled face (its aligned chip, sealed like the templates) so that "
        "review screens can show it: the verifiers compare it with the probe face a nomination was made "
        "for. Erased and purged with the face. False keeps none: verifiers then see only the probe face.",
    )
    top_k: int = _setting(5, "Candidates returned per probe face when the request does not say.")
    target_fpir: float = _setting(
        0.01,
        "The false-positive identification rate identify's threshold is set for: the share of searches "
        "for a person who is not enrolled that return any candidate marked as clearing it. The threshold "
        "is derived from the measured impostor scores (the gallery's calibration, else facesearch's LFW "
        "reference) and the gallery's current number of faces, so it rises as the gallery grows; it never "
        "falls below verify's 1:1 threshold.",
    )
    enroll_batch_faces: int = _setting(
        128,
        "enroll-dir commits this many faces per transaction (and appends them to the index's add log): "
        "a crash or kill loses at most one batch, which a rerun enrolls.",
    )
    ray_address: str = _setting(
        "",
        "A Ray cluster that enroll-dir and cluster send photo analysis to (decode, detect, align, embed), as "
        "'HOST:PORT' of its head node or 'auto' (the cluster this machine is a node of); empty: local processes "
        "(--workers). The photos travel to the workers as bytes; this process alone writes the gallery. Needs the "
        "'ray' extra; the command's --ray overrides it (docs/scale-out.md, Distributed ingestion).",
    )
    index_backend: str = _setting(
        "exact",
        "Vector index: 'exact' (brute force over every face; the reference, right up to about a million "
        "faces), 'hnsw' (FAISS HNSW graph: approximate, milliseconds at millions of faces, built in "
        "minutes, all vectors in RAM) or 'ivf' (FAISS inverted lists of int8 codes, a quarter of the "
        "RAM, the short list re-ranked on the full vectors read from disk: for tens of millions of "
        "faces), or 'pgvector' (vectors in the gallery's PostgreSQL database, needs database_url and the "
        "vector extension: searched by the server, written and erased in the gallery's own transactions; "
        "the table holds plaintext templates, see docs/scale-out.md), or 'milvus' (a Milvus server or "
        "cluster, needs milvus_uri and the 'milvus' extra: vector writes go through an outbox in the "
        "gallery's transaction, see docs/scale-out.md, Milvus). Changing it rebuilds the index "
        "from the gallery.",
    )
    milvus_uri: str = _setting(
        "",
        "With index_backend 'milvus': the address of the Milvus proxy, 'http://HOST:19530' (a cluster's "
        "proxy service or load balancer, or a standalone server); 'https://' for TLS. Its token, if "
        "the server asks for one ('user:password' or an API key), comes from $FACESEARCH_MILVUS_TOKEN, "
        "never from this file.",
    )
    milvus_database: str = _setting("default", "With index_backend 'milvus': the Milvus database to use.")
    milvus_collection: str = _setting(
        "",
        "With index_backend 'milvus': the collection holding this gallery's vectors (a second one, "
        "NAME_state, records what they reflect). Empty: 'facesearch_' and the gallery's id, so that "
        "galleries sharing a cluster never share a collection.",
    )
    milvus_shards: int = _setting(
        1,
        "With index_backend 'milvus': shards (parallel write channels, spread over a cluster's data "
        "nodes) of the collection, fixed when it is created: 1 to 16. Searches cover every shard.",
    )
    milvus_replicas: int = _setting(
        1,
        "With index_backend 'milvus': in-memory replicas of the collection on a cluster's query nodes "
        "(more serve more searches at once and survive a node's loss); at most the query nodes there are.",
    )
    milvus_m: int = _setting(
        16,
        "With index_backend 'milvus': links per node of each segment's HNSW graph; 2 to 100. Changing it "
        "rebuilds the index.",
    )
    milvus_ef_construction: int = _setting(
        200,
        "With index_backend 'milvus': candidates kept while building the HNSW graphs; at least twice "
        "milvus_m, at most 1000. Changing it rebuilds the index.",
    )
    milvus_ef_search: int = _setting(
        256,
        "With index_backend 'milvus': candidates an HNSW search keeps in each segment (at least the "
        "faces asked for); 1 to 32768.",
    )
    milvus_consistency: str = _setting(
        "strong",
        "With index_backend 'milvus': what a search waits for. 'strong' (the default) sees every vector "
        "written before it, and waits for Milvus's next time tick to do so (about 200 ms a search, "
        "docs/scale-out.md); 'bounded' answers at once from what Milvus has applied, so a face enrolled in "
        "the last few seconds (Milvus's common.gracefulTime) may be missed. Either way an erased face is "
        "never a candidate: candidates are only faces the gallery holds.",
    )
    pgvector_exact: bool = _setting(
        False,
        "With index_backend 'pgvector': no HNSW graph, every row compared (exact, like the 'exact' "
        "backend, and as slow as a full table scan: for small galleries or measuring recall).",
    )
    pgvector_m: int = _setting(
        16,
        "With index_backend 'pgvector': links per node of the HNSW graph (pgvector's default). Higher "
        "is better recall, a larger graph and a slower build. 2 to 100; changing it rebuilds the index.",
    )
    pgvector_ef_construction: int = _setting(
        64,
        "With index_backend 'pgvector': candidates kept while building the HNSW graph (pgvector's "
        "default); at least twice pgvector_m, at most 1000. Changing it rebuilds the index.",
    )
    pgvector_ef_search: int = _setting(
        800,
        "With index_backend 'pgvector': candidates an HNSW search keeps (at least the faces asked "
        "for); 1 to 1000. At a million faces and the default graph, 800 finds 99.6% of the person's "
        "own templates in 27 ms; 200 finds 94% in 7 ms, pgvector's own default, 40, 70% in 4 ms "
        "(docs/scale-out.md, Sizing).",
    )
    index_storage: str = _setting(
        "float32",
        "How the exact index keeps vectors: 'float32', or 'float16' (half the RAM and disk; scores "
        "differ by about 1e-4). The 'ivf' index always keeps its re-ranking vectors as float16.",
    )
    search_quota_per_hour: int = _setting(
        120,
        "Most searches (identify and verify together) one user may run in any 60 minutes; the next is "
        "refused, and the refusal audited, until the oldest leaves the window. 0: no limit.",
    )
    search_quota_per_day: int = _setting(
        1000,
        "Most searches (identify and verify together) one user may run in any 24 hours; the next is "
        "refused, and the refusal audited, until the oldest leaves the window. 0: no limit.",
    )
    burst_searches: int = _setting(
        20,
        "A user's search is flagged in the audit log as a burst when, counting it, the user has run at "
        "least this many searches within burst_window_seconds (the search still runs). 0: never flag.",
    )
    burst_window_seconds: int = _setting(60, "The window, in seconds, in which burst_searches are counted.")
    repeat_probe_searches: int = _setting(
        3,
        "A search is flagged in the audit log when the same probe photo (same bytes) has been searched "
        "this many times, counting it, by anyone within 24 hours (the search still runs). 0: never flag.",
    )
    search_hours: str = _setting(
        "",
        "When searches are expected, as 'HH:MM-HH:MM' in UTC (may wrap midnight, e.g. '22:00-06:00'); a "
        "search outside them is flagged in the audit log (it still runs). Empty: any time.",
    )
    token_days: int = _setting(
        90,
        "Days an API token stays valid after it is made (by activation or rotation). Its owner rotates it "
        "before then ('facesearch tokens rotate', POST /api/tokens/rotate); once expired it takes a new "
        "activation code from an admin. A shorter life bounds how long a copied token can be used.",
    )
    session_hours: int = _setting(
        8,
        "Hours a web UI sign-in lasts (never beyond its token's expiry); then the user signs in again. "
        "Signing out, revoking the token or disabling the user ends it at once.",
    )
    cluster_threshold: float = _setting(
        0.0,
        "Score at or above which two faces of a collection are linked when clustering ('facesearch "
        "cluster'). 0: the gallery's recognizer's own, the best BCubed F-measure on all of LFW (sface: 0.5, "
        "F 0.986, and 0.55 for a pairwise precision of 0.997; dlib: 0.95, F 0.943, and 0.9575 for a pairwise "
        "precision of 0.99; docs/benchmarks.md, Clustering). Higher splits more, merges less. Stricter than the 1:1 "
        "threshold: a chain of links joins people one pair would not.",
    )
    near_copy_max_distance_bits: int = _setting(
        3,
        "Photos of a collection whose perceptual hashes (64-bit DCT hash, imagehash's phash, taken of the "
        "photo as decoded and of it with a uniform border trimmed) differ in at most this many bits are "
        "near-copies of one picture (re-saved, resized, bordered): 'facesearch cluster' analyses the largest "
        "once and lists the others as its copies. 0: only copies with identical hashes; -1: only byte-identical "
        "files. Higher groups more and risks hiding a different photo: on LFW two different press photos of one "
        "person come as close as 4 bits (docs/benchmarks.md, Copies of one picture). Videos are never grouped so.",
    )
    database_url: str = _setting(
        "",
        "Where the gallery's tables live: empty for HOME/gallery.sqlite3, or a PostgreSQL database as "
        "'postgresql://USER@HOST:PORT/DB' (one database per gallery; several serve workers and CLI "
        "processes may share it). The home folder still holds the keys and index files.",
    )
    master_key_file: str = _setting(
        "",
        "File holding the master key (32 random bytes, base64) that wraps the gallery's data key. "
        "Empty: $FACESEARCH_MASTER_KEY_FILE, else the user's config folder (master.key). The "
        "$FACESEARCH_MASTER_KEY variable (the key itself, base64) overrides any file. 'init' of a new "
        "gallery creates the file when it does not exist; opening a gallery never does.",
    )

    def __post_init__(self) -> None:
        if self.detector not in ("hog", "cnn"):
            raise ConfigError(f"setting 'detector' must be 'hog' or 'cnn', not {self.detector!r}")
        if self.fallback_detector not in ("hog", "cnn", "none"):
            raise ConfigError(
                f"setting 'fallback_detector' must be 'hog', 'cnn' or 'none', not {self.fallback_detector!r}"
            )
        if self.index_backend not in INDEX_BACKENDS:
            raise ConfigError(
                f"setting 'index_backend' must be one of {', '.join(INDEX_BACKENDS)}, not {self.index_backend!r}"
            )
        if not self.recognizer.strip():
            raise ConfigError(
                "setting 'recognizer' must name a recognizer: 'sface', 'dlib', 'fusion' or a registered model"
            )
        if not self.onnx_providers.strip():
            raise ConfigError("setting 'onnx_providers' must be 'cpu', 'auto' or execution provider names")
        if self.runtime not in ("onnx", "dlib"):
            raise ConfigError(f"setting 'runtime' must be 'onnx' or 'dlib', not {self.runtime!r}")
        if self.index_storage not in ("float32", "float16"):
            raise ConfigError(f"setting 'index_storage' must be 'float32' or 'float16', not {self.index_storage!r}")
        if not 0 <= self.upsample <= 3:
            raise ConfigError(f"setting 'upsample' must be between 0 and 3, not {self.upsample}")
        for name in (
            "max_image_pixels",
            "max_image_bytes",
            "max_decode_bytes",
            "top_k",
            "enroll_batch_faces",
            "decode_max_side",
            "max_video_bytes",
            "video_max_seconds",
            "video_max_pixels_per_byte",
            "video_max_side",
            "video_track_templates",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"setting {name!r} must be at least 1")
        if not 0 < self.video_sample_fps <= 30:
            raise ConfigError(f"setting 'video_sample_fps' must be above 0 and at most 30, not {self.video_sample_fps}")
        if not 0 < self.target_fpir < 1:
            raise ConfigError(f"setting 'target_fpir' must be between 0 and 1, not {self.target_fpir}")
        if self.num_jitters < 0:
            raise ConfigError("setting 'num_jitters' must not be negative")
        for name in ("search_quota_per_hour", "search_quota_per_day"):
            if getattr(self, name) < 0:
                raise ConfigError(f"setting {name!r} must be 0 (no limit) or more")
        for name in ("burst_searches", "repeat_probe_searches"):
            if getattr(self, name) < 0 or getattr(self, name) == 1:  # 1 would flag every search
                raise ConfigError(f"setting {name!r} must be 0 (never flag) or at least 2")
        for name in ("token_days", "session_hours"):
            if getattr(self, name) < 1:
                raise ConfigError(f"setting {name!r} must be at least 1")
        if not -1 <= self.near_copy_max_distance_bits <= 32:
            raise ConfigError(
                "setting 'near_copy_max_distance_bits' must be between -1 and 32, "
                f"not {self.near_copy_max_distance_bits}"
            )
        if self.burst_window_seconds < 1:
            raise ConfigError("setting 'burst_window_seconds' must be at least 1")
        self.search_window()  # raises ConfigError when malformed
        if self.index_backend == "pgvector" and not self.database_url:
            raise ConfigError(
                "setting 'index_backend' 'pgvector' keeps the vectors in the gallery's PostgreSQL database: "
                "set 'database_url' (or --db) to a postgresql:// URL, or choose exact, hnsw or ivf"
            )
        if self.index_backend == "milvus":
            self._check_milvus()
        if not 2 <= self.pgvector_m <= 100:
            raise ConfigError(f"setting 'pgvector_m' must be between 2 and 100, not {self.pgvector_m}")
        if not 2 * self.pgvector_m <= self.pgvector_ef_construction <= 1000:
            raise ConfigError(
                "setting 'pgvector_ef_construction' must be between twice pgvector_m and 1000, "
                f"not {self.pgvector_ef_construction}"
            )
        if not 1 <= self.pgvector_ef_search <= 1000:
            raise ConfigError(f"setting 'pgvector_ef_search' must be between 1 and 1000, not {self.pgvector_ef_search}")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgresql+psycopg://")):
            raise ConfigError("setting 'database_url' must be empty (SQLite in the home folder) or a postgresql:// URL")

    def _check_milvus(self) -> None:
        if not self.milvus_uri.startswith(("http://", "https://", "tcp://")):
            raise ConfigError(
                "setting 'index_backend' 'milvus' keeps the vectors in a Milvus server: set 'milvus_uri' to "
                "its address (http://HOST:19530), or choose exact, hnsw, ivf or pgvector"
            )
        if not 1 <= self.milvus_shards <= 16 or self.milvus_replicas < 1:
            raise ConfigError("settings 'milvus_shards' (1 to 16) and 'milvus_replicas' (at least 1) are out of range")
        if not 2 <= self.milvus_m <= 100 or not 2 * self.milvus_m <= self.milvus_ef_construction <= 1000:
            raise ConfigError(
                "setting 'milvus_m' must be 2 to 100 and 'milvus_ef_construction' between twice it and 1000"
            )
        if not 1 <= self.milvus_ef_search <= 32768:
            raise ConfigError(f"setting 'milvus_ef_search' must be between 1 and 32768, not {self.milvus_ef_search}")
        if self.milvus_consistency not in ("strong", "bounded"):
            raise ConfigError(
                f"setting 'milvus_consistency' must be 'strong' or 'bounded', not {self.milvus_consistency!r}"
            )

    def search_window(self) -> tuple[time, time] | None:
        """``search_hours`` as (start, end) UTC times, end exclusive; None when searches may run any time.

        When start > end the window wraps midnight ('22:00-06:00' is 22:00 to 06:00 the next day).
        """
        text = self.search_hours.strip()
        if not text:
            return None
        match = _HOURS.fullmatch(text)
        bounds: list[time] = []
        if match:
            for hour, minute in ((match[1], match[2]), (match[3], match[4])):
                if int(hour) > 23 or int(minute) > 59:
                    break
                bounds.append(time(int(hour), int(minute)))
        if len(bounds) != 2:
            raise ConfigError(
                f"setting 'search_hours' must be empty or 'HH:MM-HH:MM' in UTC, not {self.search_hours!r}"
            )
        if bounds[0] == bounds[1]:
            raise ConfigError(
                f"setting 'search_hours' {self.search_hours!r} is an empty window; leave it empty for any time"
            )
        return bounds[0], bounds[1]

    def index_options(self) -> dict[str, Any]:
        """Options for the chosen index backend (see :class:`facesearch.index.keeper.IndexKeeper`)."""
        if self.index_backend == "pgvector":
            return {
                "exact": self.pgvector_exact,
                "m": self.pgvector_m,
                "ef_construction": self.pgvector_ef_construction,
                "ef_search": self.pgvector_ef_search,
            }
        if self.index_backend == "milvus":
            return {
                "uri": self.milvus_uri,
                "database": self.milvus_database,
                "collection": self.milvus_collection,
                "shards": self.milvus_shards,
                "replicas": self.milvus_replicas,
                "m": self.milvus_m,
                "ef_construction": self.milvus_ef_construction,
                "ef_search": self.milvus_ef_search,
                "consistency": self.milvus_consistency,
            }
        return {"storage": self.index_storage} if self.index_backend == "exact" else {}

    @classmethod
    def documentation(cls) -> dict[str, tuple[Any, str]]:
        """Each setting's name mapped to (default, documentation)."""
        return {f.name: (f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)}

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: dict[str, Any], origin: str = "settings") -> Settings:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{origin}: unknown setting(s) {', '.join(unknown)}")
        for name, value in values.items():
            expected = type(known[name].default)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                values[name] = float(value)
            elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"{origin}: setting {name!r} must be {expected.__name__}, not {value!r}")
        return cls(**values)

    @classmethod
    def load(cls, home: Path) -> Settings:
        """Defaults, overridden by ``HOME/facesearch.toml`` when it exists."""
        path = home / CONFIG_FILE
        if not path.exists():
            return cls()
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        return cls.from_mapping(values, origin=str(path))
