#include "dataset.h"

#include <stdio.h>
#include <string.h>

#include "cpu.h"
#include "idx.h"
#include "rng.h"

#if CPU_X86
#include <immintrin.h>
#endif

static const char *const file_names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

/* The shared segment: this header, then train images, train labels, test images, test labels. */
typedef struct SharedHeader {
    uint32_t n[2];
    uint8_t pad[56];
} SharedHeader;

/* Open the four files and check their headers against each other. */
static int open_all(IdxReader r[4], const char *dir, Err *e)
{
    for (int f = 0; f < 4; f++) {
        char path[1100];
        int rc = idx_find(dir, file_names[f], path, sizeof path, e);
        if (rc == ERR_OK)
            rc = idx_open(&r[f], path, f % 2 == 0 ? 3 : 1, e);
        if (rc != ERR_OK)
            return rc;
    }
    for (int s = 0; s < 2; s++) {
        const IdxReader *img = &r[2 * s], *lab = &r[2 * s + 1];
        if (img->dims[1] != DATASET_ROWS || img->dims[2] != DATASET_COLS)
            return err_set(e, ERR_INPUT, "%s: images are %ux%u, expected %dx%d", img->path,
                           img->dims[1], img->dims[2], DATASET_ROWS, DATASET_COLS);
        if (img->dims[0] > (1u << 30))
            return err_set(e, ERR_INPUT, "%s: %u images is more than this program handles",
                           img->path, img->dims[0]);
        if (lab->dims[0] != img->dims[0])
            return err_set(e, ERR_INPUT, "%s: %u labels but %u images in %s", lab->path,
                           lab->dims[0], img->dims[0], img->path);
    }
    return ERR_OK;
}

static int check_labels(const IdxReader *r, const uint8_t *labels, Err *e)
{
    for (uint32_t i = 0; i < r->dims[0]; i++)
        if (labels[i] >= DATASET_CLASSES)
            return err_set(e, ERR_INPUT, "%s: label %u of item %u is not in 0..%d", r->path,
                           labels[i], i, DATASET_CLASSES - 1);
    return ERR_OK;
}

int dataset_load(Dataset *d, Comm *c, const char *dir, Err *e)
{
    memset(d, 0, sizeof *d);
    err_clear(e);
    IdxReader r[4];
    memset(r, 0, sizeof r);
    size_t bytes = 0;
    int leader = c->node_rank == 0;
    if (leader && open_all(r, dir, e) == ERR_OK) {
        bytes = sizeof(SharedHeader);
        for (int f = 0; f < 4; f++)
            bytes += r[f].data_bytes;
    }
    comm_shared_alloc(c, bytes, &d->shm);
    if (leader && e->code == ERR_OK) {
        SharedHeader *h = d->shm.ptr;
        uint8_t *p = (uint8_t *)(h + 1);
        for (int f = 0; f < 4 && e->code == ERR_OK; f++) {
            if (idx_read(&r[f], p, e) == ERR_OK && f % 2 == 1)
                check_labels(&r[f], p, e);
            p += r[f].data_bytes;
        }
        h->n[SPLIT_TRAIN] = r[0].dims[0];
        h->n[SPLIT_TEST] = r[2].dims[0];
    }
    for (int f = 0; f < 4; f++)
        idx_close(&r[f]);
    comm_shared_sync(c, &d->shm);
    if (comm_agree(c, e) != ERR_OK) {
        dataset_free(d);
        return e->code;
    }
    const SharedHeader *h = d->shm.ptr;
    const uint8_t *p = (const uint8_t *)(h + 1);
    for (int s = 0; s < 2; s++) {
        d->n[s] = (int)h->n[s];
        d->images[s] = p;
        p += (size_t)d->n[s] * DATASET_PIXELS;
        d->labels[s] = p;
        p += d->n[s];
    }
    return ERR_OK;
}

void dataset_free(Dataset *d)
{
    comm_shared_free(&d->shm);
    memset(d, 0, sizeof *d);
}

void dataset_order(uint32_t *order, int n, uint64_t seed, int epoch, int shuffle)
{
    for (int i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    if (!shuffle)
        return;
    /* Fisher-Yates, each swap drawn from the counter-based generator at (epoch, position). */
    for (int i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rng_below(seed, RNG_STREAM_SHUFFLE + (uint64_t)epoch, (uint64_t)i,
                                         (uint64_t)i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

void dataset_split(int batch, int rank, int size, int *first, int *count)
{
    int base = batch / size, extra = batch % size;
    *count = base + (rank < extra);
    *first = rank * base + (rank < extra ? rank : extra);
}

/* Rows are read in shuffled order, so the hardware prefetcher cannot guess the next one: each
 * image is asked for this many rows ahead. On a Zen 4 core that halves the time to gather 50
 * shuffled rows of the 47 MB training set (about 21 us to 11 us). */
#define GATHER_AHEAD 2

static void prefetch_image(const Dataset *d, Split split, const uint32_t *order, int i)
{
    size_t s = order != NULL ? order[i] : (size_t)i;
    const char *p = (const char *)(d->images[split] + s * DATASET_PIXELS);
    for (int k = 0; k < DATASET_PIXELS; k += 64)
        __builtin_prefetch(p + k);
    __builtin_prefetch(p + DATASET_PIXELS - 1);
}

/* torchvision's ToTensor, then Normalize((0.1307,), (0.3081,)) when normalize: the same float
 * operations in the same order, so the rows match PyTorch's to the bit. */
#define PIXEL_MEAN 0.1307f
#define PIXEL_STD 0.3081f

static float pixel_value(int p, int normalize)
{
    float v = (float)p / 255.0f;
    return normalize ? (v - PIXEL_MEAN) / PIXEL_STD : v;
}

/* One image, through a table of the 256 values. */
static void convert_image(const uint8_t *src, float *dst, const float *value)
{
    for (int k = 0; k < DATASET_PIXELS; k++)
        dst[k] = value[src[k]];
}

#if CPU_X86
/* One image, 8 pixels at a time, with pixel_value's operations (divisions and a subtraction are
 * correctly rounded in any width, so the bits are the same): about 3 times faster than the
 * table, whose loads go one pixel at a time. 784 is a multiple of 8. */
__attribute__((target("avx2"))) static void convert_image_avx2(const uint8_t *src, float *dst,
                                                              int normalize)
{
    const __m256 v255 = _mm256_set1_ps(255.0f), mean = _mm256_set1_ps(PIXEL_MEAN),
                 std = _mm256_set1_ps(PIXEL_STD);
    for (int k = 0; k < DATASET_PIXELS; k += 8) {
        __m128i bytes = _mm_loadl_epi64((const __m128i *)(const void *)(src + k));
        __m256 v = _mm256_div_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), v255);
        if (normalize)
            v = _mm256_div_ps(_mm256_sub_ps(v, mean), std);
        _mm256_storeu_ps(dst + k, v);
    }
}
#endif

void dataset_gather(const Dataset *d, Split split, const uint32_t *order, int first, int n,
                    int normalize, float *x, uint8_t *y)
{
    for (int i = 0; i < GATHER_AHEAD && i < n; i++)
        prefetch_image(d, split, order, first + i);
    const int avx2 = cpu_avx2();
    float value[256];
    if (!avx2)
        for (int p = 0; p < 256; p++)
            value[p] = pixel_value(p, normalize);
    for (int i = 0; i < n; i++) {
        size_t s = order != NULL ? order[first + i] : (size_t)(first + i);
        const uint8_t *src = d->images[split] + s * DATASET_PIXELS;
        float *dst = x + (size_t)i * DATASET_PIXELS;
        if (i + GATHER_AHEAD < n)
            prefetch_image(d, split, order, first + i + GATHER_AHEAD);
#if CPU_X86
        if (avx2)
            convert_image_avx2(src, dst, normalize);
        else
#endif
            convert_image(src, dst, value);
        y[i] = d->labels[split][s];
    }
}
