#!/usr/bin/env bash
# Runs the GPU benchmark table on this host's GPUs and prints it as one
# Markdown table headed by the machine (GPU name, driver, NCCL): issue 4's
# cases (TP2 -> TP2 with Qwen2.5-7B shapes and with 3,000+ small tensors,
# TP2 -> TP4 colocated) and issue 8's scenarios, scaled to 4 GPUs or at their
# full 8-GPU width. Each row is one bench/gpu_sync_bench run (a fresh
# coordinator and agents, the first sync checked byte for byte), timed against
# a flat ncclBroadcast in the same run; its whole output goes to LOG_DIR.
# Issue 4's tp2_tp2 rows also time, in the same run, a per-tensor
# torch.distributed.broadcast loop (--torch_baseline=bench/torch_broadcast_baseline.py;
# needs python3 with torch): those lines are printed under the table.
#
#   bench/run_gpu_table.sh [--gpus=4|8] [--log_dir=DIR] [gpu_sync_bench flags...]
#
# --gpus defaults to the number of GPUs nvidia-smi lists (4 or 8 accepted).
# Binaries come from $PARAMSYNC_BIN_DIR (default out/ship, as built by
# scripts/build_ship.sh and unpacked there). Each run is limited to
# $ROW_TIMEOUT_S seconds (default 1800) so that none waits forever.
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0  # NVLink multicast stays off on these machines.
export PARAMSYNC_BIN_DIR=${PARAMSYNC_BIN_DIR:-$PWD/out/ship}
bench="$PARAMSYNC_BIN_DIR/bench/gpu_sync_bench"
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | wc -l)
log_dir=out/gpu_table
extra=()
for arg in "$@"; do
  case "$arg" in
    --gpus=*) gpus=${arg#--gpus=} ;;
    --log_dir=*) log_dir=${arg#--log_dir=} ;;
    *) extra+=("$arg") ;;
  esac
done
if [ ! -x "$bench" ]; then
  echo "no $bench: run scripts/build_ship.sh and unpack out/ship.tar.xz (see tests/gpu/README.md)" >&2
  exit 2
fi

# preset scenario strategy [regroup]
issue4_rows=(
  "qwen2.5-7b tp2_tp2 chatlearn"
  "moe-small-tensors tp2_tp2 chatlearn"
  "qwen2.5-7b tp2_tp4 chatlearn"
)
case "$gpus" in
  4) issue8_rows=(
       "qwen2.5-7b tp2_2xtp1 direct"
       "qwen2.5-7b tp1pp2dp2_2xtp2 chatlearn"
       "moe-hep-medium hep_tp2ep2_tp4 chatlearn alltoall"
       "moe-hep-medium hep_tp2ep2_tp4 chatlearn allgather"
     ) ;;
  8) issue8_rows=(
       "qwen2.5-7b tp4_2xtp2 direct"
       "qwen2.5-7b tp2pp2dp2_2xtp4 chatlearn"
       "qwen3-30b-a3b hep_ep4tp2_tp8 chatlearn alltoall"
       "qwen3-30b-a3b hep_ep4tp2_tp8 chatlearn allgather"
     ) ;;
  *) echo "--gpus is '$gpus'; accepted: 4, 8 (nvidia-smi lists $gpus GPUs here)" >&2; exit 2 ;;
esac

mkdir -p "$log_dir"
rows=()
torch_lines=()
nccl=unknown
for row in "${issue4_rows[@]}" "${issue8_rows[@]}"; do
  read -r preset scenario strategy regroup <<<"$row"
  log="$log_dir/${scenario}-${preset}-${strategy}${regroup:+-$regroup}.log"
  torch=()
  if [ "$scenario" = tp2_tp2 ] && printf '%s\n' "${issue4_rows[@]}" | grep -qxF "$row"; then
    torch=(--torch_baseline=bench/torch_broadcast_baseline.py)
  fi
  echo "running $scenario ($preset, $strategy${regroup:+, $regroup}); log: $log" >&2
  timeout "${ROW_TIMEOUT_S:-1800}" "$bench" --preset="$preset" --scenario="$scenario" \
    --strategy="$strategy" ${regroup:+--regroup="$regroup"} "${torch[@]}" "${extra[@]}" \
    >"$log" 2>&1
  rc=$?
  if [ ${#torch[@]} -gt 0 ]; then
    found=$(grep -E '^(per-tensor torch\.distributed\.broadcast loop|paramsync Sync speed-up over)' "$log")
    [ -n "$found" ] || found="no torch baseline line (exit $rc); see $log"
    while IFS= read -r line; do torch_lines+=("$scenario $preset: $line"); done <<<"$found"
  fi
  found=$(sed -n 's/^NCCL \([0-9.]*\);.*/\1/p' "$log" | head -1)
  [ -n "$found" ] && nccl=$found
  line=$(grep -P '^row\t' "$log" | tail -1)
  if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
    rows+=("| $(cut -f2- <<<"$line" | sed 's/\t/ | /g') |")
  else
    rows+=("| $scenario | $preset | $strategy | failed (exit $rc): $(tail -1 "$log" | cut -c1-120) | | | | | |")
  fi
done

gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
echo
echo "$(date +%F), $gpus x $gpu_name (of $(nvidia-smi -L | wc -l) listed), driver $driver, NCCL $nccl (as loaded by gpu_sync_bench)"
echo
echo "| scenario | preset | strategy | bytes written | bytes between ranks | 1st sync ms | Sync ms (median) | flat broadcast ms (pairs x shard) | ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ ${#torch_lines[@]} -gt 0 ]; then
  echo
  echo "Per-tensor torch.distributed.broadcast loop, same runs (ms, GB/s/pair, ratio to the flat broadcast):"
  echo
  printf '    %s\n' "${torch_lines[@]}"
fi
