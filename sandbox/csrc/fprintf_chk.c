/* glibc's fortified fprintf, which Debian's libseccomp.a (built against
 * glibc with _FORTIFY_SOURCE) calls in its PFC text export; musl has no
 * such symbol. Linked only into musl builds (sandbox/build.rs). The flag
 * selects glibc's extra %n checks, which plain vfprintf does not make. */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *stream, int flag, const char *format, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, format);
	n = vfprintf(stream, format, ap);
	va_end(ap);
	return n;
}
