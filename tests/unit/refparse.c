#include "refparse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int ref_open(RefFile *r, const char *name)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s/%s", MPITRAIN_REF_DIR, name);
    r->f = fopen(r->path, "r");
    if (r->f == NULL) {
        fprintf(stderr, "%s: %s\n", r->path, strerror(errno));
        return -1;
    }
    return 0;
}

void ref_close(RefFile *r)
{
    if (r->f != NULL)
        fclose(r->f);
    free(r->line);
    free(r->tok);
    memset(r, 0, sizeof *r);
}

/* Split the current line into tokens, in place. Returns 0, or -1 when out of memory. */
static int split(RefFile *r)
{
    r->n_tok = 0;
    char *save = NULL;
    for (char *t = strtok_r(r->line, " \t\r\n", &save); t != NULL;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (r->n_tok == r->cap_tok) {
            int cap = r->cap_tok ? 2 * r->cap_tok : 64;
            char **tok = realloc(r->tok, (size_t)cap * sizeof *tok);
            if (tok == NULL)
                return -1;
            r->tok = tok;
            r->cap_tok = cap;
        }
        r->tok[r->n_tok++] = t;
    }
    return 0;
}

int ref_next(RefFile *r)
{
    for (;;) {
        errno = 0;
        ssize_t len = getline(&r->line, &r->cap, r->f);
        if (len < 0) {
            if (ferror(r->f) || errno == ENOMEM) {
                fprintf(stderr, "%s: read error after line %d\n", r->path, r->lineno);
                return -1;
            }
            return 0;
        }
        r->lineno++;
        const char *p = r->line + strspn(r->line, " \t");
        if (*p == '#')
            continue;
        if (split(r) != 0) {
            fprintf(stderr, "%s:%d: out of memory\n", r->path, r->lineno);
            return -1;
        }
        if (r->n_tok > 0)
            return 1;
    }
}

int ref_is(const RefFile *r, int i, const char *w)
{
    return i >= 0 && i < r->n_tok && strcmp(r->tok[i], w) == 0;
}

int ref_find(const RefFile *r, const char *w, int from)
{
    for (int i = from; i < r->n_tok; i++)
        if (strcmp(r->tok[i], w) == 0)
            return i;
    return -1;
}

const char *ref_value(const RefFile *r, const char *key)
{
    size_t len = strlen(key);
    for (int i = 1; i < r->n_tok; i++)
        if (strncmp(r->tok[i], key, len) == 0 && r->tok[i][len] == '=')
            return r->tok[i] + len + 1;
    return NULL;
}

int ref_floats(const RefFile *r, int from, float *out, int max)
{
    int n = 0;
    for (int i = from; i < r->n_tok && n < max; i++) {
        char *end;
        errno = 0;
        float v = strtof(r->tok[i], &end);
        if (end == r->tok[i] || *end != '\0' || errno != 0)
            break;
        out[n++] = v;
    }
    return n;
}

int ref_doubles(const RefFile *r, int from, double *out, int max)
{
    int n = 0;
    for (int i = from; i < r->n_tok && n < max; i++)
        if (ref_parse_double(r->tok[i], &out[n]) == 0)
            n++;
        else
            break;
    return n;
}

int ref_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0)
        return -1;
    *out = v;
    return 0;
}

int ref_parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

int ref_parse_int_list(const char *s, int *out, int max)
{
    int n = 0;
    while (*s != '\0') {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno != 0 || v < INT_MIN || v > INT_MAX || n == max)
            return -1;
        out[n++] = (int)v;
        if (*end == ',' && end[1] != '\0')
            end++;
        else if (*end != '\0')
            return -1;
        s = end;
    }
    return n;
}
