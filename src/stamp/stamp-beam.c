/*
 * stamp-beam.c: the stamp of a BEAM file, read without loading it.
 *
 * The stamp is the MD5 that the Erlang VM reports as Mod:module_info(md5).
 * The VM computes it in beamfile_read() (erts/emulator/beam/beam_file.c)
 * over the data of a fixed list of chunks; beam_lib:md5/1 computes the
 * same value for every file the VM will load.  Where the two disagree on
 * files that only a hand-made BEAM would contain, this file follows the
 * VM, since the VM's answer is the one a running node reports:
 *
 *  - A chunk that occurs twice counts by its last occurrence (the VM's
 *    chunk table is overwritten as it walks the file; beam_lib keeps the
 *    first "Code", "StrT", ... it meets).
 *  - When both "AtU8" and "Atom" are present only "AtU8" is hashed
 *    (beam_lib hashes both).  A file with only the obsolete latin-1 "Atom"
 *    chunk is hashed as beam_lib does, though the VM refuses to load it
 *    (OTP 25 asks for it to be recompiled).
 *  - Bytes after the end that the FOR1 header declares are ignored: the VM
 *    loads such a file and reports the same MD5 (checked with
 *    code:load_binary/3 and erlang:load_module/2 on OTP 25, with 3 and 8
 *    stray bytes and with a whole extra chunk appended), while beam_lib
 *    reads them as chunks and fails on a partial one.
 *  - A chunk whose data or padding runs past the FOR1 end is an error, as
 *    in the VM (beam_lib does not look at the FOR1 size at all).
 *
 * Gzip-compressed BEAM files are what `erlc +compressed` writes; the VM
 * gunzips them with zlib:gunzip/1, which accepts several gzip members in a
 * row and rejects anything else after the last one.
 */
#include <limits.h>
#include <md5.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "stamp.h"

/* Largest decompressed BEAM accepted; real ones are well under 10 MiB. */
#define BEAM_INFLATE_MAX	(64u * 1024 * 1024)

/* The VM keeps sizes and counts in signed 32-bit integers. */
#define BEAM_INT32_MAX		0x7fffffffUL

/*
 * The VM refuses atom tables whose entry array would not fit in 1 GiB
 * (CHECK_ITEM_COUNT in beam_file.c, with 8-byte entries).
 */
#define BEAM_ATOM_COUNT_MAX	((1UL << 30) / 8)

/* The chunks that make up the MD5, in the order they are hashed. */
enum beam_chunk {
	CH_ATOM,	/* obsolete latin-1 atom table */
	CH_ATU8,	/* UTF-8 atom table */
	CH_CODE,
	CH_STRT,
	CH_IMPT,
	CH_EXPT,
	CH_FUNT,
	CH_LITT,
	CH_META,
	CH_COUNT
};

static const char beam_chunk_ids[CH_COUNT][5] = {
	"Atom", "AtU8", "Code", "StrT", "ImpT", "ExpT", "FunT", "LitT", "Meta"
};

/* Where one chunk's data lies in the (possibly decompressed) buffer. */
struct beam_ref {
	const unsigned char *data;
	size_t size;
	int present;
};

static void	beam_err(char *, size_t, const char *, ...)
		    __attribute__((__format__(__printf__, 3, 4)));

/* Formats a message into the caller's buffer, which may be absent. */
static void
beam_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Reads a big-endian 32-bit unsigned integer. */
static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Renders a 4-byte chunk id printably, since hostile files hold anything. */
static void
beam_fmt_id(char out[17], const unsigned char *id)
{
	size_t i, o = 0;

	for (i = 0; i < 4; i++) {
		if (id[i] >= 0x20 && id[i] < 0x7f && id[i] != '"' &&
		    id[i] != '\\')
			out[o++] = (char)id[i];
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", id[i]);
	}
	out[o] = '\0';
}

/*
 * Decodes one tagged number of the compact term encoding, the format that
 * OTP 28 uses for atom lengths when the atom count is negative; mirrors
 * beamreader_read_tagged() and rejects what the VM would reject for a
 * length (a value that does not fit in a machine word).
 */
static int
beam_read_compact(const unsigned char *p, size_t avail, uint64_t *val,
    size_t *used)
{
	unsigned int code, nbytes, i;
	uint64_t v;

	if (avail < 1)
		return -1;
	code = p[0];
	if ((code & 0x08) == 0) {
		*val = code >> 4;
		*used = 1;
		return 0;
	}
	if ((code & 0x10) == 0) {
		if (avail < 2)
			return -1;
		*val = (uint64_t)(code >> 5) << 8 | p[1];
		*used = 2;
		return 0;
	}
	/* 2 to 8 value bytes follow; 7 in the top bits means 9 or more. */
	if ((code >> 5) == 7)
		return -1;
	nbytes = (code >> 5) + 2;
	if (avail < 1 + (size_t)nbytes)
		return -1;
	v = 0;
	for (i = 0; i < nbytes; i++)
		v = v << 8 | p[1 + i];
	/* The VM takes a set top bit as a negative or oversized value. */
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*val = v;
	*used = 1 + nbytes;
	return 0;
}

/* Checks that a module name is well-formed UTF-8, as the VM's atoms are. */
static int
beam_utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (n - i - 1 < need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/*
 * Takes the module name, the first atom of the atom table, into st->module;
 * only this atom is needed, so the rest of the table is not walked.
 */
static int
beam_module_name(const struct beam_ref *at, int utf8, struct stamp *st,
    char *err, size_t errlen)
{
	const char *id = utf8 ? "AtU8" : "Atom";
	const unsigned char *p = at->data, *name;
	size_t avail = at->size, used, o, i;
	uint64_t namelen;
	uint32_t raw;
	int64_t count, scount;
	int long_counts = 0;

	if (avail < 4) {
		beam_err(err, errlen, "chunk \"%s\" of %zu bytes is too short "
		    "for an atom count", id, avail);
		return STAMP_INVALID;
	}
	raw = be32(p);
	scount = raw > BEAM_INT32_MAX ? (int64_t)raw - 0x100000000LL :
	    (int64_t)raw;
	/* OTP 28 marks compact-encoded lengths by a negative atom count. */
	count = scount;
	if (count < 0 && utf8) {
		long_counts = 1;
		count = -count;
	}
	if (count < 1 || (uint64_t)count >= BEAM_ATOM_COUNT_MAX) {
		beam_err(err, errlen, "chunk \"%s\" has an atom count of %lld",
		    id, (long long)scount);
		return STAMP_INVALID;
	}
	p += 4;
	avail -= 4;
	if (long_counts) {
		if (beam_read_compact(p, avail, &namelen, &used) == -1) {
			beam_err(err, errlen, "chunk \"%s\": bad length of "
			    "the first atom", id);
			return STAMP_INVALID;
		}
	} else {
		if (avail < 1) {
			beam_err(err, errlen, "chunk \"%s\" ends before the "
			    "length of the first atom", id);
			return STAMP_INVALID;
		}
		namelen = p[0];
		used = 1;
	}
	p += used;
	avail -= used;
	if (namelen > avail) {
		beam_err(err, errlen, "chunk \"%s\": the first atom is %llu "
		    "bytes but only %zu remain in the chunk", id,
		    (unsigned long long)namelen, avail);
		return STAMP_INVALID;
	}
	name = p;
	if (namelen == 0) {
		beam_err(err, errlen, "chunk \"%s\": the module name is "
		    "empty", id);
		return STAMP_INVALID;
	}
	if (memchr(name, '\0', namelen) != NULL) {
		beam_err(err, errlen, "chunk \"%s\": the module name holds a "
		    "NUL byte", id);
		return STAMP_INVALID;
	}
	if (utf8) {
		if (namelen >= STAMP_MODULE_MAX) {
			beam_err(err, errlen, "module name of %llu bytes is "
			    "longer than the %d allowed",
			    (unsigned long long)namelen, STAMP_MODULE_MAX - 1);
			return STAMP_INVALID;
		}
		if (!beam_utf8_ok(name, namelen)) {
			beam_err(err, errlen, "chunk \"%s\": the module name "
			    "is not valid UTF-8", id);
			return STAMP_INVALID;
		}
		memcpy(st->module, name, namelen);
		st->module[namelen] = '\0';
		return STAMP_OK;
	}
	/* Latin-1 names are stored as UTF-8, like every other name we keep. */
	for (i = 0, o = 0; i < namelen; i++) {
		if (o + (name[i] < 0x80 ? 1 : 2) >= STAMP_MODULE_MAX) {
			beam_err(err, errlen, "module name of %llu latin-1 "
			    "bytes is longer than the %d UTF-8 bytes allowed",
			    (unsigned long long)namelen, STAMP_MODULE_MAX - 1);
			return STAMP_INVALID;
		}
		if (name[i] < 0x80)
			st->module[o++] = (char)name[i];
		else {
			st->module[o++] = (char)(0xc0 | name[i] >> 6);
			st->module[o++] = (char)(0x80 | (name[i] & 0x3f));
		}
	}
	st->module[o] = '\0';
	return STAMP_OK;
}

/*
 * Feeds the lambda table to the MD5 the way the VM and beam_lib do: the
 * OldUniq field of each entry is hashed as zeros, because it comes from an
 * endian-dependent hash that must not make the MD5 differ across hosts.
 */
static void
beam_md5_funt(MD5_CTX *ctx, const unsigned char *p, size_t n)
{
	static const unsigned char zero[4];

	/* Shorter than its own count field: hashed as it is, as beam_lib does. */
	if (n < 4) {
		MD5Update(ctx, p, n);
		return;
	}
	MD5Update(ctx, p, 4);
	p += 4;
	n -= 4;
	while (n >= 24) {
		MD5Update(ctx, p, 20);
		MD5Update(ctx, zero, 4);
		p += 24;
		n -= 24;
	}
	/*
	 * A partial last entry is hashed as it is, as beam_lib's
	 * filter_funtab does; the VM refuses such a file.
	 */
	if (n > 0)
		MD5Update(ctx, p, n);
}

/* Says whether the first n bytes of buf could begin a plain BEAM file. */
static int
beam_prefix_ok(const unsigned char *buf, size_t n, char *err, size_t errlen)
{
	static const unsigned char for1[4] = { 'F', 'O', 'R', '1' };
	static const unsigned char beam[4] = { 'B', 'E', 'A', 'M' };
	size_t k;

	k = n < 4 ? n : 4;
	if (memcmp(buf, for1, k) != 0) {
		beam_err(err, errlen, "not a BEAM file: no \"FOR1\" header");
		return 0;
	}
	if (n > 8) {
		k = n < 12 ? n - 8 : 4;
		if (memcmp(buf + 8, beam, k) != 0) {
			beam_err(err, errlen, "not a BEAM file: the IFF form "
			    "type is not \"BEAM\"");
			return 0;
		}
	}
	return 1;
}

/*
 * Reads the stamp of an uncompressed BEAM image.  When sealed, the image
 * is known to be whole (it came out of a finished gzip stream), so missing
 * bytes make it invalid rather than incomplete.
 */
static int
beam_parse(const unsigned char *buf, size_t len, int sealed,
    struct stamp *st, char *err, size_t errlen)
{
	struct beam_ref refs[CH_COUNT];
	const struct beam_ref *at;
	const char *missing;
	char idbuf[17];
	size_t end, pos, size, padded;
	uint32_t form;
	MD5_CTX ctx;
	int i, rc;

	if (!beam_prefix_ok(buf, len, err, errlen))
		return STAMP_INVALID;
	if (len < 12) {
		beam_err(err, errlen, "only %zu bytes, less than a BEAM "
		    "header", len);
		return sealed ? STAMP_INVALID : STAMP_INCOMPLETE;
	}
	form = be32(buf + 4);
	if (form > BEAM_INT32_MAX || form < 4) {
		beam_err(err, errlen, "FOR1 size %lu is not a valid size",
		    (unsigned long)form);
		return STAMP_INVALID;
	}
	/* Cannot overflow: form is below 2^31. */
	end = 8 + (size_t)form;

	/*
	 * Walk the chunk headers.  Every step moves at least 8 bytes, and
	 * sizes are checked against what is left before being added, so
	 * neither the loop nor the arithmetic can run away.  The walk stops
	 * at the first header not yet written, but rejects anything already
	 * visible that no complete file could contain.
	 */
	memset(refs, 0, sizeof(refs));
	for (pos = 12; pos < end; pos += 8 + padded) {
		if (end - pos < 8) {
			beam_err(err, errlen, "%zu stray bytes at offset %zu "
			    "where a chunk header should be", end - pos, pos);
			return STAMP_INVALID;
		}
		if (len < pos + 8)
			break;
		beam_fmt_id(idbuf, buf + pos);
		size = be32(buf + pos + 4);
		if (size > BEAM_INT32_MAX || size > end - pos - 8) {
			beam_err(err, errlen, "chunk \"%s\" of %zu bytes at "
			    "offset %zu runs past the end of the file (%zu "
			    "bytes)", idbuf, size, pos, end);
			return STAMP_INVALID;
		}
		/* Cannot wrap: size is below 2^31. */
		padded = (size + 3) & ~(size_t)3;
		if (padded > end - pos - 8) {
			beam_err(err, errlen, "padding of chunk \"%s\" of %zu "
			    "bytes at offset %zu runs past the end of the file "
			    "(%zu bytes)", idbuf, size, pos, end);
			return STAMP_INVALID;
		}
		for (i = 0; i < CH_COUNT; i++) {
			if (memcmp(buf + pos, beam_chunk_ids[i], 4) == 0) {
				/* The VM counts the last of duplicates. */
				refs[i].data = buf + pos + 8;
				refs[i].size = size;
				refs[i].present = 1;
				break;
			}
		}
	}
	if (len < end) {
		beam_err(err, errlen, "FOR1 size %lu makes %zu bytes but the "
		    "file has %zu", (unsigned long)form, end, len);
		return sealed ? STAMP_INVALID : STAMP_INCOMPLETE;
	}

	/*
	 * The VM needs Code, ImpT and ExpT with some data (an empty one
	 * counts as missing there).  beam_lib also wants StrT, but the VM
	 * loads a module without one and reports the same MD5, and the VM
	 * is what module_info(md5) speaks for.
	 */
	missing = NULL;
	if (!refs[CH_CODE].present || refs[CH_CODE].size == 0)
		missing = "Code";
	else if (!refs[CH_IMPT].present || refs[CH_IMPT].size == 0)
		missing = "ImpT";
	else if (!refs[CH_EXPT].present || refs[CH_EXPT].size == 0)
		missing = "ExpT";
	if (missing != NULL) {
		beam_err(err, errlen, "no \"%s\" chunk", missing);
		return STAMP_INVALID;
	}
	if (refs[CH_ATU8].present && refs[CH_ATU8].size > 0)
		at = &refs[CH_ATU8];
	else if (refs[CH_ATOM].present && refs[CH_ATOM].size > 0)
		at = &refs[CH_ATOM];
	else {
		beam_err(err, errlen, "no atom table (\"AtU8\" or \"Atom\" "
		    "chunk)");
		return STAMP_INVALID;
	}
	rc = beam_module_name(at, at == &refs[CH_ATU8], st, err, errlen);
	if (rc != STAMP_OK)
		return rc;

	MD5Init(&ctx);
	MD5Update(&ctx, at->data, at->size);
	for (i = CH_CODE; i < CH_COUNT; i++) {
		if (!refs[i].present)
			continue;
		if (i == CH_FUNT)
			beam_md5_funt(&ctx, refs[i].data, refs[i].size);
		else
			MD5Update(&ctx, refs[i].data, refs[i].size);
	}
	MD5Final(st->bytes, &ctx);
	st->kind = STAMP_BEAM_MD5;
	st->len = MD5_DIGEST_LENGTH;
	return STAMP_OK;
}

/*
 * Gunzips a compressed BEAM into a malloc'd buffer, accepting several gzip
 * members in a row as zlib:gunzip/1 does; a stream cut short is taken to
 * be still being written.
 */
static int
beam_gunzip(const unsigned char *buf, size_t len, unsigned char **outp,
    size_t *outlenp, char *err, size_t errlen)
{
	z_stream zs;
	unsigned char *out = NULL, *nout;
	size_t cap, done, in_off = 0, in_chunk;
	int zr, rc;

	*outp = NULL;
	*outlenp = 0;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		beam_err(err, errlen, "cannot start zlib: %s",
		    zs.msg != NULL ? zs.msg : "out of memory");
		return STAMP_INVALID;
	}
	/* A guess from the input size; doubled as needed up to the cap. */
	cap = len < BEAM_INFLATE_MAX / 4 ? len * 4 : BEAM_INFLATE_MAX;
	if (cap < 4096)
		cap = 4096;
	if ((out = malloc(cap)) == NULL) {
		beam_err(err, errlen, "out of memory for %zu bytes", cap);
		rc = STAMP_INVALID;
		goto end;
	}
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	for (;;) {
		/* zlib counts input in uInt; feed big buffers in slices. */
		if (zs.avail_in == 0 && in_off < len) {
			in_chunk = len - in_off;
			if (in_chunk > UINT_MAX)
				in_chunk = UINT_MAX;
			zs.next_in = (z_const Bytef *)(buf + in_off);
			zs.avail_in = (uInt)in_chunk;
			in_off += in_chunk;
		}
		if (zs.avail_out == 0) {
			if (cap >= BEAM_INFLATE_MAX) {
				beam_err(err, errlen, "decompresses to more "
				    "than %u MiB", BEAM_INFLATE_MAX >> 20);
				rc = STAMP_INVALID;
				goto end;
			}
			/*
			 * The buffer is full, so all of it is output; not
			 * total_out, which inflateReset() zeroes per member.
			 */
			done = cap;
			cap = cap > BEAM_INFLATE_MAX / 2 ? BEAM_INFLATE_MAX :
			    cap * 2;
			if ((nout = realloc(out, cap)) == NULL) {
				beam_err(err, errlen, "out of memory for %zu "
				    "bytes", cap);
				rc = STAMP_INVALID;
				goto end;
			}
			out = nout;
			zs.next_out = out + done;
			zs.avail_out = (uInt)(cap - done);
		}
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0 && in_off == len)
				break;
			/* Another gzip member follows, or junk. */
			if (inflateReset(&zs) != Z_OK) {
				beam_err(err, errlen, "zlib reset failed");
				rc = STAMP_INVALID;
				goto end;
			}
			continue;
		}
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && zs.avail_out == 0)
			continue;
		if (zr == Z_BUF_ERROR && zs.avail_in == 0 && in_off == len) {
			beam_err(err, errlen, "gzip stream ends after %zu "
			    "bytes without its trailer", len);
			rc = STAMP_INCOMPLETE;
			goto end;
		}
		beam_err(err, errlen, "bad gzip data at offset %zu: %s",
		    in_off - zs.avail_in, zs.msg != NULL ? zs.msg :
		    zr == Z_NEED_DICT ? "needs a dictionary" :
		    zr == Z_MEM_ERROR ? "out of memory" : "inflate failed");
		rc = STAMP_INVALID;
		goto end;
	}
	*outp = out;
	*outlenp = (size_t)(zs.next_out - out);
	out = NULL;
	rc = STAMP_OK;
end:
	inflateEnd(&zs);
	free(out);
	return rc;
}

/* Reads the stamp of a plain or gzip-compressed BEAM file held in buf. */
int
stamp_read_beam(const unsigned char *buf, size_t len, struct stamp *st,
    char *err, size_t errlen)
{
	unsigned char *plain;
	char sub[STAMP_ERR_MAX];
	size_t plainlen;
	int rc;

	memset(st, 0, sizeof(*st));
	st->format = STAMP_FMT_BEAM;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	if (len == 0) {
		beam_err(err, errlen, "file is empty");
		return STAMP_INCOMPLETE;
	}
	if (buf[0] != 0x1f) {
		rc = beam_parse(buf, len, 0, st, err, errlen);
		goto out;
	}

	if (len < 2) {
		beam_err(err, errlen, "only 1 byte of a gzip header");
		return STAMP_INCOMPLETE;
	}
	if (buf[1] != 0x8b) {
		beam_err(err, errlen, "not a BEAM file: bad gzip magic");
		return STAMP_INVALID;
	}
	rc = beam_gunzip(buf, len, &plain, &plainlen, err, errlen);
	if (rc != STAMP_OK)
		goto out;
	sub[0] = '\0';
	rc = beam_parse(plain, plainlen, 1, st, sub, sizeof(sub));
	free(plain);
	if (rc != STAMP_OK)
		beam_err(err, errlen, "after gunzip: %s", sub);
out:
	/* A failed read leaves no half-filled module name behind. */
	if (rc != STAMP_OK) {
		memset(st, 0, sizeof(*st));
		st->format = STAMP_FMT_BEAM;
	}
	return rc;
}
