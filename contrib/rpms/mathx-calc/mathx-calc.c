/* mathx-calc: command-line front end of libmathx (buildbot-modules example). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mathx.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: mathx-calc add A B | mul A B | pow BASE EXP | fact N"
            " | table N | version\n");
    exit(2);
}

static long arg(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0)
        usage();
    return v;
}

/* Prints a libmathx result, or fails if the computation overflowed. */
static void result(long value)
{
    if (errno == ERANGE) {
        fprintf(stderr, "mathx-calc: integer overflow\n");
        exit(1);
    }
    printf("%ld\n", value);
}

int main(int argc, char **argv)
{
    const char *op = argc > 1 ? argv[1] : "";

    if (argc == 2 && strcmp(op, "version") == 0) {
        printf("mathx-calc using libmathx %s\n", mathx_version());
    } else if (argc == 4 && strcmp(op, "add") == 0) {
        long a = arg(argv[2]), b = arg(argv[3]);

        errno = 0;
        result(mathx_add(a, b));
    } else if (argc == 4 && strcmp(op, "mul") == 0) {
        long a = arg(argv[2]), b = arg(argv[3]);

        errno = 0;
        result(mathx_mul(a, b));
    } else if (argc == 4 && strcmp(op, "pow") == 0) {
        long base = arg(argv[2]), exponent = arg(argv[3]);

        if (exponent < 0)
            usage();
        errno = 0;
        result(mathx_pow(base, (unsigned int)exponent));
    } else if (argc == 3 && strcmp(op, "fact") == 0) {
        long n = arg(argv[2]);

        if (n < 0)
            usage();
        errno = 0;
        result(mathx_factorial((unsigned int)n));
    } else if (argc == 3 && strcmp(op, "table") == 0) {
        long n = arg(argv[2]);

        if (n < 1 || n > 100)
            usage();
        for (long i = 1; i <= n; i++) {
            for (long j = 1; j <= n; j++)
                printf(j < n ? "%4ld " : "%4ld\n", mathx_mul(i, j));
        }
    } else {
        usage();
    }
    return 0;
}
