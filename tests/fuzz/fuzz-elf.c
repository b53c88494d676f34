/*
 * fuzz-elf.c: feeds arbitrary bytes to stamp_read_elf().
 *
 * Beyond the sanitizers' own findings, a run fails if the reader returns
 * anything but its three results, gives a failure without a message, or
 * claims a stamp it did not fill in.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Checks one input against the reader's promises; aborts if one breaks. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stamp st;
	char err[STAMP_ERR_MAX];
	int rc;

	memset(err, 0, sizeof(err));
	rc = stamp_read_elf(data, size, &st, err, sizeof(err));
	if (rc != STAMP_OK && rc != STAMP_INCOMPLETE && rc != STAMP_INVALID)
		abort();
	if (rc != STAMP_OK && err[0] == '\0')
		abort();
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (st.format != STAMP_FMT_ELF)
		abort();
	if (rc == STAMP_OK) {
		if (st.kind != STAMP_BUILD_ID && st.kind != STAMP_VERSION &&
		    st.kind != STAMP_CONTENT)
			abort();
		if (st.len == 0 || st.len > STAMP_MAX)
			abort();
		if (memchr(st.module, '\0', sizeof(st.module)) == NULL)
			abort();
	} else if (st.kind != STAMP_NONE || st.len != 0)
		abort();
	return 0;
}
