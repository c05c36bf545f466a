/*
 * msgid: the journal MESSAGE_ID and syslog priority of every alert kind.
 *
 * Each alert is one journal entry with TUNNELD_EVENT = the kind below and
 * MESSAGE_ID = its id, so that `journalctl -x` shows the explanation and
 * remedy kept in units/tunneld.catalog.  The ids here and the "-- ID" lines
 * of the catalog must stay equal: change both or neither, and never reuse
 * an id for another meaning (old journals keep the old ones).  A new kind
 * gets a fresh id from `systemd-id128 new`.
 *
 * Fields.  Every alert carries MESSAGE, MESSAGE_ID, PRIORITY, TUNNELD_EVENT,
 * TUNNELD_REASON (one line, the same reason as the state transition) and
 * TUNNELD_NODE (all-nodes-down: none).  The catalog text names the fields
 * below, and journalctl prints a field an entry lacks as its bare name, so
 * each kind must carry its own:
 *
 *   node-down                  TUNNELD_SSH_TARGET
 *   node-recovered             TUNNELD_SSH_TARGET TUNNELD_DURATION
 *   host-key-mismatch          TUNNELD_SSH_TARGET TUNNELD_SSH_HOST TUNNELD_SSH_PORT
 *                              TUNNELD_HOST_KEY TUNNELD_KNOWN_HOSTS_FILE
 *                              TUNNELD_KNOWN_HOSTS_NAME
 *   host-key-mismatch-cleared  TUNNELD_SSH_TARGET TUNNELD_HOST_KEY
 *                              TUNNELD_KNOWN_HOSTS_FILE TUNNELD_DURATION
 *   remote-port-in-use         TUNNELD_SSH_TARGET TUNNELD_LISTEN TUNNELD_PORT
 *   remote-port-in-use-cleared TUNNELD_SSH_TARGET TUNNELD_LISTEN TUNNELD_DURATION
 *   ollama-unreachable         TUNNELD_OLLAMA_URL
 *   ollama-unreachable-cleared TUNNELD_OLLAMA_URL TUNNELD_DURATION
 *   ollama-slow                TUNNELD_OLLAMA_URL TUNNELD_LATENCY_MS TUNNELD_THRESHOLD
 *   ollama-slow-cleared        the same + TUNNELD_DURATION
 *   model-missing              TUNNELD_OLLAMA_URL TUNNELD_MODELS
 *   model-missing-cleared      TUNNELD_OLLAMA_URL TUNNELD_MODELS TUNNELD_DURATION
 *   gpu-hot                    TUNNELD_GPU TUNNELD_GPU_TEMP_C TUNNELD_THRESHOLD
 *   gpu-hot-cleared            the same + TUNNELD_DURATION
 *   gpu-memory-high            TUNNELD_GPU TUNNELD_GPU_MEM_PCT TUNNELD_GPU_MEM_USED_MIB
 *                              TUNNELD_GPU_MEM_TOTAL_MIB TUNNELD_THRESHOLD
 *   gpu-memory-high-cleared    the same + TUNNELD_DURATION
 *   all-nodes-down             TUNNELD_NODES (no TUNNELD_NODE)
 *   all-nodes-down-cleared     TUNNELD_NODE (the first node back) TUNNELD_DURATION
 *   host-key-unrecorded        TUNNELD_SSH_TARGET TUNNELD_HOST_KEY
 *                              TUNNELD_KNOWN_HOSTS_FILE ERRNO
 *   host-key-unrecorded-cleared TUNNELD_SSH_TARGET TUNNELD_HOST_KEY
 *                              TUNNELD_KNOWN_HOSTS_FILE TUNNELD_DURATION
 *
 * Repeats and flapping (supervisor/alert_engine.h: the rules and the bound):
 *   a condition still true after [alerts] repeat_after is logged again with
 *   the kind's own MESSAGE_ID plus TUNNELD_REPEAT=1 and TUNNELD_DURATION (so
 *   far); a condition that keeps beginning and ending is logged as flapping,
 *   the kind's MESSAGE_ID plus TUNNELD_FLAPPING (changes counted since the
 *   previous entry), at most once per repeat_after.
 *
 * Values:
 *   TUNNELD_SSH_TARGET         the node's `ssh =` as written ("root@209.170.80.132:13323")
 *   TUNNELD_SSH_HOST, _PORT    host and port actually dialled (after ssh_config)
 *   TUNNELD_HOST_KEY           key type and fingerprint as `ssh-keygen -l` prints
 *                              them ("ssh-ed25519 SHA256:...")
 *   TUNNELD_KNOWN_HOSTS_FILE   the known_hosts path in use
 *   TUNNELD_KNOWN_HOSTS_NAME   the host as known_hosts names it: "host" for port
 *                              22, "[host]:port" otherwise
 *   TUNNELD_LISTEN, _PORT      the forward's listen address ("127.0.0.1:11436") and port
 *   TUNNELD_LATENCY_MS         the probe's round trip in ms
 *   TUNNELD_THRESHOLD          the [alerts] limit, plain number in the unit of the
 *                              measured field: ms, degrees C or percent
 *   TUNNELD_GPU                GPU index as nvidia-smi numbers it (0 for tegrastats)
 *   TUNNELD_GPU_*              integers: degrees C, percent, MiB
 *   TUNNELD_MODELS, _NODES     space-separated names
 *   ERRNO                      journald's own field: the errno(3) number of
 *                              the failed write, in decimal
 *   TUNNELD_DURATION           how long the condition lasted (the node was down),
 *                              in the config's syntax: "45s", "2m13s", "1h4m"
 */
#ifndef TUNNELD_MSGID_H
#define TUNNELD_MSGID_H

#include <stddef.h>
#include <string.h>
#include <syslog.h>

#define MSGID_NODE_DOWN                  "04d7737990064a899bb8301acb295b2d"
#define MSGID_NODE_RECOVERED             "36421d37cd0f44e9b013cd4dab5d74de"
#define MSGID_HOST_KEY_MISMATCH          "b0e42ee6233b4d3da207bfde175fa070"
#define MSGID_HOST_KEY_MISMATCH_CLEARED  "d561808cc6644f66800b9a46289ae568"
#define MSGID_REMOTE_PORT_IN_USE         "9cea1e3491d44353b76a11e5e1452841"
#define MSGID_REMOTE_PORT_IN_USE_CLEARED "99844f51a3884ae9a935e5f659be3414"
#define MSGID_OLLAMA_UNREACHABLE         "859711d2181a4f3b922f39a47f1cc654"
#define MSGID_OLLAMA_UNREACHABLE_CLEARED "30e0831ce8314e2388ec7720220f08ba"
#define MSGID_OLLAMA_SLOW                "038dc395e11b4ecbba78bf46605c5fc6"
#define MSGID_OLLAMA_SLOW_CLEARED        "ed81ec04a1a04772918461b9a2a4f60e"
#define MSGID_MODEL_MISSING              "eaacbf935abf437aaa91f8e0efca5b0a"
#define MSGID_MODEL_MISSING_CLEARED      "ef0f65a9e4b04ef2a16898a901cb5534"
#define MSGID_GPU_HOT                    "bba505f71b544bc0b06b0def4c05e161"
#define MSGID_GPU_HOT_CLEARED            "d806ebef8a4c4db9828fb9bea7ad9317"
#define MSGID_GPU_MEMORY_HIGH            "cba356db041b4cf4aa63faa11914eaf2"
#define MSGID_GPU_MEMORY_HIGH_CLEARED    "72aedb10a4d847a189999a162410c90b"
#define MSGID_ALL_NODES_DOWN             "0de9e55e690348a38ca6b8e28edffc03"
#define MSGID_ALL_NODES_DOWN_CLEARED     "6223962c645a4e98808765e6cf3aaf23"
#define MSGID_HOST_KEY_UNRECORDED        "17307a11857a47b8b8018eb4f7f3f141"
#define MSGID_HOST_KEY_UNRECORDED_CLEARED "4f0fc8e211754ad2a05743c3b0fe6d42"

struct alert_kind_def {
	const char	*event;		/* TUNNELD_EVENT */
	const char	*msgid;		/* MESSAGE_ID: 32 lowercase hex digits */
	int		 priority;	/* PRIORITY: LOG_CRIT ... LOG_NOTICE */
};

static const struct alert_kind_def alert_kinds[] = {
	{ "node-down",                  MSGID_NODE_DOWN,                   LOG_ERR },
	{ "node-recovered",             MSGID_NODE_RECOVERED,              LOG_NOTICE },
	{ "host-key-mismatch",          MSGID_HOST_KEY_MISMATCH,           LOG_ERR },
	{ "host-key-mismatch-cleared",  MSGID_HOST_KEY_MISMATCH_CLEARED,   LOG_NOTICE },
	{ "remote-port-in-use",         MSGID_REMOTE_PORT_IN_USE,          LOG_WARNING },
	{ "remote-port-in-use-cleared", MSGID_REMOTE_PORT_IN_USE_CLEARED,  LOG_NOTICE },
	{ "ollama-unreachable",         MSGID_OLLAMA_UNREACHABLE,          LOG_ERR },
	{ "ollama-unreachable-cleared", MSGID_OLLAMA_UNREACHABLE_CLEARED,  LOG_NOTICE },
	{ "ollama-slow",                MSGID_OLLAMA_SLOW,                 LOG_WARNING },
	{ "ollama-slow-cleared",        MSGID_OLLAMA_SLOW_CLEARED,         LOG_NOTICE },
	{ "model-missing",              MSGID_MODEL_MISSING,               LOG_WARNING },
	{ "model-missing-cleared",      MSGID_MODEL_MISSING_CLEARED,       LOG_NOTICE },
	{ "gpu-hot",                    MSGID_GPU_HOT,                     LOG_WARNING },
	{ "gpu-hot-cleared",            MSGID_GPU_HOT_CLEARED,             LOG_NOTICE },
	{ "gpu-memory-high",            MSGID_GPU_MEMORY_HIGH,             LOG_WARNING },
	{ "gpu-memory-high-cleared",    MSGID_GPU_MEMORY_HIGH_CLEARED,     LOG_NOTICE },
	{ "all-nodes-down",             MSGID_ALL_NODES_DOWN,              LOG_CRIT },
	{ "all-nodes-down-cleared",     MSGID_ALL_NODES_DOWN_CLEARED,      LOG_NOTICE },
	{ "host-key-unrecorded",        MSGID_HOST_KEY_UNRECORDED,         LOG_ERR },
	{ "host-key-unrecorded-cleared", MSGID_HOST_KEY_UNRECORDED_CLEARED, LOG_NOTICE },
};

#define ALERT_KINDS_N	(sizeof(alert_kinds) / sizeof(alert_kinds[0]))

/* The definition of EVENT ("gpu-hot"), or NULL for an unknown kind. */
static inline const struct alert_kind_def *
alert_kind_find(const char *event)
{
	for (size_t i = 0; i < ALERT_KINDS_N; i++)
		if (strcmp(alert_kinds[i].event, event) == 0)
			return &alert_kinds[i];
	return NULL;
}

#endif
