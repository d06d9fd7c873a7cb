"""Small pictures drawn with Pillow alone: training curves and comparison panels."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, size=(640, 240)) -> Image.Image:
    """One panel of (x, y) series on shared axes with a legend. Empty series are skipped."""
    width, height = size
    margin_left, margin_right, margin_top, margin_bottom = 60, 15, 25, 25
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin_left, 5), title, fill="black")
    points = [point for values in series.values() for point in values if np.isfinite(point[1])]
    if not points:
        return image
    xs, ys = zip(*points, strict=True)
    x_low, x_high = min(xs), max(xs) or 1
    y_low, y_high = min(ys), max(ys)
    if y_high == y_low:
        y_high = y_low + 1
    if x_high == x_low:
        x_high = x_low + 1

    def place(x: float, y: float) -> tuple[float, float]:
        px = margin_left + (x - x_low) / (x_high - x_low) * (width - margin_left - margin_right)
        py = height - margin_bottom - (y - y_low) / (y_high - y_low) * (height - margin_top - margin_bottom)
        return px, py

    draw.rectangle([margin_left, margin_top, width - margin_right, height - margin_bottom], outline="#888")
    draw.text((5, margin_top), f"{y_high:.4g}", fill="black")
    draw.text((5, height - margin_bottom - 10), f"{y_low:.4g}", fill="black")
    draw.text((margin_left, height - margin_bottom + 5), f"{x_low:g}", fill="black")
    draw.text((width - margin_right - 50, height - margin_bottom + 5), f"{x_high:g}", fill="black")
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        placed = [place(x, y) for x, y in values if np.isfinite(y)]
        if len(placed) > 1:
            draw.line(placed, fill=colour, width=2)
        elif placed:
            x, y = placed[0]
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((width - margin_right - 150, margin_top + 5 + 12 * index), name, fill=colour)
    return image


def stack_vertically(images: list[Image.Image]) -> Image.Image:
    width = max(image.width for image in images)
    result = Image.new("RGB", (width, sum(image.height for image in images)), "white")
    top = 0
    for image in images:
        result.paste(image, (0, top))
        top += image.height
    return result
