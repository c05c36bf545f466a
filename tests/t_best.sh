#!/usr/bin/env bash
# `tunnelctl best` with no pool chooses among every node, however many: 71
# nodes with no [pool], the best ones past the 64th (a pool's bound, which
# best used to apply to the whole cluster, in the file's order).
#   - best: the lowest priority value among nodes that are up (n70);
#   - best --model: the lowest among those whose Ollama lists the model (n69);
#   - a model no node has: exit 1.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup
command -v jq >/dev/null || td_skip "no jq (apt-get install jq)"

# Two Ollama stand-ins: "none" lists no model, "some" lists the fixture's.
mkdir -p "$T/fx-none" "$T/fx-some"
cp "$TD_FIXTURES"/ollama-*.json "$T/fx-none/"
cp "$TD_FIXTURES/ollama-tags-empty.json" "$T/fx-none/ollama-tags.json"
cp "$TD_FIXTURES"/ollama-*.json "$T/fx-some/"
ollama_start none "$T/fx-none"
NONE=$OLLAMA_PORT
ollama_start some "$T/fx-some"
SOME=$OLLAMA_PORT

{
	tunneld_conf_head probe_interval=2s
	for ((i = 0; i <= 70; i++)); do
		prio=100 port=$NONE
		case $i in
		5) prio=2 ;;
		69) prio=3 port=$SOME ;;
		70) prio=1 ;;
		esac
		printf '[node n%d]\nssh = none\nollama = http://127.0.0.1:%s\ngpu = none\npriority = %d\n\n' \
		    "$i" "$port" "$prio"
	done
} >"$T/tunneld.conf"
tunneld_start "$T/tunneld.conf"

# Every node up, and n69's models known.
ready() {
	ctl --json status 2>/dev/null | td_jq '
	    ([.nodes[] | select(.state == "up")] | length) == 71 and
	    (.nodes[] | select(.name == "n69") | .ollama.models_total > 0)' >/dev/null
}
td_wait 60 ready || td_fail "71 nodes not all up with n69's models: $(ctl status | tail -n 3)"

best_node() { ctl --json best "$@" | jq -r .node; }
got=$(best_node) || td_fail "best: exit $?"
[ "$got" = n70 ] || td_fail "best chose '$got', want n70 (priority 1, the 71st node)"
got=$(best_node --model qwen2.5:7b) || td_fail "best --model qwen2.5:7b: exit $?"
[ "$got" = n69 ] || td_fail "best --model qwen2.5:7b chose '$got', want n69 (the only node with it)"
rc=0; ctl best --model no-such:model >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || td_fail "best for a model nobody has: exit $rc, want 1"
td_ok "best over 71 nodes: n70; with --model qwen2.5:7b: n69; an absent model: exit 1"
