"""Read and write photos as numpy arrays, keeping bit depth, alpha, EXIF and ICC. No torch here.

Conventions: ``Photo.pixels`` is float32 HxWxC in [0, 1] with C = 1 (grayscale) or 3 (RGB);
alpha, when present, is kept as the original integer array and written back untouched.
Pillow decodes 8-bit images and all metadata; OpenCV decodes and encodes 16-bit PNG and TIFF,
which Pillow would silently truncate to 8 bits.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from denoisecli.atomic import atomic_path
from denoisecli.errors import DenoiseError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")
DEFAULT_MAX_MEGAPIXELS = 250.0
EXIF_ORIENTATION = 0x0112
# Baseline TIFF tags that describe how a TIFF file stores its pixels; Pillow reports them in a
# TIFF's getexif(), but they are not camera metadata.
TIFF_STRUCTURE_TAGS = (
    254,
    255,
    256,
    257,
    258,
    259,
    262,
    266,
    273,
    277,
    278,
    279,
    282,
    283,
    284,
    296,
    317,
    320,
    322,
    323,
    324,
    325,
    338,
    339,
    34675,
)


@dataclass(frozen=True)
class Photo:
    """A decoded photo. ``pixels``: float32 HxWxC in [0, 1], C in {1, 3}."""

    pixels: np.ndarray
    bit_depth: int = 8
    alpha: np.ndarray | None = None
    exif: bytes | None = None
    icc_profile: bytes | None = None

    @property
    def megapixels(self) -> float:
        return self.pixels.shape[0] * self.pixels.shape[1] / 1e6

    def with_pixels(self, pixels: np.ndarray) -> Photo:
        return replace(self, pixels=np.asarray(pixels, dtype=np.float32))


def read_photo(path: str | Path, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> Photo:
    """Decode ``path`` into a :class:`Photo`, applying its EXIF orientation.

    Raises :class:`DenoiseError` with the file name for anything that is not a readable image.
    """
    path = Path(path)
    if not path.exists():
        raise DenoiseError(f"{path}: no such file")
    if path.is_dir():
        raise DenoiseError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise DenoiseError(f"{path}: empty file")
    try:
        with Image.open(path) as image:
            megapixels = image.width * image.height / 1e6
            if megapixels > max_megapixels:
                raise DenoiseError(
                    f"{path}: {megapixels:.0f} megapixels is over the safety limit of "
                    f"{max_megapixels:.0f} (raise it with --max-megapixels)"
                )
            sixteen_bit = _is_sixteen_bit(image)  # before getexif(), which may decode and drop the tile info
            exif = image.getexif()
            orientation = exif.get(EXIF_ORIENTATION, 1)
            icc_profile = image.info.get("icc_profile")
            if sixteen_bit:
                array = _read_sixteen_bit(path)
                array = _apply_orientation(array, orientation)
                bit_depth = 16
            else:
                array = _pillow_to_array(ImageOps.exif_transpose(image))
                bit_depth = 8
    except DenoiseError:
        raise
    except Image.DecompressionBombError as error:
        raise DenoiseError(f"{path}: too large to decode safely ({error})") from None
    except UnidentifiedImageError:
        raise DenoiseError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError, cv2.error) as error:
        raise DenoiseError(f"{path}: corrupt or truncated image ({error})") from None
    if orientation != 1:
        exif[EXIF_ORIENTATION] = 1  # the pixels are now upright; keep viewers from rotating again
    for tag in TIFF_STRUCTURE_TAGS:
        exif.pop(tag, None)  # a TIFF's own layout tags (size, strips) would be wrong in another file
    exif_bytes = exif.tobytes() if len(exif) else None
    return _split_alpha(array, bit_depth, exif_bytes, icc_profile)


def write_photo(path: str | Path, photo: Photo, bit_depth: int | None = None) -> None:
    """Encode ``photo`` by ``path``'s extension, atomically: a temporary file, then a rename.

    ``bit_depth`` defaults to the photo's own; 16 bits falls back to 8 where the format has no
    16-bit form (JPEG, WebP, BMP).
    """
    path = Path(path)
    extension = path.suffix.lower()
    if extension not in IMAGE_EXTENSIONS:
        raise DenoiseError(f"{path}: unsupported output format {extension or '(none)'}")
    depth = bit_depth or photo.bit_depth
    if extension not in SIXTEEN_BIT_EXTENSIONS:
        depth = 8
    array = _quantize(photo.pixels, depth)
    if photo.alpha is not None:
        array = np.dstack([array, _convert_depth(photo.alpha, depth)])
    encoded = _encode(array, extension, depth, photo)
    _atomic_write_bytes(path, encoded)


def find_images(paths: Iterable[str | Path], recursive: bool = True) -> list[tuple[Path, Path]]:
    """Expand files and folders into ``(image, root)`` pairs, sorted, hidden files skipped.

    ``root`` is the folder the image was found under (the file's parent for a plain file), so
    callers can mirror the input tree. Files given by name are kept whatever their extension so
    that a wrong file gets a clear error rather than silence.
    """
    found: list[tuple[Path, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend((image, path) for image in _images_under(path, recursive))
        else:
            found.append((path, path.parent))
    return found


def _images_under(folder: Path, recursive: bool) -> Iterator[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    for path in sorted(candidates):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            yield path


def _is_sixteen_bit(image: Image.Image) -> bool:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return True
    tile_args = str(image.tile[0].args) if image.tile else ""
    return ";16" in tile_args


def _read_sixteen_bit(path: Path) -> np.ndarray:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise DenoiseError(f"{path}: corrupt or truncated 16-bit image")
    if array.dtype != np.uint16:
        array = array.astype(np.uint16)
    if array.ndim == 3:
        order = [2, 1, 0, 3] if array.shape[2] == 4 else [2, 1, 0]
        array = array[:, :, order]
    return array


def _pillow_to_array(image: Image.Image) -> np.ndarray:
    """8-bit Pillow image -> uint8 HxW, HxWx2, HxWx3 or HxWx4 (palette, CMYK, 1-bit converted)."""
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(image)


def _apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip like ``ImageOps.exif_transpose`` for arrays Pillow did not decode."""
    operations = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1, :],
    }
    operation = operations.get(orientation)
    return np.ascontiguousarray(operation(array)) if operation else array


def _split_alpha(array: np.ndarray, bit_depth: int, exif: bytes | None, icc_profile: bytes | None) -> Photo:
    if array.ndim == 2:
        array = array[:, :, None]
    alpha = None
    if array.shape[2] in (2, 4):
        alpha = array[:, :, -1].copy()
        array = array[:, :, :-1]
    scale = 65535.0 if bit_depth == 16 else 255.0
    pixels = np.ascontiguousarray(array, dtype=np.float32) / np.float32(scale)
    return Photo(pixels, bit_depth, alpha, exif, icc_profile)


def _quantize(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    peak = 65535.0 if bit_depth == 16 else 255.0
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return np.rint(np.clip(pixels, 0.0, 1.0) * peak).astype(dtype)


def _convert_depth(alpha: np.ndarray, bit_depth: int) -> np.ndarray:
    """Alpha passes through untouched at its own depth; only a depth change rescales it."""
    if alpha.dtype == np.uint16 and bit_depth == 8:
        return np.rint(alpha / 257.0).astype(np.uint8)
    if alpha.dtype == np.uint8 and bit_depth == 16:
        return alpha.astype(np.uint16) * 257
    return alpha


def _encode(array: np.ndarray, extension: str, bit_depth: int, photo: Photo) -> bytes:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if bit_depth == 16:
        return _encode_sixteen_bit(array, extension, photo)
    image = Image.fromarray(array)
    options: dict = {}
    if extension in (".jpg", ".jpeg"):
        image = image.convert("RGB") if image.mode in ("RGBA", "LA") else image
        options = {"quality": 95, "subsampling": 0}
    elif extension == ".webp":
        options = {"lossless": True}
    if extension != ".bmp":
        if photo.exif:
            options["exif"] = photo.exif
        if photo.icc_profile:
            options["icc_profile"] = photo.icc_profile
    format_name = Image.registered_extensions()[extension]
    buffer = io.BytesIO()
    image.save(buffer, format=format_name, **options)
    return buffer.getvalue()


def _encode_sixteen_bit(array: np.ndarray, extension: str, photo: Photo) -> bytes:
    if array.ndim == 3:
        order = [2, 1, 0, 3] if array.shape[2] == 4 else [2, 1, 0]
        array = array[:, :, order]
    kinds, blobs = [], []
    if extension == ".png":
        if photo.exif:
            # PNG's eXIf chunk holds the bare TIFF header, without JPEG's "Exif\0\0" prefix.
            exif = photo.exif[6:] if photo.exif.startswith(b"Exif\x00\x00") else photo.exif
            kinds.append(cv2.IMAGE_METADATA_EXIF)
            blobs.append(np.frombuffer(exif, np.uint8))
        if photo.icc_profile:
            kinds.append(cv2.IMAGE_METADATA_ICCP)
            blobs.append(np.frombuffer(photo.icc_profile, np.uint8))
    elif photo.exif or photo.icc_profile:
        warnings.warn("16-bit TIFF output does not carry EXIF or ICC (OpenCV cannot write them)", stacklevel=3)
    ok, encoded = cv2.imencodeWithMetadata(extension, array, kinds, blobs) if kinds else cv2.imencode(extension, array)
    if not ok:
        raise DenoiseError(f"could not encode a 16-bit {extension} image")
    return encoded.tobytes()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    try:
        with atomic_path(path) as temporary:
            temporary.write_bytes(data)
    except OSError as error:
        raise DenoiseError(f"{path}: cannot write ({error.strerror or error})") from None
