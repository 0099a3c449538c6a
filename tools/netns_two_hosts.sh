#!/bin/bash
# Two "machines" on this one: network namespaces h1 and h2 joined by a veth pair
# (10.99.0.1 and 10.99.0.2), Open MPI started in h1 with a hostfile naming both addresses,
# and its remote launcher replaced by `ip netns exec h2` instead of ssh. A tiny pix2pix
# training runs with one rank per namespace, the ranks talking TCP over the veth link only,
# and its checkpoint is compared with the same job's two ranks on one host (loopback).
# Needs root (ip netns) and Open MPI.
# Usage: tools/netns_two_hosts.sh DATAROOT [translate binary] [work dir]   (DATAROOT: aligned
# [A|B] pairs in DATAROOT/train; the first 6 are used)
set -euo pipefail
DATA=$(readlink -f "${1:?usage: $0 DATAROOT [translate binary] [work dir]}")
BIN=$(readlink -f "${2:-.build/release/translate}")
WORK=$(readlink -f "${3:-/tmp/translate-netns}")
rm -rf "$WORK"; mkdir -p "$WORK"
cleanup() { ip netns del tr_h1 2>/dev/null || true; ip netns del tr_h2 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add tr_h1; ip netns add tr_h2
ip link add tr_veth1 type veth peer name tr_veth2
ip link set tr_veth1 netns tr_h1; ip link set tr_veth2 netns tr_h2
ip -n tr_h1 addr add 10.99.0.1/24 dev tr_veth1; ip -n tr_h2 addr add 10.99.0.2/24 dev tr_veth2
for n in tr_h1 tr_h2; do ip -n $n link set lo up; done
ip -n tr_h1 link set tr_veth1 up; ip -n tr_h2 link set tr_veth2 up
# The launcher Open MPI calls as `agent HOST COMMAND...` (in place of ssh).
cat > "$WORK/agent.sh" <<'AGENT'
#!/bin/bash
host=$1; shift
case $host in 10.99.0.2) ns=tr_h2 ;; *) ns=tr_h1 ;; esac
exec ip netns exec $ns /bin/sh -c "$*"
AGENT
chmod +x "$WORK/agent.sh"
printf '10.99.0.1 slots=1\n10.99.0.2 slots=1\n' > "$WORK/hostfile"
ARGS=(train pix2pix --dataroot "$DATA" --max-items 6 --checkpoints-dir "$WORK/runs" --net-g unet-32 --ngf 4 --ndf 4
      --load-size 36 --crop-size 32 --norm instance --no-dropout --epochs 2 --epochs-decay 0 --seed 3 --samples 1 --quiet --threads 1)
MPI=(mpirun --allow-run-as-root --mca btl tcp,self --mca pml ob1 -x TRANSLATE_NO_BLAS_CORETYPE=1)
echo "== two hosts (tr_h1, tr_h2 over the veth link)"
ip netns exec tr_h1 "${MPI[@]}" --hostfile "$WORK/hostfile" -np 2 --mca plm_rsh_agent "$WORK/agent.sh" \
    --mca btl_tcp_if_include 10.99.0.0/24 --mca oob_tcp_if_include 10.99.0.0/24 \
    "$BIN" "${ARGS[@]}" --name hosts --check-replicas
echo "== one host (loopback)"
"${MPI[@]}" --oversubscribe -np 2 --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo "$BIN" "${ARGS[@]}" --name local
# The tensors (not the metadata, which holds the run's name) of the two checkpoints.
python3 - "$WORK/runs/hosts/latest.safetensors" "$WORK/runs/local/latest.safetensors" <<'PY'
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n]); head.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in head.items()}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
differ = [k for k in a if a[k] != b.get(k)]
if differ or a.keys() != b.keys():
    sys.exit(f"the two-host and one-host runs differ in {len(differ)} of {len(a)} tensors, e.g. {differ[:3]}")
print(f"same bits: all {len(a)} tensors of the two-host run equal the one-host run's")
PY
