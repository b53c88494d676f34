/*
 * fuzz-beam.c: stamp_read_beam() on arbitrary bytes.
 *
 * Beyond the sanitizers' checks, the reader must keep its contract: one of
 * the three results, a message on every failure, and on success a 16-byte
 * MD5 and a module name that is a proper C string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stamp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Feeds one input to the reader and aborts on any broken promise. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stamp st;
	char err[STAMP_ERR_MAX];
	size_t n;
	int rc;

	/* Garbage in the buffers, so that an unset field shows. */
	memset(&st, 0xa5, sizeof(st));
	memset(err, 'x', sizeof(err));
	rc = stamp_read_beam(data, size, &st, err, sizeof(err));
	if (rc != STAMP_OK && rc != STAMP_INCOMPLETE && rc != STAMP_INVALID)
		abort();
	if (st.format != STAMP_FMT_BEAM)
		abort();
	if (rc != STAMP_OK) {
		if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0' ||
		    err[0] == 'x' || strchr(err, '\n') != NULL)
			abort();
		if (st.kind != STAMP_NONE || st.len != 0 ||
		    st.module[0] != '\0')
			abort();
		return 0;
	}
	if (st.kind != STAMP_BEAM_MD5 || st.len != 16)
		abort();
	n = strnlen(st.module, sizeof(st.module));
	if (n == 0 || n == sizeof(st.module))
		abort();
	return 0;
}
