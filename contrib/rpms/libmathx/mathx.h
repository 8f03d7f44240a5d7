/* libmathx: a tiny integer maths library (buildbot-modules example). */
#ifndef MATHX_H
#define MATHX_H

#ifdef __cplusplus
extern "C" {
#endif

#define MATHX_VERSION "1.0"

/* On overflow the functions set errno to ERANGE (the result wraps). */

const char *mathx_version(void);
long mathx_add(long a, long b);
long mathx_mul(long a, long b);
long mathx_pow(long base, unsigned int exponent);
long mathx_factorial(unsigned int n);

#ifdef __cplusplus
}
#endif

#endif /* MATHX_H */
