/*
 * alert: the daemon's alerts, from the live nodes.
 *
 * This layer looks at the nodes (their state, the values session.c
 * recorded for a failure, forwards, probe results), turns them into
 * conditions with their measured values, and hands them to the engine
 * (alert_engine.h: hysteresis, repeats, flapping, on the monotonic clock).
 * What the engine decides leaves only through the sink installed with
 * alert_set_sink(): the daemon's, tunneld_alert_sink(), writes the journal
 * (MESSAGE_ID from msgid.h) and tells `tunnelctl watch`.
 */
#ifndef TUNNELD_ALERT_H
#define TUNNELD_ALERT_H

#include "alert_engine.h"

/*
 * alert_node: after every node_set_state (state change or new reason):
 * node down / recovered, host key, remote ports; all nodes down on a
 * TRANSITION (and every tick).
 * alert_probe_result: after each probe round of a node.  alert_tick: once
 * a second.  All are cheap when nothing changed.
 */
struct node;
void		 alert_node(struct node *, int transition);
void		 alert_probe_result(struct node *);
void		 alert_tick(void);
/* Where every entry goes; none installed: entries are dropped. */
void		 alert_set_sink(alert_sink, void *arg);

#endif
