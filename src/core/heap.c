#include "heap.h"

#include <stdlib.h>

#include "common.h"

void heap_init(struct heap *h, size_t slot_off)
{
    h->a = NULL;
    h->n = h->cap = 0;
    h->slot_off = slot_off;
}

void heap_deinit(struct heap *h)
{
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

void heap_grow(struct heap *h)
{
    h->cap = h->cap ? h->cap * 2 : 16;
    h->a = xrealloc(h->a, h->cap * sizeof(*h->a));
}
