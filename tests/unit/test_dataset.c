/* unit_dataset: dataset_gather turns every pixel value into the float torchvision makes of it
 * (ToTensor, then Normalize((0.1307,), (0.3081,)); tests/ref/pixels_ref.txt, written by
 * tests/make_reference.py), bit for bit, and takes the rows and labels the order names;
 * dataset_order is a permutation that depends on (seed, epoch) only; dataset_split hands each
 * sample of a batch to exactly one rank. Run with MPITRAIN_GENERIC=1 as well (the plain C
 * conversion instead of the AVX2 one). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu.h"
#include "dataset.h"
#include "refparse.h"

#define N_IMAGES 300

/* torchvision's float of each pixel value: [0] ToTensor, [1] then Normalize */
static float torch_pixel[2][256];

static int read_pixels_ref(void)
{
    RefFile r;
    if (!CHECK_MSG(ref_open(&r, "pixels_ref.txt") == 0, "cannot open pixels_ref.txt"))
        return 0;
    int seen[2] = {0, 0}, rc;
    while ((rc = ref_next(&r)) == 1) {
        int which = ref_is(&r, 0, "to_tensor") ? 0 : ref_is(&r, 0, "normalized") ? 1 : -1;
        if (!CHECK_MSG(which >= 0, "%s:%d: unknown keyword '%s'", r.path, r.lineno, r.tok[0]))
            continue;
        seen[which] = CHECK_MSG(r.n_tok == 257 && ref_floats(&r, 1, torch_pixel[which], 256) == 256,
                                "%s:%d: expected 256 values", r.path, r.lineno);
    }
    ref_close(&r);
    return CHECK_MSG(rc == 0 && seen[0] && seen[1], "pixels_ref.txt: a line is missing");
}

/* pixel k of image i */
static uint8_t pixel(int i, int k) { return (uint8_t)((i * 7 + k * 13) % 256); }

static void test_gather(void)
{
    static uint8_t images[N_IMAGES * DATASET_PIXELS], labels[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) {
        for (int k = 0; k < DATASET_PIXELS; k++)
            images[(size_t)i * DATASET_PIXELS + k] = pixel(i, k);
        labels[i] = (uint8_t)(i % DATASET_CLASSES);
    }
    Dataset d;
    memset(&d, 0, sizeof d);
    d.n[SPLIT_TRAIN] = d.n[SPLIT_TEST] = N_IMAGES;
    d.images[SPLIT_TRAIN] = d.images[SPLIT_TEST] = images;
    d.labels[SPLIT_TRAIN] = d.labels[SPLIT_TEST] = labels;

    uint32_t order[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++)
        order[i] = (uint32_t)((i * 101 + 17) % N_IMAGES); /* 101 is prime to 300: a permutation */
    const int first = 5, n = 257;
    float *x = malloc((size_t)n * DATASET_PIXELS * sizeof *x);
    uint8_t y[N_IMAGES];
    if (!CHECK(x != NULL))
        return;
    for (int normalize = 0; normalize < 2; normalize++)
        for (int ordered = 0; ordered < 2; ordered++) {
            memset(y, 0xff, sizeof y);
            dataset_gather(&d, SPLIT_TRAIN, ordered ? order : NULL, first, n, normalize, x, y);
            long bad = 0, bad_labels = 0;
            int seen[256] = {0};
            for (int r = 0; r < n; r++) {
                int img = ordered ? (int)order[first + r] : first + r;
                bad_labels += y[r] != labels[img];
                for (int k = 0; k < DATASET_PIXELS; k++) {
                    const uint8_t p = pixel(img, k);
                    const float want = torch_pixel[normalize][p];
                    float got = x[(size_t)r * DATASET_PIXELS + k];
                    bad += memcmp(&got, &want, sizeof got) != 0;
                    seen[p] = 1;
                }
            }
            int values = 0;
            for (int p = 0; p < 256; p++)
                values += seen[p];
            CHECK_MSG(values == 256, "the test rows hold %d of the 256 pixel values", values);
            CHECK_MSG(bad == 0, "dataset_gather (normalize %d, %s): %ld of %d pixels differ from "
                      "torchvision's float", normalize, ordered ? "shuffled" : "file order", bad,
                      n * DATASET_PIXELS);
            CHECK_MSG(bad_labels == 0, "dataset_gather (normalize %d, %s): %ld wrong labels",
                      normalize, ordered ? "shuffled" : "file order", bad_labels);
        }
    free(x);
}

static int is_permutation(const uint32_t *order, int n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = seen != NULL;
    for (int i = 0; i < n && ok; i++) {
        ok = order[i] < (uint32_t)n && !seen[order[i]];
        if (ok)
            seen[order[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_order(void)
{
    enum { N = 60000 };
    uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    if (!CHECK(a != NULL && b != NULL))
        return;
    dataset_order(a, N, 1, 0, 1);
    CHECK_MSG(is_permutation(a, N), "dataset_order(seed 1, epoch 0) is not a permutation");
    dataset_order(b, N, 1, 0, 1);
    CHECK_MSG(memcmp(a, b, N * sizeof *a) == 0, "dataset_order: the same (seed, epoch) gave "
              "two orders");
    int moved = 0;
    for (int i = 0; i < N; i++)
        moved += a[i] != (uint32_t)i;
    CHECK_MSG(moved > N * 9 / 10, "dataset_order: only %d of %d samples moved", moved, N);
    const uint64_t other[2][2] = {{1, 1}, {2, 0}}; /* another epoch, another seed */
    for (int t = 0; t < 2; t++) {
        dataset_order(b, N, other[t][0], (int)other[t][1], 1);
        int same = 0;
        for (int i = 0; i < N; i++)
            same += a[i] == b[i];
        CHECK_MSG(is_permutation(b, N) && same < 100, "dataset_order(seed %d, epoch %d): %d "
                  "positions agree with (seed 1, epoch 0)", (int)other[t][0], (int)other[t][1],
                  same);
    }
    dataset_order(b, N, 1, 0, 0);
    int identity = 1;
    for (int i = 0; i < N; i++)
        identity &= b[i] == (uint32_t)i;
    CHECK_MSG(identity, "dataset_order without shuffle is not 0..n-1");
    free(a);
    free(b);
}

static void test_split(void)
{
    const int batches[] = {1, 7, 100, 101};
    for (size_t t = 0; t < sizeof batches / sizeof batches[0]; t++)
        for (int size = 1; size <= 9; size++) {
            int next = 0, lo = batches[t], hi = 0;
            for (int rank = 0; rank < size; rank++) {
                int first, count;
                dataset_split(batches[t], rank, size, &first, &count);
                CHECK_MSG(first == next, "dataset_split(%d, rank %d of %d): starts at %d, "
                          "expected %d", batches[t], rank, size, first, next);
                next = first + count;
                lo = count < lo ? count : lo;
                hi = count > hi ? count : hi;
            }
            CHECK_MSG(next == batches[t] && hi - lo <= 1, "dataset_split(%d over %d ranks): "
                      "covers %d samples, counts from %d to %d", batches[t], size, next, lo, hi);
        }
}

int main(void)
{
    const char *generic = getenv("MPITRAIN_GENERIC");
    if (generic != NULL && strcmp(generic, "1") == 0)
        CHECK_MSG(!cpu_avx2() && !cpu_fma(), "MPITRAIN_GENERIC=1, yet cpu_avx2() %d, cpu_fma() %d",
                  cpu_avx2(), cpu_fma());
    if (read_pixels_ref())
        test_gather();
    test_order();
    test_split();
    return check_summary();
}
