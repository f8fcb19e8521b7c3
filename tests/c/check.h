/* The small harness the C tests share: CHECK counts and reports failures;
 * frand gives reproducible uniform floats. */
#ifndef DAGNET_TEST_CHECK_H
#define DAGNET_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>

static int failures = 0;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                       \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
        }                                                                     \
    } while (0)

static uint32_t lcg = 2463534242u;

/* uniform in [lo, hi) */
static inline float frand(float lo, float hi)
{
    lcg = lcg * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)((lcg >> 8) * (1.0 / 16777216.0));
}

#endif
