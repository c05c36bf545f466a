#!/bin/bash
# t_soak: a short fault soak (tests/soak.sh) as part of `make check`: three
# nodes for 60 s under random faults (sshd killed, frozen, its remote port
# squatted, its link partitioned; Ollama slow, failing, returning garbage)
# with every stream through every forward checked.  Where partitions can
# be made (root, unshare, iptables: the soak then runs in a network
# namespace of its own) the first fault is one.  Fails on a corrupt or
# silently truncated stream, a tunneld crash, fd growth, or a fault tunneld
# does not heal from.  The seed is printed; TD_SOAK_SEED replays a run and
# TD_SOAK_DURATION (seconds) lengthens it.
here=$(cd "$(dirname "$0")" && pwd)
args=(--duration "${TD_SOAK_DURATION:-60}" --nodes 3 --clients 1)
[ -z "${TD_SOAK_SEED:-}" ] || args+=(--seed "$TD_SOAK_SEED")
# --partition auto (the default): left out, and said so, where impossible.
args+=(--first partition)
exec bash "${top_srcdir:-$here/..}/tests/soak.sh" "${args[@]}"
