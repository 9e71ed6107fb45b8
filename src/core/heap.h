/* heap.h - an intrusive binary min-heap of pointers.
 *
 * Orders the deadlines of leases, delays and ack waits (lock, queue, bus) and
 * the ready jobs and entries of queues and subscriptions. Elements are the
 * caller's structs; each holds a size_t field where the heap keeps the
 * element's slot, so that an element can be removed or re-placed after its key
 * changed in O(log n) without a search. The heap owns only its slot array,
 * never the elements; an element is in at most one heap through one slot field.
 *
 * The order is a `before` function, like qsort's compare, passed on every call
 * rather than stored: the operations are static inline, so each call site
 * compiles to a direct, inlined comparison with no indirect call per step.
 * Every call on one heap must pass the same function.
 *
 * Not thread-safe; not stable: elements that compare equal come out in no
 * particular order, so callers that care break ties in `before` (a sequence
 * number, a position). */
#ifndef TINCAN_HEAP_H
#define TINCAN_HEAP_H

#include <stddef.h>

/* 1 if a must come out of the heap before b, else 0. A strict weak order. */
typedef int (*heap_before_fn)(const void *a, const void *b);

struct heap {
    void **a;        /* slots, a[0] first out; owned */
    size_t n;        /* slots used (elements) */
    size_t cap;      /* slots allocated */
    size_t slot_off; /* offsetof the elements' size_t slot field */
};

/* An empty heap whose elements keep their slot in the size_t at byte offset
 * slot_off (offsetof(struct x, heap_idx)). Allocates nothing. */
void heap_init(struct heap *h, size_t slot_off);
/* Frees the slot array (not the elements); h is empty afterwards. */
void heap_deinit(struct heap *h);
/* Doubles the slot array (aborts on OOM); heap_push's slow path. */
void heap_grow(struct heap *h);

/* The element that comes out first, or NULL if h is empty. */
static inline void *heap_first(const struct heap *h)
{
    return h->n ? h->a[0] : NULL;
}

static inline size_t heap_count(const struct heap *h)
{
    return h->n;
}

/* The element in slot i < heap_count(h), for walks over every element (in no
 * particular order) or best-first walks (slot i's children are 2i+1, 2i+2). */
static inline void *heap_at(const struct heap *h, size_t i)
{
    return h->a[i];
}

static inline size_t *heap_slot_(const struct heap *h, void *e)
{
    return (size_t *)((char *)e + h->slot_off);
}

static inline void heap_set_(struct heap *h, size_t i, void *e)
{
    h->a[i] = e;
    *heap_slot_(h, e) = i;
}

static inline void heap_up_(struct heap *h, size_t i, heap_before_fn before)
{
    void *e = h->a[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(e, h->a[p]))
            break;
        heap_set_(h, i, h->a[p]);
        i = p;
    }
    heap_set_(h, i, e);
}

static inline void heap_down_(struct heap *h, size_t i, heap_before_fn before)
{
    void *e = h->a[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(h->a[c + 1], h->a[c]))
            c++;
        if (!before(h->a[c], e))
            break;
        heap_set_(h, i, h->a[c]);
        i = c;
    }
    heap_set_(h, i, e);
}

/* Adds e (not in h). Grows the slot array (aborts on OOM). */
static inline void heap_push(struct heap *h, void *e, heap_before_fn before)
{
    if (h->n == h->cap)
        heap_grow(h);
    heap_set_(h, h->n++, e);
    heap_up_(h, h->n - 1, before);
}

/* Takes e (in h) out. */
static inline void heap_remove(struct heap *h, void *e, heap_before_fn before)
{
    size_t i = *heap_slot_(h, e);
    void *last = h->a[--h->n];
    if (i == h->n)
        return;
    heap_set_(h, i, last);
    heap_up_(h, i, before);
    heap_down_(h, *heap_slot_(h, last), before);
}

/* Moves e (in h) to its place after its key changed either way. */
static inline void heap_fix(struct heap *h, void *e, heap_before_fn before)
{
    heap_up_(h, *heap_slot_(h, e), before);
    heap_down_(h, *heap_slot_(h, e), before);
}

#endif
