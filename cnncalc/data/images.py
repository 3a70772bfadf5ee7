"""Inputs for `cnncalc predict`: PNG and JPEG (Pillow, imported only here), PGM/PPM, .npz, .npy,
IDX — several files or glob patterns at once, each image brought to the network's n_H×n_W×n_C.

A picture's mode is converted to the network's channels: n_C 1 → Pillow's "L" (luma
L = R·299/1000 + G·587/1000 + B·114/1000), n_C 3 → "RGB" (gray repeated, alpha dropped); 16-bit
gray is scaled by 255/65535. A picture of another size is refused with the expected size, or
resized (bilinear, per channel) when asked. Pixels stay in 0…255, the units the run's statistics
were taken in; the caller normalises.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from cnncalc.data import netpbm
from cnncalc.data.dataset import shape_text
from cnncalc.data.sources import _head, load_inputs
from cnncalc.errors import DataError, Mark

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


def is_picture(head: bytes) -> bool:
    return head.startswith(PNG_MAGIC) or head.startswith(JPEG_MAGIC)


def expand(patterns: list[str]) -> list[str]:
    """Each argument as itself when it is a file, else its glob matches, sorted; none: DataError."""
    paths = []
    for pattern in patterns:
        if os.path.exists(pattern) or not glob.has_magic(pattern):
            paths.append(pattern)
            continue
        found = sorted(glob.glob(pattern))
        if not found:
            raise DataError("no file matches this pattern", Mark(pattern))
        paths += found
    return paths


def _picture(path: str, n_H: int, n_W: int, n_C: int, resize: bool) -> np.ndarray:
    """A PNG/JPEG as float32 (n_H', n_W', n_C) in 0…255; without resize, one of another size than
    n_H×n_W is refused from its header, before its pixels are decoded."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns between MAX_IMAGE_PIXELS and twice that and raises above: both are refusals
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if not resize and img.size != (n_W, n_H):
                    raise DataError(f"the image is {img.size[1]}×{img.size[0]} but the network takes {n_H}×{n_W}",
                                    Mark(path), received=f"{img.size[1]}×{img.size[0]}", allowed=f"{n_H}×{n_W}",
                                    fix="give --resize to scale it")
                img.load()
                if img.mode.startswith("I;16"):  # 16-bit gray: convert() would clip to 255, so scale
                    x = (np.asarray(img, np.float32) * np.float32(255 / 65535))[..., None]
                    return x if n_C == 1 else np.repeat(x, 3, axis=-1)
                x = np.asarray(img.convert("L" if n_C == 1 else "RGB"), np.float32)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError("the image is too large to decode safely", Mark(path), received=str(exc).split(",")[0],
                        allowed=f"at most {Image.MAX_IMAGE_PIXELS:,} pixels (Pillow's MAX_IMAGE_PIXELS)") from None
    except MemoryError:
        raise DataError("not enough memory to decode the image", Mark(path)) from None
    except Exception as exc:  # a damaged file can make a decoder raise almost anything (SyntaxError, struct.error…)
        raise DataError(f"not a readable image ({type(exc).__name__}: {exc})", Mark(path)) from None
    return x[..., None] if x.ndim == 2 else x


def _channels(x: np.ndarray, n_C: int) -> np.ndarray:
    """A PGM/PPM array (n_H, n_W, 1 or 3) as n_C channels, with Pillow's luma weights for gray."""
    if x.shape[-1] == n_C:
        return x.astype(np.float32)
    if n_C == 3:
        return np.repeat(x.astype(np.float32), 3, axis=-1)
    r, g, b = (x[..., i].astype(np.float32) for i in range(3))
    return ((r * 299 + g * 587 + b * 114) / 1000)[..., None]


def _resize(x: np.ndarray, n_H: int, n_W: int) -> np.ndarray:
    from PIL import Image

    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c]), mode="F")
                         .resize((n_W, n_H), Image.BILINEAR), np.float32) for c in range(x.shape[-1])]
    return np.stack(planes, axis=-1)


def read_image_file(path: str, input_shape, resize: bool = False) -> np.ndarray:
    """One picture (PNG, JPEG, PGM, PPM) as float32 (1, n_H, n_W, n_C) for input_shape (n_H, n_W, n_C)."""
    n_H, n_W, n_C = (int(v) for v in input_shape)
    if n_C not in (1, 3):
        raise DataError(f"the network takes {n_C} channels; a picture gives 1 (gray) or 3 (RGB)", Mark(path),
                        received=n_C, allowed="a network whose input has n_C 1 or 3, or an .npz of inputs")
    if is_picture(_head(path)):
        x = _picture(path, n_H, n_W, n_C, resize)
    else:
        x = _channels(netpbm.read_netpbm(path), n_C)
    if x.shape[:2] != (n_H, n_W):
        if not resize:
            raise DataError(f"the image is {shape_text(x.shape[:2])} but the network takes {n_H}×{n_W}", Mark(path),
                            received=shape_text(x.shape[:2]), allowed=f"{n_H}×{n_W}",
                            fix="give --resize to scale it")
        x = _resize(x, n_H, n_W)
    return x[None]


def read_inputs(path: str, input_shape, resize: bool = False) -> tuple[np.ndarray, list[str]]:
    """The images in one file, float32 (m, n_H, n_W, n_C) (or (m, n) for a vector input), and a
    name for each: the path for a single picture, path[i] for the i-th image of a batch file."""
    want = tuple(int(v) for v in input_shape)
    head = _head(path)
    if len(want) == 3 and (is_picture(head) or netpbm.is_netpbm(head)):
        return read_image_file(path, want, resize), [path]
    if is_picture(head):
            raise DataError("the network's input is a vector; a picture needs an n_H×n_W×n_C input", Mark(path),
                            fix="give an .npz with x of shape (m, n)")
    x = load_inputs(path, want if len(want) == 3 else None)
    names = [path] if len(x) == 1 else [f"{path}[{i}]" for i in range(len(x))]
    return x, names
