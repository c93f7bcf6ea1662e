/* unit_config: the documented defaults; config_parse of good and bad command lines;
 * config_validate's refusals; config_format round trips through config_parse; the --help text
 * names every option and the exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

#define MAX_ARGS 128

/* Defaults, then parse `line` split at spaces (argv[0] "mpitrain" added). */
static int parse_line(Config *cfg, const char *line, ParseResult *what, Err *e)
{
    static char buf[4096];
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = "mpitrain";
    snprintf(buf, sizeof buf, "%s", line);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
        if (argc == MAX_ARGS) {
            fprintf(stderr, "test_config: more than %d arguments in \"%s\"\n", MAX_ARGS, line);
            exit(1);
        }
        argv[argc++] = t;
    }
    config_defaults(cfg);
    err_clear(e);
    return config_parse(cfg, argc, argv, what, e);
}

/* The line parses; then returns 1 so the caller can check the values. */
static int parses(Config *cfg, const char *line)
{
    ParseResult what;
    Err e;
    int rc = parse_line(cfg, line, &what, &e);
    return CHECK_MSG(rc == ERR_OK && what == PARSE_RUN,
                     "parse \"%s\": expected ERR_OK and PARSE_RUN, got %d, %d: %s", line, rc,
                     (int)what, e.msg);
}

static void test_defaults(void)
{
    Config c;
    config_defaults(&c);
    CHECK_DBL_EQ(c.lr, 0.1);
    CHECK_DBL_EQ(c.momentum, 0.9);
    CHECK_INT_EQ(c.nesterov, 1);
    CHECK_DBL_EQ(c.dampening, 0.0);
    CHECK_DBL_EQ(c.weight_decay, 0.0);
    CHECK_INT_EQ(c.batch_size, 100);
    CHECK_INT_EQ(c.epochs, 10);
    CHECK_INT_EQ(c.sched, SCHED_PLATEAU);
    CHECK_INT_EQ(c.plateau_mode, PLATEAU_MAX);
    CHECK_INT_EQ(c.plateau_metric, METRIC_VAL_ACC);
    CHECK_DBL_EQ(c.factor, 0.1);
    CHECK_INT_EQ(c.patience, 0);
    CHECK_INT_EQ(c.n_hidden, 1);
    CHECK_INT_EQ(c.hidden[0], 100);
    CHECK_INT_EQ(c.warmup_epochs, 0);
    CHECK_INT_EQ(c.mode, MODE_TRAIN);
    CHECK_STR_EQ(config_sched_name(c.sched), "plateau");
    int sizes[CONFIG_MAX_HIDDEN + 2];
    CHECK_INT_EQ(config_layer_sizes(&c, sizes, CONFIG_MAX_HIDDEN + 2), 3);
    CHECK(sizes[0] == 784 && sizes[1] == 100 && sizes[2] == 10);
}

static void test_parse_good(void)
{
    Config c;
    if (parses(&c, "--lr 0.05"))
        CHECK_DBL_EQ(c.lr, 0.05);
    if (parses(&c, "--lr=0.05"))
        CHECK_DBL_EQ(c.lr, 0.05);
    if (parses(&c, "--hidden 256,128")) {
        CHECK_INT_EQ(c.n_hidden, 2);
        CHECK_INT_EQ(c.hidden[0], 256);
        CHECK_INT_EQ(c.hidden[1], 128);
        int sizes[CONFIG_MAX_HIDDEN + 2];
        CHECK_INT_EQ(config_layer_sizes(&c, sizes, CONFIG_MAX_HIDDEN + 2), 4);
        CHECK(sizes[0] == 784 && sizes[1] == 256 && sizes[2] == 128 && sizes[3] == 10);
    }
    if (parses(&c, "--no-nesterov")) {
        CHECK_INT_EQ(c.nesterov, 0);
        CHECK_DBL_EQ(c.momentum, 0.9); /* nothing else changed */
    }
    if (parses(&c, "--no-nesterov --nesterov"))
        CHECK_INT_EQ(c.nesterov, 1);
    if (parses(&c, "--nesterov=0"))
        CHECK_INT_EQ(c.nesterov, 0);
    if (parses(&c, "--sched step --step-size 2 --gamma 0.96")) {
        CHECK_INT_EQ(c.sched, SCHED_STEP);
        CHECK_INT_EQ(c.step_size, 2);
        CHECK_DBL_EQ(c.gamma, 0.96);
    }
    if (parses(&c, "--milestones 3,6")) {
        CHECK_INT_EQ(c.n_milestones, 2);
        CHECK_INT_EQ(c.milestones[0], 3);
        CHECK_INT_EQ(c.milestones[1], 6);
    }
    if (parses(&c, "eval --checkpoint x.h5")) {
        CHECK_INT_EQ(c.mode, MODE_EVAL);
        CHECK_STR_EQ(c.checkpoint, "x.h5");
        Err e;
        err_clear(&e);
        CHECK_INT_EQ(config_validate(&c, 4, &e), ERR_OK);
    }
    if (parses(&c, "--epochs 3 --batch-size 64 --seed 18446744073709551615 --max-steps 7")) {
        CHECK_INT_EQ(c.epochs, 3);
        CHECK_INT_EQ(c.batch_size, 64);
        CHECK(c.seed == UINT64_MAX);
        CHECK_INT_EQ(c.max_steps, 7);
    }
    /* the last value given wins */
    if (parses(&c, "--lr 0.5 --lr=0.25"))
        CHECK_DBL_EQ(c.lr, 0.25);

    ParseResult what;
    Err e;
    CHECK_INT_EQ(parse_line(&c, "--lr 0.5 --help", &what, &e), ERR_OK);
    CHECK_INT_EQ(what, PARSE_HELP);
    CHECK_INT_EQ(parse_line(&c, "--version", &what, &e), ERR_OK);
    CHECK_INT_EQ(what, PARSE_VERSION);
}

/* A bad command line: ERR_INPUT, with the words in the message. */
static void check_parse_error(const char *line, const char *word1, const char *word2)
{
    Config c;
    ParseResult what;
    Err e;
    int rc = parse_line(&c, line, &what, &e);
    if (!CHECK_MSG(rc == ERR_INPUT && e.code == ERR_INPUT,
                   "parse \"%s\": expected ERR_INPUT, got %d (message \"%s\")", line, rc, e.msg))
        return;
    CHECK_MSG(strstr(e.msg, word1) != NULL, "parse \"%s\": message lacks \"%s\": \"%s\"", line,
              word1, e.msg);
    if (word2 != NULL)
        CHECK_MSG(strstr(e.msg, word2) != NULL, "parse \"%s\": message lacks \"%s\": \"%s\"",
                  line, word2, e.msg);
}

static void test_parse_errors(void)
{
    check_parse_error("--bogus 1", "--bogus", "unknown");
    check_parse_error("--lr", "--lr", "value");
    check_parse_error("--epochs 2 --lr", "--lr", "value");
    check_parse_error("--lr abc", "--lr", "abc");
    check_parse_error("--lr nan", "--lr", "nan");
    check_parse_error("--lr inf", "--lr", "inf");
    check_parse_error("--lr 0.1x", "--lr", "0.1x");
    check_parse_error("--lr=", "--lr", NULL);
    check_parse_error("--hidden 100,", "--hidden", "100,");
    check_parse_error("--hidden ,", "--hidden", NULL);
    check_parse_error("--hidden 100,,10", "--hidden", NULL);
    check_parse_error("--hidden 1,2,3,4,5,6,7,8,9", "--hidden", NULL);
    check_parse_error("--sched bogus", "--sched", "bogus");
    check_parse_error("--epochs 1.5", "--epochs", "1.5");
    check_parse_error("--epochs 99999999999", "--epochs", NULL);
    check_parse_error("--seed -1", "--seed", NULL);
    check_parse_error("--nesterov=2", "--nesterov", NULL);
    check_parse_error("--no-lr", "--no-lr", NULL); /* only flags have a --no- form */
    check_parse_error("stray", "stray", NULL);

    /* a negative seed is refused also when the value has leading blanks (strtoull skips them,
     * then negates: " -1" would become 2^64 - 1) */
    static const char *const negative_seeds[] = {"--seed= -1", "--seed=\t-5"};
    for (int i = 0; i < 2; i++) {
        Config c;
        ParseResult what;
        Err e;
        char arg[32];
        snprintf(arg, sizeof arg, "%s", negative_seeds[i]);
        char *argv[2] = {"mpitrain", arg};
        config_defaults(&c);
        err_clear(&e);
        int rc = config_parse(&c, 2, argv, &what, &e);
        CHECK_MSG(rc == ERR_INPUT && strstr(e.msg, "--seed") != NULL,
                  "parse \"%s\": expected ERR_INPUT naming --seed, got %d with seed %llu "
                  "(message \"%s\")",
                  negative_seeds[i], rc, (unsigned long long)c.seed, e.msg);
    }
}

/* Parses, then config_validate on world_size ranks refuses it naming the option. */
static void check_invalid(const char *line, int world_size, const char *word)
{
    Config c;
    if (!parses(&c, line))
        return;
    Err e;
    err_clear(&e);
    int rc = config_validate(&c, world_size, &e);
    if (!CHECK_MSG(rc == ERR_INPUT && e.code == ERR_INPUT,
                   "validate \"%s\" on %d ranks: expected ERR_INPUT, got %d (message \"%s\")",
                   line, world_size, rc, e.msg))
        return;
    CHECK_MSG(strstr(e.msg, word) != NULL, "validate \"%s\": message lacks \"%s\": \"%s\"", line,
              word, e.msg);
}

static void test_validate(void)
{
    Config c;
    Err e;
    config_defaults(&c);
    err_clear(&e);
    CHECK_MSG(config_validate(&c, 8, &e) == ERR_OK, "defaults on 8 ranks: %s", e.msg);
    CHECK_MSG(config_validate(&c, 100, &e) == ERR_OK, "defaults on 100 ranks: %s", e.msg);

    check_invalid("--lr 0", 1, "--lr");
    check_invalid("--lr -1", 1, "--lr");
    check_invalid("--sched step --gamma 0", 1, "--gamma");
    check_invalid("--sched step --step-size 0", 1, "--step-size");
    check_invalid("--batch-size 0", 1, "--batch-size");
    check_invalid("--batch-size 3", 4, "--batch-size");
    check_invalid("--batch-size 100", 101, "--batch-size");
    check_invalid("--epochs 0", 1, "--epochs");
    check_invalid("--patience -1", 1, "--patience");
    check_invalid("--factor 1.0", 1, "--factor");
    check_invalid("--factor 1.5", 1, "--factor");
    check_invalid("--factor 0", 1, "--factor");
    check_invalid("--sched multistep --milestones 5,3", 1, "--milestones");
    check_invalid("--sched multistep", 1, "--milestones");
    check_invalid("--momentum 0", 1, "--momentum");
    check_invalid("--dampening 0.5", 1, "--dampening"); /* with Nesterov (the default) */
    check_invalid("--resume auto", 1, "--checkpoint-dir");
    check_invalid("--hidden 0", 1, "--hidden");
    check_invalid("eval", 1, "--checkpoint");

    /* and their neighbours that are fine */
    static const char *const ok[] = {
        "--sched step --gamma 0.5",
        "--batch-size 4",
        "--factor 0.5",
        "--sched multistep --milestones 3,5,5",
        "--momentum 0 --no-nesterov",
        "--resume auto --checkpoint-dir ckpt",
        "--sched step --factor 1.5", /* factor matters for plateau only */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!parses(&c, ok[i]))
            continue;
        err_clear(&e);
        CHECK_MSG(config_validate(&c, 4, &e) == ERR_OK, "validate \"%s\" on 4 ranks: %s", ok[i],
                  e.msg);
    }
}

/* Every option formatted from `from`, given back as --name=value to a Config that starts as
 * `into`, formats the same. */
static void check_round_trip(const char *what, const Config *from, const Config *into)
{
    static char arg[CONFIG_PATH_MAX + 64], want[CONFIG_PATH_MAX + 32], got[CONFIG_PATH_MAX + 32];
    for (int i = 0; i < config_count(); i++) {
        config_format(from, i, want, sizeof want);
        snprintf(arg, sizeof arg, "--%s=%s", config_name(i), want);
        char *argv[2] = {"mpitrain", arg};
        Config c = *into;
        ParseResult pr;
        Err e;
        err_clear(&e);
        int rc = config_parse(&c, 2, argv, &pr, &e);
        if (!CHECK_MSG(rc == ERR_OK, "%s: parse \"%s\": %s", what, arg, e.msg))
            continue;
        config_format(&c, i, got, sizeof got);
        CHECK_MSG(strcmp(got, want) == 0, "%s: --%s: formatted \"%s\", parsed back as \"%s\"",
                  what, config_name(i), want, got);
    }
}

static void test_format_round_trip(void)
{
    Config def, zero, other;
    config_defaults(&def);
    /* into a zeroed Config, so that a parse that stored nothing shows */
    memset(&zero, 0, sizeof zero);
    check_round_trip("defaults", &def, &zero);

    /* values away from the defaults, into the defaults */
    ParseResult what;
    Err e;
    int rc = parse_line(&other,
                        "--data /tmp/some/mnist --normalize --hidden 512,256,64 --seed 987654321 "
                        "--batch-size 250 --epochs 17 --max-steps 123456789012 --no-shuffle "
                        "--drop-last --lr 0.30000000000000004 --momentum 0.95 --no-nesterov "
                        "--dampening 0.1 --weight-decay 5e-4 --lr-scaling linear --lr-base-batch 256 "
                        "--sched multistep --step-size 4 "
                        "--gamma 0.3333333333333333 --milestones 2,4,4,9 --t-max 12 "
                        "--eta-min 1e-6 --plateau-mode min --plateau-metric val_loss "
                        "--factor 0.25 --patience 3 --threshold 0.01 --threshold-mode abs "
                        "--cooldown 2 --min-lr 1e-5 --plateau-eps 1e-9 --warmup-epochs 2 --quiet "
                        "--progress off --metrics m.jsonl --checkpoint-dir ck "
                        "--checkpoint-every-epochs 2 --checkpoint-every-steps 500 --keep 5 "
                        "--resume auto --init-from w.h5 --checkpoint c.h5",
                        &what, &e);
    if (!CHECK_MSG(rc == ERR_OK, "parse of many non-defaults: %s", e.msg))
        return;
    /* every option differs from its default, so the round trip below checks each one */
    char a[CONFIG_PATH_MAX + 32], b[CONFIG_PATH_MAX + 32];
    for (int i = 0; i < config_count(); i++) {
        config_format(&def, i, a, sizeof a);
        config_format(&other, i, b, sizeof b);
        CHECK_MSG(strcmp(a, b) != 0, "--%s: the test should give it a non-default value (both %s)",
                  config_name(i), a);
    }
    check_round_trip("non-defaults", &other, &def);
}

/* config_format gives doubles exactly: the text reads back as the same double (formatting then
 * reparsing alone would not notice a lossy format, which is idempotent). */
static void test_format_exact_doubles(void)
{
    int lr = -1;
    for (int i = 0; i < config_count(); i++)
        if (strcmp(config_name(i), "lr") == 0)
            lr = i;
    if (!CHECK_MSG(lr >= 0, "no option named lr"))
        return;
    const double values[] = {0.1 + 0.2, 1.0 / 3, 2.0 / 3 * 1e-7, 1e-300, 4.9406564584124654e-324,
                             123456789.12345679, 0.1, 1e22, -2.5e-5};
    for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
        Config c;
        config_defaults(&c);
        c.lr = values[k];
        char text[64];
        config_format(&c, lr, text, sizeof text);
        char *end;
        double back = strtod(text, &end);
        CHECK_MSG(*end == '\0' && back == values[k],
                  "config_format(lr = %.17g) gave \"%s\", which reads back as %.17g", values[k],
                  text, back);
    }
}

static void test_help(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!CHECK_MSG(f != NULL, "open_memstream failed"))
        return;
    config_print_help(f);
    if (!CHECK_MSG(fclose(f) == 0 && text != NULL, "cannot close the memstream")) {
        free(text);
        return;
    }
    /* every option appears as "--name " or, for flags, "--[no-]name " */
    for (int i = 0; i < config_count(); i++) {
        char plain[128], flag[128];
        snprintf(plain, sizeof plain, "--%s ", config_name(i));
        snprintf(flag, sizeof flag, "--[no-]%s ", config_name(i));
        CHECK_MSG(strstr(text, plain) != NULL || strstr(text, flag) != NULL,
                  "--help does not mention --%s", config_name(i));
    }
    CHECK_STR_HAS(text, "--help");
    CHECK_STR_HAS(text, "--version");
    const char *codes = strstr(text, "Exit codes");
    if (CHECK_MSG(codes != NULL, "--help has no \"Exit codes\" section")) {
        static const char *const lines[] = {"\n  0  ", "\n  1  ", "\n  2  ", "\n  3  "};
        for (int k = 0; k < 4; k++)
            CHECK_MSG(strstr(codes, lines[k]) != NULL, "--help: exit code %d not listed", k);
    }
    free(text);
}

int main(void)
{
    test_defaults();
    test_parse_good();
    test_parse_errors();
    test_validate();
    test_format_round_trip();
    test_format_exact_doubles();
    test_help();
    return check_summary();
}
