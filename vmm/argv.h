/*
 * argv: split a command string into words the way a simple shell does,
 * for --exec: blanks (space, tab, newline) separate words; '...' keeps
 * everything literally; "..." too, except that a backslash escapes
 * \ " $ and `; outside quotes a backslash keeps the next character.
 * Quotes join with what touches them ("a"'b'c is one word, '' an empty
 * one). Nothing is expanded: $, *, ~ are ordinary characters.
 */
#ifndef VMM_ARGV_H
#define VMM_ARGV_H

#include <stddef.h>

/*
 * Split `s` into words, each ending in a NUL, packed one after another
 * into a new buffer *out (*len bytes, *argc words; the caller frees it).
 * Returns 0, -ENOMEM, or -EINVAL with *why set (an unterminated quote,
 * or no word at all).
 */
int argv_split(const char *s, char **out, size_t *len, unsigned int *argc,
	       const char **why);

#endif
