"""Record the golden outputs of every shipped weight file (run after changing weights/).

    python scripts/update_golden.py

Writes tests/golden.json: for each weights/*.safetensors, its SHA-256 and the model's output on
a fixed input, which tests/test_weights.py compares against with a tolerance.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from golden_input import golden_output  # noqa: E402


def main() -> None:
    golden = {}
    for path in sorted((ROOT / "weights").glob("*.safetensors")):
        golden[path.stem] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "output": [round(value, 6) for value in golden_output(path)],
        }
    (ROOT / "tests" / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(f"recorded {', '.join(golden)}")


if __name__ == "__main__":
    main()
