"""Write the sample photos that installed packages ship into a folder, for the quickstart.

- astronaut.jpg: scikit-image's photo of astronaut Eileen Collins (NASA, public domain).
- hopper.jpg: matplotlib's photo of Grace Hopper (US Navy, public domain).
- probe.jpg: the astronaut photo mirrored and re-scaled, standing in for a new photo of her.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import matplotlib.cbook
import skimage.data
from PIL import Image


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    astronaut = Image.fromarray(skimage.data.astronaut())
    astronaut.save(folder / "astronaut.jpg", quality=92)
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((400, 400)).save(folder / "probe.jpg", quality=92)
    shutil.copy(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), folder / "hopper.jpg")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
