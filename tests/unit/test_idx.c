/* unit_idx: idx_open / idx_read / idx_find on synthetic IDX files, raw and gzip, written into a
 * fresh temporary folder: good files read back byte for byte; every malformed file is refused with
 * ERR_INPUT and a message that names the file and the problem. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "idx.h"

#define N_IMAGES 5
#define IMAGE_BYTES (N_IMAGES * 28 * 28)
#define MAX_CREATED 64

static char tmpdir[256];

/* Everything created under tmpdir, removed in reverse order at the end. */
static char created[MAX_CREATED][512];
static int created_is_dir[MAX_CREATED];
static int n_created;

static void remember(const char *path, int is_dir)
{
    if (n_created == MAX_CREATED) {
        fprintf(stderr, "test_idx: too many temporary files\n");
        exit(1);
    }
    snprintf(created[n_created], sizeof created[n_created], "%s", path);
    created_is_dir[n_created++] = is_dir;
}

static void remove_all(void)
{
    for (int i = n_created - 1; i >= 0; i--)
        if ((created_is_dir[i] ? rmdir(created[i]) : unlink(created[i])) != 0)
            fprintf(stderr, "test_idx: cannot remove %s: %s\n", created[i], strerror(errno));
    if (rmdir(tmpdir) != 0)
        fprintf(stderr, "test_idx: cannot remove %s: %s\n", tmpdir, strerror(errno));
}

/* tmpdir/name into buf */
static const char *tmp_path(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
    return buf;
}

/* A setup step that fails ends the test: the checks after it would mean nothing. */
static void die(const char *what, const char *path)
{
    fprintf(stderr, "test_idx: %s %s: %s\n", what, path, strerror(errno));
    remove_all();
    exit(1);
}

static void write_raw(const char *path, const uint8_t *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        die("cannot create", path);
    remember(path, 0);
    if (n > 0 && fwrite(bytes, 1, n, f) != n)
        die("cannot write", path);
    if (fclose(f) != 0)
        die("cannot close", path);
}

static void write_gz(const char *path, const uint8_t *bytes, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    if (gz == NULL)
        die("gzopen failed for", path);
    remember(path, 0);
    if (n > 0 && gzwrite(gz, bytes, (unsigned)n) != (int)n)
        die("gzwrite failed for", path);
    if (gzclose(gz) != Z_OK)
        die("gzclose failed for", path);
}

/* The whole file into a malloc'd buffer. */
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open", path);
    uint8_t *buf = malloc(1 << 16);
    if (buf == NULL)
        die("out of memory reading", path);
    *n = fread(buf, 1, 1 << 16, f);
    if (ferror(f) || !feof(f))
        die("cannot read all of", path);
    fclose(f);
    return buf;
}

/* An IDX header: magic 00 00 type ndim, then big-endian dimensions. Returns its length. */
static size_t put_header(uint8_t *out, uint8_t b0, uint8_t b1, uint8_t type, int ndim,
                         const uint32_t *dims)
{
    out[0] = b0;
    out[1] = b1;
    out[2] = type;
    out[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        out[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        out[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        out[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        out[7 + 4 * i] = (uint8_t)dims[i];
    }
    return 4 + 4 * (size_t)ndim;
}

/* Contents of the good files: random bytes (so gzip cannot shrink them much and a cut or a
 * flipped byte lands in real data), and labels 0..9. */
static uint8_t image_data[IMAGE_BYTES];
static uint8_t label_data[N_IMAGES] = {7, 2, 1, 0, 9};
static uint8_t image_file[16 + IMAGE_BYTES + 16];
static size_t image_file_len;
static uint8_t label_file[8 + N_IMAGES + 16];
static size_t label_file_len;

static void make_good_files(void)
{
    CheckRng rng = {42};
    for (int i = 0; i < IMAGE_BYTES; i++)
        image_data[i] = (uint8_t)(check_rng_u64(&rng) >> 56);
    const uint32_t idims[3] = {N_IMAGES, 28, 28};
    size_t h = put_header(image_file, 0, 0, 0x08, 3, idims);
    memcpy(image_file + h, image_data, IMAGE_BYTES);
    image_file_len = h + IMAGE_BYTES;
    const uint32_t ldims[1] = {N_IMAGES};
    h = put_header(label_file, 0, 0, 0x08, 1, ldims);
    memcpy(label_file + h, label_data, N_IMAGES);
    label_file_len = h + N_IMAGES;
}

/* A good file reads back: its dimensions, its size and every data byte. */
static void check_good(const char *path, int ndim, const uint32_t *dims, const uint8_t *data,
                       size_t n, long long want_raw_size)
{
    IdxReader r;
    Err e;
    err_clear(&e);
    int rc = idx_open(&r, path, ndim, &e);
    if (!CHECK_MSG(rc == ERR_OK, "idx_open(%s): expected ERR_OK, got %d: %s", path, rc, e.msg))
        return;
    CHECK_INT_EQ(r.ndim, ndim);
    for (int i = 0; i < ndim; i++)
        CHECK_MSG(r.dims[i] == dims[i], "%s: dims[%d]: expected %u, got %u", path, i, dims[i],
                  r.dims[i]);
    CHECK_INT_EQ(r.data_bytes, n);
    CHECK_INT_EQ(r.raw_size, want_raw_size);
    uint8_t *got = malloc(n + 1);
    if (got == NULL)
        die("out of memory for", path);
    got[n] = 0xA5; /* idx_read must not write past the data */
    rc = idx_read(&r, got, &e);
    if (CHECK_MSG(rc == ERR_OK, "idx_read(%s): expected ERR_OK, got %d: %s", path, rc, e.msg)) {
        size_t first_diff = n;
        for (size_t i = 0; i < n && first_diff == n; i++)
            if (got[i] != data[i])
                first_diff = i;
        CHECK_MSG(first_diff == n, "%s: byte %zu: expected %u, got %u", path, first_diff,
                  first_diff < n ? data[first_diff] : 0, first_diff < n ? got[first_diff] : 0);
        CHECK_MSG(got[n] == 0xA5, "%s: idx_read wrote past the %zu data bytes", path, n);
    }
    free(got);
    idx_close(&r);
    idx_close(&r); /* safe twice */
    CHECK(r.gz == NULL);
}

/* Open and read; the first failure's code (or ERR_OK), its message in e. */
static int open_and_read(const char *path, int ndim, Err *e)
{
    IdxReader r;
    err_clear(e);
    int rc = idx_open(&r, path, ndim, e);
    if (rc == ERR_OK) {
        uint8_t *buf = malloc(r.data_bytes ? r.data_bytes : 1);
        if (buf == NULL)
            die("out of memory for", path);
        rc = idx_read(&r, buf, e);
        free(buf);
    }
    idx_close(&r);
    return rc;
}

/* A malformed file: ERR_INPUT, and a message holding the path and each of the given words. */
static void check_bad(const char *what, const char *path, int ndim, const char *word1,
                      const char *word2)
{
    Err e;
    int rc = open_and_read(path, ndim, &e);
    if (!CHECK_MSG(rc == ERR_INPUT, "%s: expected ERR_INPUT (%d), got %d (message \"%s\")", what,
                   ERR_INPUT, rc, e.msg))
        return;
    CHECK_MSG(e.code == ERR_INPUT, "%s: returned ERR_INPUT but e.code is %d", what, e.code);
    CHECK_MSG(strstr(e.msg, path) != NULL, "%s: message does not name %s: \"%s\"", what, path,
              e.msg);
    CHECK_MSG(strstr(e.msg, word1) != NULL, "%s: message lacks \"%s\": \"%s\"", what, word1,
              e.msg);
    if (word2 != NULL)
        CHECK_MSG(strstr(e.msg, word2) != NULL, "%s: message lacks \"%s\": \"%s\"", what, word2,
                  e.msg);
    CHECK_MSG(strchr(e.msg, '\n') == NULL, "%s: message is not one line: \"%s\"", what, e.msg);
}

static void test_good_files(void)
{
    char p[512];
    const uint32_t idims[3] = {N_IMAGES, 28, 28};
    const uint32_t ldims[1] = {N_IMAGES};
    write_raw(tmp_path("images-idx3-ubyte", p, sizeof p), image_file, image_file_len);
    check_good(p, 3, idims, image_data, IMAGE_BYTES, (long long)image_file_len);
    write_gz(tmp_path("images-idx3-ubyte.gz", p, sizeof p), image_file, image_file_len);
    check_good(p, 3, idims, image_data, IMAGE_BYTES, -1);
    write_raw(tmp_path("labels-idx1-ubyte", p, sizeof p), label_file, label_file_len);
    check_good(p, 1, ldims, label_data, N_IMAGES, (long long)label_file_len);
    write_gz(tmp_path("labels-idx1-ubyte.gz", p, sizeof p), label_file, label_file_len);
    check_good(p, 1, ldims, label_data, N_IMAGES, -1);

    /* a good file asked for with the wrong number of dimensions */
    check_bad("labels opened as 3-dim", tmp_path("labels-idx1-ubyte", p, sizeof p), 3, "magic",
              "0x00000801");
}

static void test_find(void)
{
    char p[512], want[512], found[512];
    Err e;
    /* both exist (written by test_good_files): the raw file wins */
    err_clear(&e);
    int rc = idx_find(tmpdir, "images-idx3-ubyte", found, sizeof found, &e);
    CHECK_INT_EQ(rc, ERR_OK);
    CHECK_STR_EQ(found, tmp_path("images-idx3-ubyte", want, sizeof want));

    /* only the .gz exists */
    write_gz(tmp_path("only-gz-idx1-ubyte.gz", p, sizeof p), label_file, label_file_len);
    rc = idx_find(tmpdir, "only-gz-idx1-ubyte", found, sizeof found, &e);
    CHECK_INT_EQ(rc, ERR_OK);
    CHECK_STR_EQ(found, p);

    /* only the raw file exists */
    write_raw(tmp_path("only-raw-idx1-ubyte", p, sizeof p), label_file, label_file_len);
    rc = idx_find(tmpdir, "only-raw-idx1-ubyte", found, sizeof found, &e);
    CHECK_INT_EQ(rc, ERR_OK);
    CHECK_STR_EQ(found, p);

    /* neither: ERR_INPUT naming the folder, the file and the .gz alternative */
    err_clear(&e);
    rc = idx_find(tmpdir, "absent-idx1-ubyte", found, sizeof found, &e);
    CHECK_INT_EQ(rc, ERR_INPUT);
    CHECK_INT_EQ(e.code, ERR_INPUT);
    CHECK_STR_HAS(e.msg, tmp_path("absent-idx1-ubyte", want, sizeof want));
    CHECK_STR_HAS(e.msg, "absent-idx1-ubyte.gz");
    CHECK_STR_HAS(e.msg, "no such file");
}

static void test_malformed_raw(void)
{
    char p[512];
    uint8_t buf[16 + IMAGE_BYTES + 16];
    const uint32_t idims[3] = {N_IMAGES, 28, 28};

    check_bad("missing file", tmp_path("does-not-exist", p, sizeof p), 3, "No such file", NULL);

    write_raw(tmp_path("empty", p, sizeof p), buf, 0);
    check_bad("empty file", p, 3, "empty", NULL);

    tmp_path("a-directory", p, sizeof p);
    if (mkdir(p, 0700) != 0)
        die("cannot create the folder", p);
    remember(p, 1);
    check_bad("a directory", p, 3, "not a regular file", NULL);

    /* cut inside the 4-byte magic, then inside the dimensions */
    put_header(buf, 0, 0, 0x08, 3, idims);
    write_raw(tmp_path("cut-in-magic", p, sizeof p), buf, 2);
    check_bad("cut in the magic number", p, 3, "truncated", "magic");
    write_raw(tmp_path("cut-in-dims", p, sizeof p), buf, 10);
    check_bad("cut in the dimensions", p, 3, "truncated", "header");

    /* wrong magic numbers, each with a correct size for what it claims */
    size_t h = put_header(buf, 0, 0, 0x09, 3, idims); /* signed bytes */
    memcpy(buf + h, image_data, IMAGE_BYTES);
    write_raw(tmp_path("type-0x09", p, sizeof p), buf, h + IMAGE_BYTES);
    check_bad("type byte 0x09", p, 3, "magic", "0x00000903");

    const uint32_t two[2] = {N_IMAGES, 784};
    h = put_header(buf, 0, 0, 0x08, 2, two);
    memcpy(buf + h, image_data, IMAGE_BYTES);
    write_raw(tmp_path("ndim-2", p, sizeof p), buf, h + IMAGE_BYTES);
    check_bad("2 dimensions where 3 are wanted", p, 3, "magic", "3 dimensions");

    h = put_header(buf, 0, 1, 0x08, 3, idims);
    memcpy(buf + h, image_data, IMAGE_BYTES);
    write_raw(tmp_path("first-bytes-0001", p, sizeof p), buf, h + IMAGE_BYTES);
    check_bad("nonzero second byte", p, 3, "magic", "0x00010803");
    h = put_header(buf, 0x1f, 0, 0x08, 3, idims);
    write_raw(tmp_path("first-bytes-1f00", p, sizeof p), buf, h + IMAGE_BYTES);
    check_bad("nonzero first byte", p, 3, "magic", NULL);

    /* a zero dimension, and dimensions whose product is absurd */
    const uint32_t zero[3] = {N_IMAGES, 0, 28};
    h = put_header(buf, 0, 0, 0x08, 3, zero);
    write_raw(tmp_path("zero-dim", p, sizeof p), buf, h);
    check_bad("a zero dimension", p, 3, "dimension", "is 0");
    const uint32_t huge[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    h = put_header(buf, 0, 0, 0x08, 3, huge);
    write_raw(tmp_path("huge-dims", p, sizeof p), buf, h + 100);
    check_bad("implausibly large dimensions", p, 3, "implausibly large", NULL);

    /* size of the raw file differs from what the header promises */
    h = put_header(buf, 0, 0, 0x08, 3, idims);
    memcpy(buf + h, image_data, IMAGE_BYTES);
    write_raw(tmp_path("raw-short", p, sizeof p), buf, h + IMAGE_BYTES - 1);
    check_bad("raw file one byte short", p, 3, "truncated", "promises");
    write_raw(tmp_path("raw-one-image-short", p, sizeof p), buf, h + IMAGE_BYTES - 784);
    check_bad("raw file one image short", p, 3, "truncated", NULL);
    buf[h + IMAGE_BYTES] = 0;
    write_raw(tmp_path("raw-long", p, sizeof p), buf, h + IMAGE_BYTES + 1);
    check_bad("raw file one byte too long", p, 3, "extra data", NULL);
    uint8_t lab[sizeof label_file];
    memcpy(lab, label_file, label_file_len);
    lab[label_file_len] = 3;
    write_raw(tmp_path("labels-long", p, sizeof p), lab, label_file_len + 1);
    check_bad("labels file one byte too long", p, 1, "extra data", NULL);
}

static void test_malformed_gz(void)
{
    char good[512], p[512];
    size_t n;
    /* the compressed bytes of the good image file (written by test_good_files) */
    uint8_t *gz = slurp(tmp_path("images-idx3-ubyte.gz", good, sizeof good), &n);
    CHECK_MSG(n > 1000, "the gzip of %d random bytes should not be tiny, got %zu bytes",
              IMAGE_BYTES, n);

    /* cut in the middle of the compressed data: the header still decodes, the data ends early */
    write_raw(tmp_path("cut-data.gz", p, sizeof p), gz, n / 2);
    check_bad("gzip cut in the data", p, 3, "truncated", NULL);
    /* cut in the 8-byte trailer (CRC-32 and length): all data there, but the stream is
     * unfinished and nothing verifies the data. zlib reports this as a non-fatal Z_BUF_ERROR
     * ("unexpected end of file") with a 0-byte read, which looks like a clean end of file. */
    write_raw(tmp_path("cut-trailer.gz", p, sizeof p), gz, n - 4);
    check_bad("gzip missing the last 4 bytes of its 8-byte CRC/length trailer", p, 3,
              "truncated", NULL);
    /* the consequence: a flipped data byte goes unnoticed when the trailer is gone */
    uint8_t *cut = malloc(n);
    if (cut == NULL)
        die("out of memory for", p);
    memcpy(cut, gz, n);
    cut[n / 2] ^= 0x01;
    write_raw(tmp_path("flipped-no-trailer.gz", p, sizeof p), cut, n - 8);
    check_bad("gzip with one flipped bit and no trailer", p, 3, "truncated", NULL);
    free(cut);

    /* bytes flipped in the middle of the compressed stream */
    uint8_t *bad = malloc(n);
    if (bad == NULL)
        die("out of memory for", p);
    memcpy(bad, gz, n);
    for (size_t i = n / 2; i < n / 2 + 8; i++)
        bad[i] ^= 0x5a;
    write_raw(tmp_path("corrupt.gz", p, sizeof p), bad, n);
    check_bad("gzip with flipped bytes", p, 3, "corrupt", NULL);
    free(bad);
    free(gz);

    /* well-formed gzip whose content is wrong */
    uint8_t buf[16 + IMAGE_BYTES + 16];
    memcpy(buf, image_file, image_file_len);
    buf[image_file_len] = 0x42;
    write_gz(tmp_path("extra.gz", p, sizeof p), buf, image_file_len + 1);
    check_bad("gzip with a byte after the items", p, 3, "extra data", NULL);
    write_gz(tmp_path("short.gz", p, sizeof p), image_file, image_file_len - 100);
    check_bad("gzip 100 bytes short", p, 3, "truncated", "promises");
    write_gz(tmp_path("empty.gz", p, sizeof p), buf, 0);
    check_bad("gzip of nothing", p, 3, "empty", NULL);
    write_gz(tmp_path("cut-dims.gz", p, sizeof p), image_file, 9);
    check_bad("gzip cut in the dimensions", p, 3, "truncated", "header");
    buf[2] = 0x09;
    write_gz(tmp_path("type-0x09.gz", p, sizeof p), buf, image_file_len);
    check_bad("gzip with type byte 0x09", p, 3, "magic", NULL);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mpitrain-test-idx-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        die("mkdtemp failed for", tmpdir);
    make_good_files();

    test_good_files();
    test_find();
    test_malformed_raw();
    test_malformed_gz();

    remove_all();
    struct stat st;
    CHECK_MSG(stat(tmpdir, &st) != 0, "temporary folder %s was not removed", tmpdir);
    return check_summary();
}
