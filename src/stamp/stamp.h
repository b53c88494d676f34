/*
 * stamp.h: version stamps of module files, read without loading them.
 *
 * A stamp is the identity of the code in a module file: the GNU build-id
 * or an embedded version note of an ELF shared object (a content hash when
 * it has neither), or the MD5 that the Erlang VM reports as
 * Mod:module_info(md5) for a BEAM file; the MD5 of the bytes of an Erlang
 * application's resource file (NAME.app, NAME.appup), so that an
 * application upgrade can travel with its modules.  Two files with equal
 * stamps hold the same code, whatever their mtimes say.
 *
 * This code never prints and never exits: every failure is returned with a
 * message in the caller's buffer.  It is safe on arbitrary bytes.
 */
#ifndef STAMP_H
#define STAMP_H

#include <stddef.h>

/* What a stamp was read from; decides how it is printed. */
enum stamp_kind {
	STAMP_NONE = 0,   /* no stamp known */
	STAMP_BUILD_ID,   /* ELF NT_GNU_BUILD_ID note, printed in hex */
	STAMP_VERSION,    /* version string from a RELOADER_MODULE_VERSION note */
	STAMP_CONTENT,    /* MD5 of the whole file, for an ELF with no note */
	STAMP_BEAM_MD5    /* beam_lib:md5/1 of a BEAM file, printed in hex */
};

/* What a file holds, from its first bytes. */
enum stamp_format {
	STAMP_FMT_UNKNOWN = 0,
	STAMP_FMT_ELF,
	STAMP_FMT_BEAM    /* plain or gzip-compressed */
};

/* Results of the readers. */
#define STAMP_OK          0   /* complete file, stamp filled in */
#define STAMP_INCOMPLETE  1   /* still being written: look again later */
#define STAMP_INVALID    -1   /* corrupt, hostile, or not a module */
#define STAMP_UNREADABLE -2   /* could not be opened or read; errno says why */

#define STAMP_MAX        64   /* longest stamp kept, in bytes */
#define STAMP_MODULE_MAX 256  /* longest module name kept, with its NUL */
#define STAMP_ERR_MAX    256  /* a buffer this big holds any message */

/* The stamp of one module file; plain data, no pointers. */
struct stamp {
	enum stamp_kind kind;
	enum stamp_format format;
	size_t len;                     /* bytes used in bytes[] */
	unsigned char bytes[STAMP_MAX]; /* build-id, MD5, or version text */
	char module[STAMP_MODULE_MAX];  /* module name; "" if the file names none */
};

/* stamp.c */
enum stamp_format stamp_sniff(const unsigned char *, size_t);
int stamp_read_buf(const unsigned char *, size_t, struct stamp *, char *,
    size_t);
int stamp_read_file(const char *, struct stamp *, char *, size_t);
int stamp_read_fd(int, const char *, struct stamp *, char *, size_t);
int stamp_slurp(int, unsigned char **, size_t *, char *, size_t);
int stamp_equal(const struct stamp *, const struct stamp *);
const char *stamp_kind_name(enum stamp_kind);
void stamp_module_name(const char *, const struct stamp *, char *, size_t);
void stamp_format_value(const struct stamp *, char *, size_t);

/* stamp-elf.c */
int stamp_read_elf(const unsigned char *, size_t, struct stamp *, char *,
    size_t);

/* stamp-beam.c */
int stamp_read_beam(const unsigned char *, size_t, struct stamp *, char *,
    size_t);

#endif /* STAMP_H */
