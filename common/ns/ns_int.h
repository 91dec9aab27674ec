/* Shared by the files of the ns module, not part of its interface: builder.c makes the
 * namespace, pin.c runs the builder in a child and pins what it made, enter.c enters it and
 * resizes a tmpfs inside it. */
#ifndef ISO_NS_INT_H
#define ISO_NS_INT_H

#include "util/util.h"
#include "ns/ns.h"

/* Exit status of a builder whose pin was refused as a namespace loop (see nsjob_build). */
#define PIN_LOOP 3

/* In the calling process: unshare a mount namespace and build R's plan in it (builder.c). */
int ns_build_here(const struct ns_request *r, struct err *e);

/* Run FN in a child process (single-threaded, so setns is allowed; it shares the caller's memory
 * while the caller waits) and carry its message back. Returns 0, -PIN_LOOP if FN returned
 * -PIN_LOOP, or -1 (pin.c). */
int ns_run_in_child(int (*fn)(const void *, struct err *), const void *arg, struct err *e);

#endif
