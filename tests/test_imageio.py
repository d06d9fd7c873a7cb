import numpy as np
import pytest
from PIL import Image, ImageCms

from denoisecli.errors import DenoiseError
from denoisecli.imageio import Photo, find_images, read_photo, write_photo


def sixteen_bit(height=12, width=10, channels=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (height, width, channels), dtype=np.uint16)


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_sixteen_bit_round_trips_exactly(tmp_path, extension):
    values = sixteen_bit()
    source = tmp_path / f"source{extension}"
    write_photo(source, Photo(values.astype(np.float32) / 65535, bit_depth=16))
    photo = read_photo(source)
    assert photo.bit_depth == 16 and photo.pixels.shape == (12, 10, 3)
    assert np.array_equal(np.rint(photo.pixels * 65535).astype(np.uint16), values)
    copy = tmp_path / f"copy{extension}"
    write_photo(copy, photo)
    assert np.array_equal(read_photo(copy).pixels, photo.pixels)


def test_sixteen_bit_grayscale(tmp_path):
    values = sixteen_bit(channels=1)
    path = tmp_path / "gray16.png"
    write_photo(path, Photo(values.astype(np.float32) / 65535, bit_depth=16))
    photo = read_photo(path)
    assert photo.bit_depth == 16 and photo.pixels.shape == (12, 10, 1)
    assert np.array_equal(np.rint(photo.pixels[..., 0] * 65535).astype(np.uint16), values[..., 0])


@pytest.mark.parametrize("extension", [".png", ".webp", ".bmp", ".tif", ".jpg"])
def test_eight_bit_formats(tmp_path, rgb_image, extension):
    path = tmp_path / f"image{extension}"
    write_photo(path, Photo(rgb_image))
    photo = read_photo(path)
    assert photo.bit_depth == 8 and photo.pixels.shape == rgb_image.shape
    tolerance = 0.05 if extension == ".jpg" else 1 / 255
    assert np.abs(photo.pixels - rgb_image).max() <= tolerance


def test_alpha_survives_untouched(tmp_path, rgb_image):
    alpha = np.random.default_rng(1).integers(0, 256, rgb_image.shape[:2], dtype=np.uint8)
    path = tmp_path / "rgba.png"
    rgba = np.dstack([np.rint(rgb_image * 255).astype(np.uint8), alpha])
    Image.fromarray(rgba, "RGBA").save(path)
    photo = read_photo(path)
    assert photo.pixels.shape[2] == 3 and np.array_equal(photo.alpha, alpha)
    out = tmp_path / "out.png"
    write_photo(out, photo.with_pixels(photo.pixels * 0.5))
    assert np.array_equal(np.asarray(Image.open(out))[..., 3], alpha)


def test_palette_and_grayscale_inputs(tmp_path, rgb_image):
    palette = tmp_path / "palette.png"
    Image.fromarray(np.rint(rgb_image * 255).astype(np.uint8)).convert("P").save(palette)
    assert read_photo(palette).pixels.shape[2] == 3
    gray = tmp_path / "gray.png"
    Image.fromarray(np.rint(rgb_image[..., 0] * 255).astype(np.uint8), "L").save(gray)
    assert read_photo(gray).pixels.shape[2] == 1


@pytest.mark.parametrize("extension", [".jpg", ".png", ".webp", ".tif"])
def test_exif_and_icc_survive(tmp_path, rgb_image, extension):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    source = tmp_path / f"source{extension}"
    Image.fromarray(np.rint(rgb_image * 255).astype(np.uint8)).save(source, exif=exif.tobytes(), icc_profile=icc)
    out = tmp_path / f"out{extension}"
    write_photo(out, read_photo(source))
    with Image.open(out) as image:
        assert image.info.get("icc_profile") == icc
        assert image.getexif().get(0x010F) == "TestCam"


def test_sixteen_bit_png_keeps_exif_and_icc(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    photo = Photo(sixteen_bit().astype(np.float32) / 65535, 16, None, exif.tobytes(), icc)
    path = tmp_path / "meta16.png"
    write_photo(path, photo)
    again = read_photo(path)
    assert again.bit_depth == 16 and again.icc_profile == icc
    with Image.open(path) as image:
        assert image.getexif().get(0x010F) == "TestCam"


def test_exif_orientation_is_applied_and_reset(tmp_path):
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[0, 0] = 255  # top-left marker
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=100)
    photo = read_photo(path)
    assert photo.pixels.shape[:2] == (6, 4)
    assert photo.pixels[0, -1].mean() > 0.5  # the marker moved to the top-right
    assert Image.Exif().load(photo.exif) is None or True
    restored = Image.Exif()
    restored.load(photo.exif)
    assert restored.get(0x0112) == 1


def test_find_images_sorted_recursive_skips_hidden(tmp_path, rgb_image):
    for relative in ["b.png", "a.jpg", "sub/c.png", ".hidden.png", ".cache/d.png", "notes.txt"]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    found = [path.relative_to(tmp_path).as_posix() for path, _ in find_images([tmp_path])]
    assert found == ["a.jpg", "b.png", "sub/c.png"]
    assert [p.name for p, _ in find_images([tmp_path], recursive=False)] == ["a.jpg", "b.png"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "empty file"),
        ("notes.png", b"just some text, not an image", "not an image"),
        ("truncated.png", None, "corrupt or truncated"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, rgb_image, name, content, message):
    path = tmp_path / name
    if content is None:
        good = tmp_path / "good.png"
        write_photo(good, Photo(rgb_image))
        content = good.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(DenoiseError, match=message) as raised:
        read_photo(path)
    assert name in str(raised.value)


def test_missing_file_and_decompression_bomb(tmp_path, rgb_image):
    with pytest.raises(DenoiseError, match="no such file"):
        read_photo(tmp_path / "missing.png")
    path = tmp_path / "big.png"
    write_photo(path, Photo(rgb_image))
    with pytest.raises(DenoiseError, match="--max-megapixels"):
        read_photo(path, max_megapixels=0.001)


def test_write_is_atomic_on_failure(tmp_path, rgb_image, monkeypatch):
    path = tmp_path / "out.png"
    write_photo(path, Photo(rgb_image))
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", explode)
    with pytest.raises(KeyboardInterrupt):
        write_photo(path, Photo(rgb_image * 0.5))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary left behind
