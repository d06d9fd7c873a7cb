# denoisecli for GPU hosts (default) or CPU-only hosts (--build-arg VARIANT=cpu).
#   docker build -t denoisecli .
#   docker run --gpus all -v "$PWD:/data" denoisecli denoise in/ -o out/
# Without --gpus the same image runs on the CPU (--device auto falls back).
ARG VARIANT=gpu

# A CUDA-enabled PyTorch; the package's torch requirement is already met here.
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime AS base-gpu

# A slim Python with PyTorch's CPU wheel, so `pip install .` never pulls a CUDA build.
FROM python:3.11-slim AS base-cpu
RUN pip install --no-cache-dir torch==2.5.1 --index-url https://download.pytorch.org/whl/cpu

# hadolint ignore=DL3006
FROM base-${VARIANT}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/denoisecli
COPY pyproject.toml README.md ./
COPY denoisecli/ denoisecli/
COPY weights/ weights/
# The same install step as the README's, with the shipped weights inside the package.
RUN pip install --no-cache-dir .
RUN useradd --create-home --uid 1000 denoise && mkdir /data && chown denoise /data
USER 1000
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["denoisecli"]
CMD ["--help"]
