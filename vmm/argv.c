/* argv: see argv.h. */
#include "vmm/argv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n';
}

/*
 * One word from *sp into *dp; returns 0 or -EINVAL with *why. The output
 * never outgrows the input, so *dp needs no bound of its own.
 */
static int split_word(const char **sp, char **dp, const char **why)
{
	const char *s = *sp;
	char *d = *dp, quote = 0;

	for (; *s && (quote || !blank(*s)); s++) {
		if (quote == '\'' && *s != '\'') {
			*d++ = *s;
		} else if (*s == quote) {
			quote = 0;
		} else if (!quote && (*s == '\'' || *s == '"')) {
			quote = *s;
		} else if (*s == '\\' && s[1] &&
			   (!quote || strchr("\\\"$`", s[1]))) {
			*d++ = *++s;
		} else {
			*d++ = *s;
		}
	}
	if (quote) {
		*why = quote == '\'' ? "unterminated ' quote"
				     : "unterminated \" quote";
		return -EINVAL;
	}
	*d++ = 0;
	*sp = s;
	*dp = d;
	return 0;
}

int argv_split(const char *s, char **out, size_t *len, unsigned int *argc,
	       const char **why)
{
	char *buf = malloc(strlen(s) + 1), *d = buf;
	unsigned int n = 0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		while (blank(*s))
			s++;
		if (!*s)
			break;
		ret = split_word(&s, &d, why);
		if (ret)
			break;
		n++;
	}
	if (!ret && !n) {
		*why = "no command";
		ret = -EINVAL;
	}
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	*len = (size_t)(d - buf);
	*argc = n;
	return 0;
}
