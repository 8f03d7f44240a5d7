/* libmathx: a tiny integer maths library (buildbot-modules example). */
#include <errno.h>
#include "mathx.h"

const char *mathx_version(void)
{
    return MATHX_VERSION;
}

long mathx_add(long a, long b)
{
    long r;

    if (__builtin_add_overflow(a, b, &r))
        errno = ERANGE;
    return r;
}

long mathx_mul(long a, long b)
{
    long r;

    if (__builtin_mul_overflow(a, b, &r))
        errno = ERANGE;
    return r;
}

long mathx_pow(long base, unsigned int exponent)
{
    long result = 1;

    while (exponent-- > 0)
        result = mathx_mul(result, base);
    return result;
}

long mathx_factorial(unsigned int n)
{
    long result = 1;

    while (n > 1)
        result = mathx_mul(result, (long)n--);
    return result;
}
