"""Reading one photo safely and making the files the library keeps of it.

For each photo: the original bytes (stored as they are, named by content hash), a working copy for
the models (EXIF orientation applied, sRGB, long side at most 640 px, no metadata at all, so no
location data is ever copied out) and a thumbnail (at most 256 px). Every way a file can be bad
ends in a ``PhotoError`` whose message says what is wrong with it.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from stylist.errors import PhotoError

MAX_PIXELS = 64_000_000
WORKING_SIDE = 640
THUMBNAIL_SIDE = 256

# Pillow format name -> the suffix the stored original gets.
SUPPORTED_FORMATS = {
    "JPEG": ".jpg",
    "MPO": ".jpg",  # phone JPEGs with a second (depth) frame
    "PNG": ".png",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "GIF": ".gif",
    "TIFF": ".tif",
    "HEIF": ".heic",
}
# Suffixes a folder import looks at: the supported ones and other image formats, which are
# reported as unsupported rather than passed over in silence.
IMAGE_SUFFIXES = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".bmp",
        ".dib",
        ".gif",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".hif",
        ".avif",
        ".psd",
        ".svg",
        ".ico",
        ".tga",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pcx",
        ".jp2",
        ".raw",
        ".cr2",
        ".nef",
        ".arw",
        ".dng",
        ".xcf",
    ]
)

_heif_registered = False
_SRGB = None


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # HEIC photos are then reported as unsupported
            pass
        _heif_registered = True


def _srgb_profile():
    global _SRGB
    if _SRGB is None:
        _SRGB = ImageCms.createProfile("sRGB")
    return _SRGB


@dataclass
class PreparedPhoto:
    """Everything the library stores of one photo, made before anything is written."""

    source: Path
    sha256: str
    original: bytes
    suffix: str  # of the stored original
    width: int  # as displayed, after the EXIF orientation
    height: int
    working_jpeg: bytes
    thumbnail_jpeg: bytes


MAX_FILE_BYTES = 200 * 1024 * 1024  # no garment photo is larger; a bigger file is refused unread

# The first bytes of every format the library stores, and of image formats it names when it
# refuses them. Nothing is handed to a decoder before its first bytes are recognised.
_MAGIC_SUPPORTED = (
    (0, b"\xff\xd8\xff"),  # JPEG, MPO
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"BM"),
    (0, b"II*\x00"),  # TIFF, little-endian
    (0, b"MM\x00*"),  # TIFF, big-endian
    (4, b"ftyp"),  # HEIF/HEIC (and AVIF, which the decoder then names)
)
_MAGIC_OTHER = {
    b"8BPS": "PSD",
    b"\x00\x00\x01\x00": "ICO",
    b"\x00\x00\x00\x0cjP": "JPEG 2000",
    b"gimp xcf": "XCF",
    b"<svg": "SVG",
    b"<?xm": "SVG",
    **{f"P{n}".encode(): "PPM" for n in range(1, 8)},
}


def _recognised(head: bytes) -> bool:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return any(head[at : at + len(magic)] == magic for at, magic in _MAGIC_SUPPORTED)


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def read_photo(path: Path, limit: int = MAX_FILE_BYTES) -> tuple[bytes, str]:
    """The file's bytes and their sha256, or a ``PhotoError`` saying why it cannot be read.

    Only regular files are read (a pipe, a device or a socket named like a photo is refused
    without waiting on it), no more than ``limit`` bytes, and only when the first bytes are
    those of a supported picture format."""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer that never comes.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise PhotoError("no such file") from None
    except IsADirectoryError:
        raise PhotoError("is a folder, not a photo") from None
    except OSError as exc:
        raise PhotoError(f"cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise PhotoError("is a folder, not a photo")
        if not stat.S_ISREG(info.st_mode):
            raise PhotoError(f"not a regular file ({_file_kind(info.st_mode)}); not read")
        if info.st_size == 0:
            raise PhotoError("empty file (0 bytes)")
        if info.st_size > limit:
            raise PhotoError(
                f"file too large ({info.st_size / 1e6:,.0f} MB; the limit is {limit / 1e6:.0f} MB)"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            head = handle.read(16)
            if not _recognised(head):
                other = next((n for m, n in _MAGIC_OTHER.items() if head.startswith(m)), None)
                if other is not None:
                    raise PhotoError(f"unsupported format ({other})")
                raise PhotoError("not an image (the contents are not a known picture format)")
            original = head + handle.read(limit + 1 - len(head))
    except OSError as exc:
        raise PhotoError(f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(original) > limit:  # it grew while being read
        raise PhotoError(f"file too large (over {limit / 1e6:.0f} MB)")
    if not original:
        raise PhotoError("empty file (0 bytes)")
    return original, hashlib.sha256(original).hexdigest()


def prepare(path: Path, original: bytes | None = None, sha256: str | None = None) -> PreparedPhoto:
    """Read and check one photo and make its working copy and thumbnail."""
    if original is None or sha256 is None:
        original, sha256 = read_photo(path)
    image, suffix, size = _decode(original)
    working = _working_copy(image)
    thumbnail = working.copy()
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BICUBIC)
    return PreparedPhoto(
        source=path,
        sha256=sha256,
        original=original,
        suffix=suffix,
        width=size[0],
        height=size[1],
        working_jpeg=_jpeg(working, quality=90),
        thumbnail_jpeg=_jpeg(thumbnail, quality=85),
    )


def derived_files(original: bytes) -> tuple[bytes, bytes]:
    """The working copy and thumbnail of a stored original (used to repair a library)."""
    image, _, _ = _decode(original)
    working = _working_copy(image)
    thumbnail = working.copy()
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BICUBIC)
    return _jpeg(working, quality=90), _jpeg(thumbnail, quality=85)


def _decode(data: bytes) -> tuple[Image.Image, str, tuple[int, int]]:
    """The decoded first frame, the stored suffix and the displayed size of the full photo."""
    _register_heif()
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            # Our own 64-megapixel limit below is the one that counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise PhotoError("not an image (the contents are not a known picture format)") from None
    except Image.DecompressionBombError:
        raise PhotoError(_too_large_message(None)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise PhotoError(f"damaged image ({exc})") from None
    suffix = SUPPORTED_FORMATS.get(image.format or "")
    if suffix is None:
        raise PhotoError(f"unsupported format ({image.format or 'unknown'})")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PhotoError(_too_large_message((width, height)))
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    icc = image.info.get("icc_profile")
    if image.format == "JPEG":
        # Decode at a reduced scale straight from the file: the working copy needs no more.
        image.draft("RGB", (WORKING_SIDE, WORKING_SIDE))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated" if "truncated" in str(exc) else str(exc)
        raise PhotoError(f"damaged image data ({reason})") from None
    except Image.DecompressionBombError:
        raise PhotoError(_too_large_message((width, height))) from None
    image = ImageOps.exif_transpose(image)
    return _to_srgb(image, icc), suffix, (width, height)


def _too_large_message(size: tuple[int, int] | None) -> str:
    limit = MAX_PIXELS // 1_000_000
    if size is None:
        return f"image too large (over {limit} megapixels; refused as a possible image bomb)"
    w, h = size
    return f"image too large ({w}×{h} = {w * h / 1e6:.0f} megapixels, the limit is {limit})"


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB in sRGB; transparency goes onto white, like a garment photographed on paper."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "RGB" if image.mode in ("RGB", "RGBA", "CMYK") else None
            if mode:
                converted = ImageCms.profileToProfile(
                    image if image.mode != "RGBA" else image.convert("RGB"),
                    source,
                    _srgb_profile(),
                    outputMode=mode,
                )
                if converted is not None:
                    image = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken embedded profile: the pixels are still usable as they are
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def _working_copy(image: Image.Image) -> Image.Image:
    working = image.copy() if max(image.size) <= WORKING_SIDE else image
    if max(working.size) > WORKING_SIDE:
        working = working.copy()
        working.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.LANCZOS)
    return working


def _jpeg(image: Image.Image, quality: int) -> bytes:
    image.info.clear()  # no EXIF, ICC, XMP or comments travel into our copies
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue()
