"""Paired per-photo differences between methods of one `denoisecli evaluate` run.

    python scripts/compare_results.py reports/ninth-validation-capped/results.json --base skip

A mean over 16 photos with a spread of 4-5 dB hides how sure a 0.25 dB lead is. Every method
saw the same noisy inputs, so the per-photo difference to ``--base`` (from ``psnr_per_image``,
capped as the run capped it) has a much smaller spread: this prints its mean, its standard
error and on how many photos the method is ahead and behind, per case. ``--base`` is a method's label as
evaluate wrote it (a path without ``.safetensors``); a unique substring is enough.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path


def paired_differences(results: dict, base: str) -> list[dict]:
    """One row per (method, case) other than the base: mean, standard error and wins over it."""
    methods = list(dict.fromkeys(row["method"] for row in results["rows"]))
    matches = [method for method in methods if method == base] or [m for m in methods if base in m]
    if len(matches) != 1:
        raise SystemExit(f"--base {base!r} matches {len(matches)} of the methods: {', '.join(methods)}")
    base = matches[0]
    by_key = {(row["method"], row["case"]): row["psnr_per_image"] for row in results["rows"]}
    rows = []
    for (method, case), values in by_key.items():
        if method == base:
            continue
        differences = [ours - theirs for ours, theirs in zip(values, by_key[(base, case)], strict=True)]
        count = len(differences)
        rows.append(
            {
                "method": method,
                "base": base,
                "case": case,
                "mean_difference": statistics.fmean(differences),
                "standard_error": statistics.stdev(differences) / math.sqrt(count) if count > 1 else 0.0,
                "ahead": sum(d > 0 for d in differences),
                "behind": sum(d < 0 for d in differences),  # the rest tie (both at a cap, say)
                "images": count,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results.json of an evaluate run (-o FOLDER)")
    parser.add_argument("--base", required=True, help="the method every other is compared with")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    arguments = parser.parse_args()
    rows = paired_differences(json.loads(arguments.results.read_text()), arguments.base)
    if arguments.json:
        print(json.dumps(rows))
        return
    print(f"PSNR difference to {rows[0]['base'] if rows else arguments.base}, per photo (dB)\n")
    print("| method | case | mean difference | standard error | ahead / behind on |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['method']} | {row['case']} | {row['mean_difference']:+.3f} | {row['standard_error']:.3f} | "
            f"{row['ahead']} / {row['behind']} of {row['images']} |"
        )


if __name__ == "__main__":
    main()
