"""An evaluation ``Report`` as JSON, Markdown and a detail panel PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from denoisecli.evaluate import Report

CELL = 128  # pixels per panel cell: a centre crop of CELL / ZOOM pixels, enlarged
ZOOM = 2
HEADER = 18


def to_json(report: Report) -> dict:
    return {"protocol": report.protocol, "details": report.details, "images": report.images, "rows": report.rows()}


def to_markdown(report: Report) -> str:
    details = report.details
    lines = [
        f"# Evaluation: {report.protocol} protocol",
        "",
        f"{details['images']} images from `{details['test_dir']}`, seed {details['seed']}, noise "
        f"{details['noise']}, sigma {', '.join(f'{s:g}' for s in details['sigmas'])} (0-255), "
        f"scored in {details.get('colour', 'RGB')}. "
        f"PSNR (dB) and SSIM on the 8-bit result against the clean image, mean +- standard deviation over images; "
        f"seconds per megapixel on {details['device']} with {details['threads']} threads."
        + (f" Models' network in {details['network_dtype']}." if details.get("network_dtype") else "")
        + (
            f" Each image's PSNR is capped at {details['psnr_cap']:g} dB per case before any mean."
            if details.get("psnr_cap") is not None
            else ""
        ),
        "",
        "| method | case | PSNR | SSIM | s/MP |",
        "|---|---|---|---|---|",
    ]
    for row in report.rows():
        speed = f"{row['seconds_per_megapixel']:.3f}" if row["seconds_per_megapixel"] is not None else ""
        lines.append(
            f"| {row['method']} | {row['case']} | {row['psnr_mean']:.2f} +- {row['psnr_std']:.2f} | "
            f"{row['ssim_mean']:.4f} | {speed} |"
        )
    lines += ["", "![detail panel](panel.png)", ""]
    return "\n".join(lines)


def panel(report: Report) -> Image.Image:
    """Rows: (image, case); columns: clean, noisy, then each method; each cell a zoomed crop."""
    columns = ["clean", "noisy", *report.methods]
    rows = [(item, case) for item in report.panels for case in report.cases if case in item["cases"]]
    image = Image.new("RGB", (len(columns) * CELL, HEADER + max(1, len(rows)) * CELL), "white")
    draw = ImageDraw.Draw(image)
    for column, label in enumerate(columns):
        draw.text((column * CELL + 4, 3), label[:20], fill="black")
    for row, (item, case) in enumerate(rows):
        entry = item["cases"][case]
        cells = [item["clean"], entry["noisy"], *(entry["outputs"][m] for m in report.methods)]
        for column, pixels in enumerate(cells):
            image.paste(_zoomed_crop(pixels), (column * CELL, HEADER + row * CELL))
        draw.text((4, HEADER + row * CELL + 3), f"{item['name'][:12]} {case}", fill="yellow")
    return image


def _zoomed_crop(pixels: np.ndarray) -> Image.Image:
    size = CELL // ZOOM
    height, width = pixels.shape[:2]
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    crop = np.clip(pixels[top : top + size, left : left + size], 0, 1)
    crop = np.rint(crop * 255).astype(np.uint8)
    crop = crop[..., 0] if crop.shape[-1] == 1 else crop  # gray scoring (evaluate --gray)
    return Image.fromarray(crop).resize((CELL, CELL), Image.Resampling.NEAREST)


def write_report(report: Report, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(to_json(report), indent=2) + "\n")
    (folder / "report.md").write_text(to_markdown(report))
    panel(report).save(folder / "panel.png")
