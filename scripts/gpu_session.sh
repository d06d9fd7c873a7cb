#!/usr/bin/env bash
# One unattended session on a borrowed GPU: the CUDA benchmarks, and the candidate models trained
# side by side under a time limit. Everything it produces lands in OUT (runs.tar.gz.* parts + logs).
#
#   python scripts/pack_training_photos.py data/train-photos gpu-pack/photos --area 0.20
#   scripts/gpu_session.sh gpu-pack/photos "$OUT" 5.5                          # minutes of training
#
# The 64 MiB limit covers the whole working tree that travels, carried pack included: the tracked
# files are 41.1 MB since the twenty-seventh session (a wide candidate in float16: YD, then YE),
# so the pack at --area 0.22 (25.6 MB) would leave 0.4 MB; --area 0.20 leaves about 2.7 MB
# (a pack's size is close to proportional to its area: 28.2 MB at 0.25). Check `du -sb gpu-pack` plus
# `git ls-files -z | du -cb --files0-from=- | tail -1` before the call.
# Rehearse on CPU first: DEVICE=cpu scripts/gpu_session.sh gpu-pack/photos /tmp/out 0.3
# BENCH=0 skips the throughput and speed benchmarks (sections 1 and 3) to give training the time;
# STEP0=0 skips the step timing (section 0, half a minute; measured in the twenty-fourth session).
# FIRST=N starts at the Nth run of section 2 (a second call on a warm machine: RUNS=1 FIRST=2).
# BATCH sets the runs' batch size (default 64; section 0 times 64 and 256 through the post steps).
# Continue an earlier session's runs: unpack its parts into runs/, carry runs/, set RESUME=1 and
# pass the new total minutes (time already trained counts).
set -uo pipefail
photos=${1:?photos folder} out=${2:?output folder} minutes=${3:-5.5}
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$out" runs
exec > >(tee "$out/session.log") 2>&1

"$python" -c 'import torch, sys; print(sys.version.split()[0], "torch", torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else "no cuda")'
if [ "$device" = cuda ]; then nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv; fi

# 0. Where a --restore-loss step's time goes (the twenty-second session's runs were 30 times
#    slower than plain ones; docs/RESULTS.md, "A third GPU session"): half a minute.
#    The plain step, then the step through the post steps; PROFILE=1 adds PyTorch's profiler
#    table to the second (up to a minute more).
if [ "${STEP0:-1}" = 1 ]; then
timeout 60 "$python" benchmarks/train_step_parts.py --device "$device" --steps 5 | tee "$out/step_parts.txt"
profile=()
[ "${PROFILE:-0}" = 1 ] && profile=(--profile)
timeout 60 "$python" benchmarks/train_step_parts.py --device "$device" --steps 5 --sidecar weights/skip.json \
    "${profile[@]}" | tee -a "$out/step_parts.txt"
#    Since the twenty-sixth session the restore step is a third fewer operations forward and
#    half backward (the Wiener filter by grids on a GPU), counted per part in the table. A step
#    bound by launching operations costs about the same at four times the batch: if this row's
#    step is well under four times the one above, BATCH=256 (with the runs' learning rate as it
#    is: a larger batch gives a better gradient, not a longer one) buys pixels per minute.
timeout 60 "$python" benchmarks/train_step_parts.py --device "$device" --steps 5 --sidecar weights/skip.json \
    --batch-size 256 | tee -a "$out/step_parts.txt"
fi

# 1. Training throughput, eager, alone on the GPU (the figure issue #3 asks for).
steps=30
[ "$device" = cpu ] && steps=2
bench=${BENCH:-1}
if [ "$bench" = 1 ]; then
timeout 180 "$python" benchmarks/train_throughput.py --device "$device" --steps "$steps" | tee "$out/throughput.txt"
#    Wider shapes (the candidates below): achieved TFLOP/s grows with channels on a GPU.
for shape in skip_order=after skip_order=after,scale=3; do
    timeout 120 "$python" benchmarks/train_throughput.py --device "$device" --steps "$steps" --variants skip \
        --model-config "$shape" | tee -a "$out/throughput.txt"
done
#    The data side alone, at the worker count the runs below use: it must beat the step's rate.
timeout 120 "$python" benchmarks/train_throughput.py --device "$device" --loader "$photos" --workers 3 \
    --batch-size 256 --steps 40 | tee -a "$out/throughput.txt"
fi

# 2. The candidates side by side: a model this small leaves most of the GPU idle, so four runs
#    shared it in the first sessions. Each stops at the time limit with its learning rate
#    annealed and its best exported. A --restore-loss step does not share (the twenty-second
#    session: four runs made 1 step/s each, one alone 3.7), so RUNS (default 1) says how many
#    of the four below run, in their order.
pids=()
runs=${RUNS:-1}
first=${FIRST:-1}
listed=0
names=()
train() {
    local name=$1
    listed=$((listed + 1))
    [ "$listed" -lt "$first" ] && return
    [ "${#names[@]}" -ge "$runs" ] && return
    names+=("$name")
    shift
    local more=()
    [ "${RESUME:-0}" = 1 ] && more+=(--resume)
    # The timeout is a backstop: the run stops itself at the limit (plus start-up and a last save).
    timeout $(("${minutes%.*}" * 60 + 150)) "$python" -m denoisecli train "$photos" -o "runs/$name" \
        --time-limit "$minutes" --device "$device" --batch-size "${BATCH:-64}" --crop-size 128 --workers $((12 / runs)) --validation-every 500 --seed 0 --quiet \
        "${more[@]}" "$@" >"runs/$name.log" 2>&1 &
    pids+=($!)
}
# 2026-11-27 (H200): skip, skip --levels 4, noskip, shallow. Second session (H100): skip, w24,
# w24 + noise map, w32: width and the map tie skip (docs/RESULTS.md, "A second GPU session").
# Since then the shipped skip is the U-Net order with a residual head, trained on a CPU; the
# seventh session found the pool's crops mostly flat and fine-tuned it with texture-aware crops
# (--zoom-out 4 --min-texture 5) and the noisy A/B as extra inputs (--chroma-input), the default
# since the ninth. Next: that recipe on the GPU from scratch, the shipped weights trained on, and
# the two larger shapes. Score them on the CPU machine with the capped rule (docs/RESULTS.md).
# The seventeenth session's CPU try of --gray-crops 0.3 (a share of the crops made gray photos)
# gained 0.3-2.5 dB on BSD68's gray protocol for 0.03 on CBSD68: the init run takes it too, in
# place of a from-scratch run at the shipped shape (the first GPU sessions: it ties).
# The nineteenth session's default was trained through the restore step (--restore-loss 1, which
# takes the --init model's post steps): one CPU hour gained 0.1 dB on CBSD68. The two init runs
# compare it with the plain loss at GPU scale. The twentieth session's CPU hour with half the
# crops' noise left float (--unclipped-noise 0.5) gained 0.07 / 0.15 / 0.21 dB on the papers'
# float protocol and lost salt-and-pepper (-0.22 on validation) and clipped sigma 50 (-0.09);
# a quarter (35 minutes) gained 0.02 / 0.04 / 0.17, lost nothing clipped, and still lost
# salt-and-pepper (-0.16). The third init run asks whether GPU-scale training keeps the gain
# without that loss. It takes the place of --layers 3 (capacity tied in both GPU sessions).
# The twenty-second session (H200, BENCH=0): the shipped default fills impulses before its
# network (twenty-first session), so every --restore-loss run trains on filled crops. Four runs
# from the shipped weights through its post steps, two by two: float noise in a quarter of the
# crops or none, and the shipped noise mix or one with more Gaussian crops (the gap to FFDNet
# is Gaussian). The earlier candidates' answers are in docs/RESULTS.md.
# Of those, the one with more Gaussian crops (G) passed four of its five gates and missed the
# float protocol's +0.03 with 404 steps; 40 more CPU minutes of it went the wrong way on float
# noise (GC). The twenty-third session shipped the mean of G and a CPU fine-tune with float noise
# (S3, scripts/average_weights.py): each had failed alone. So the first run goes on from S3 (the
# shipped weights) with G's recipe and a third of the crops' noise float, as UF had; score it,
# and its mean with S3, on validation at sigma 0, 5 and 10 too (docs/RESULTS.md, rules S-S3).
# The twenty-fourth session (H200, BENCH=0, 7 minutes): with the fill on the GPU a --restore-loss
# step took 74 ms (13 steps/s; a plain one 16 ms), so that run made 5,541 steps and shipped (V:
# float AWGN +0.11 / +0.17 / +0.15 on CBSD68). A run with no float noise (GR) lost float AWGN on
# validation. So the first run goes on from V with the same recipe, the second (RUNS=2, or a
# second call) with half the crops' noise float; score each alone first (docs/RESULTS.md, rule V).
# The twenty-fifth session (H200, STEP0=0 BENCH=0): 8 more minutes from V (6,774 steps) and 4.5
# with half the noise float (X2) gained +0.07 and +0.09 on validation's float AWGN and X2 only
# +0.026 on CBSD68's (rule X failed): this network has about learnt what it can. So the first
# two runs add capacity without starting over: V widened (train --init grows it, the new
# channels weighted zero out, the same function to start with) to growth 2.5 (16-40-100-250
# channels, 2.9x the weights, 0.320x NLM's CPU time against V's 0.277x in one interleaved run)
# and to width 20 (20-40-80-160, 1.6x, 0.314x), V's recipe otherwise. Two side by side
# (RUNS=2) is untried with --restore-loss since the fill moved to the GPU; score each alone first.
# The thirtieth session (no GPU) cut V to growth 1.5 (16-24-36-54 channels, 0.71x V's network
# time; scripts/narrow_model.py keeps the channels the next layers read most) and trained it one
# CPU hour with V's recipe (docs/RESULTS.md, rule N). The narrow run does that at GPU scale:
# less arithmetic is the one speed lever left on an AVX2 CPU (docs/RESULTS.md, "The two targets
# against the peer's cost"). Its start is cut here from the shipped weights (a few seconds).
mix=(--model skip --skip-order after --head residual --zoom-out 4 --min-texture 5 --chroma-input)
init=(--init weights/skip.safetensors --lr 2e-4 --gray-crops 0.3 --restore-loss 1)
narrow=(--init runs/narrow-g15-init.safetensors --lr 3e-4 --gray-crops 0.3 --restore-loss 1 --growth 1.5)
"$python" scripts/narrow_model.py weights/skip.safetensors --growth 1.5 --photos "$photos" -o runs/narrow-g15-init.safetensors
train gpu-wide-g25 "${mix[@]}" "${init[@]}" --noise-mix 1,5,2,1,2 --unclipped-noise 0.35 --growth 2.5
train gpu-wide-w20 "${mix[@]}" "${init[@]}" --noise-mix 1,5,2,1,2 --unclipped-noise 0.35 --width 20
train gpu-narrow-g15 "${mix[@]}" "${narrow[@]}" --noise-mix 1,5,2,1,2 --unclipped-noise 0.35
train gpu-gauss-float "${mix[@]}" "${init[@]}" --noise-mix 1,5,2,1,2 --unclipped-noise 0.35
train gpu-gauss-float-half "${mix[@]}" "${init[@]}" --noise-mix 1,5,2,1,2 --unclipped-noise 0.5
train gpu-restore "${mix[@]}" "${init[@]}" --noise-mix 1,3,2,1,2
train gpu-restore-unclipped "${mix[@]}" "${init[@]}" --noise-mix 1,3,2,1,2 --unclipped-noise 0.25
train gpu-restore-gauss "${mix[@]}" "${init[@]}" --noise-mix 1,5,2,1,2
wait "${pids[@]}"  # not a bare wait: that would also wait for the tee above, forever
for name in "${names[@]}"; do echo "== $name"; tail -n 3 "runs/$name.log"; tail -n 1 "runs/$name/metrics.jsonl"; done
# Bring the runs back first: what follows is only benchmarks.
# In 15 MiB parts (the device tool brings back files of 16 MiB at most): cat runs.tar.gz.* | tar xz
tar czf - --exclude='best.pt' "${names[@]/#/runs/}" runs/*.log | split -b 15M - "$out/runs.tar.gz."

# 3. Compiled training throughput and denoising speed (after training, so nothing shares the GPU).
[ "$bench" = 1 ] || { ls -la "$out"; exit 0; }
timeout 150 "$python" benchmarks/train_throughput.py --device "$device" --steps "$steps" --compile --variants skip \
    | tee -a "$out/throughput.txt"
timeout 120 "$python" benchmarks/denoise_speed.py "$photos" --limit 8 --threads 4 --cuda-only \
    | tee "$out/denoise_speed.txt"
ls -la "$out"
