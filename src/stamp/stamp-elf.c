/*
 * stamp-elf.c: the stamp of an ELF shared object, read with libelf.
 *
 * The stamp is, in order of preference, the version in a reloader note
 * (RELOADER_MODULE_VERSION), the GNU build-id, or the MD5 of the whole
 * file.  The module name comes from the reloader note when there is one.
 *
 * The daemon reads files that a compiler may still be writing, so before
 * anything is taken from libelf this checks that every table, section and
 * segment the headers describe lies inside the bytes we have: if one does
 * not, the file is STAMP_INCOMPLETE and is looked at again on the next
 * event.  What can never become valid is STAMP_INVALID.  Every count that
 * drives a loop or an allocation is bounded by the file's length first,
 * so hostile headers cost no more than the file's size.
 *
 * On handing the caller's const buffer to elf_memory(): elfutils'
 * elf_memory() calls __libelf_read_mmaped_file() with ELF_C_READ, and in
 * that mode (libelf/elf_begin.c file_read_elf, elf32_getphdr.c,
 * elf32_getshdr.c, elf_getdata.c convert_data, elf_getdata_rawchunk.c,
 * gelf_getnote.c, elf_end.c) it only ever reads the image: headers and
 * data in the host's byte order are used in place, and anything that needs
 * byte-swapping or realigning is converted into malloc'd copies.  The
 * image is written only through the update interfaces (gelf_update_*,
 * elf_flag*, elf_newscn, elf_update, elf_compress), none of which this
 * file calls, and elf_end() never frees or unmaps an elf_memory() image.
 * So the buffer is passed as it is, without a copy, and stays unmodified
 * even when it is read-only memory.
 */
#include <sys/types.h>

#include <gelf.h>
#include <libelf.h>
#include <md5.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "reloader.h"
#include "stamp.h"

/* The owner name of GNU notes, with its NUL, as it is in the file. */
#define GNU_NOTE_OWNER "GNU"

/* Longest section name quoted in a message, so that messages stay short. */
#define NAME_QUOTE_MAX 48

/* What one call of stamp_read_elf() has learned so far. */
struct reader {
	const unsigned char *buf;
	size_t len;
	Elf *elf;
	GElf_Ehdr eh;
	int class;
	size_t shnum;           /* sections; 0 when there are no headers */
	size_t phnum;           /* program headers */
	size_t shstrndx;        /* section names; SHN_UNDEF for none */
	struct stamp *st;
	int have_module;        /* a reloader note was found */
	size_t verlen;          /* its version's length; 0 for none */
	char version[STAMP_MAX];
	size_t bidlen;          /* the build-id's length; 0 for none */
	unsigned char bid[STAMP_MAX];
	int in_segment;         /* notes come from a segment, not a section */
	char unwritten[NAME_QUOTE_MAX + 32]; /* where a build-id note is
					    still zeros, or "" */
	size_t src;             /* that section's or segment's index */
	GElf_Shdr src_sh;       /* that section's header */
	uint64_t note_bytes;    /* note bytes read so far */
	char where[NAME_QUOTE_MAX + 32]; /* note_where()'s answer */
	char *err;
	size_t errlen;
};

static int fail(struct reader *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a message for the caller and returns rc, to keep callers short. */
static int
fail(struct reader *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (r->err != NULL && r->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(r->err, r->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Adds an offset and a size; returns -1 if the sum does not fit 64 bits. */
static int
add_end(uint64_t off, uint64_t size, uint64_t *end)
{
	if (size > UINT64_MAX - off)
		return -1;
	*end = off + size;
	return 0;
}

/* Computes where a table of n entries of entsize bytes ends, or -1. */
static int
table_end(uint64_t off, uint64_t n, uint64_t entsize, uint64_t *end)
{
	if (entsize != 0 && n > UINT64_MAX / entsize)
		return -1;
	return add_end(off, n * entsize, end);
}

/* Names an ELF type for a message, since numbers mean little to a user. */
static const char *
type_name(unsigned int type, char *tmp, size_t tmplen)
{
	switch (type) {
	case ET_NONE:
		return "ET_NONE";
	case ET_REL:
		return "ET_REL";
	case ET_EXEC:
		return "ET_EXEC";
	case ET_CORE:
		return "ET_CORE";
	default:
		snprintf(tmp, tmplen, "0x%x", type);
		return tmp;
	}
}

/*
 * Names section i for a message: its name when the names are known and
 * printable enough, else its index, so that a hostile name cannot break
 * the message's single line.
 */
static const char *
section_name(struct reader *r, size_t i, const GElf_Shdr *sh, char *tmp,
    size_t tmplen)
{
	const char *name = NULL;
	size_t j;

	if (r->shstrndx != SHN_UNDEF)
		name = elf_strptr(r->elf, r->shstrndx, sh->sh_name);
	if (name == NULL || *name == '\0' || tmplen < 2) {
		snprintf(tmp, tmplen, "section %zu", i);
		return tmp;
	}
	for (j = 0; name[j] != '\0' && j < NAME_QUOTE_MAX && j + 1 < tmplen;
	    j++) {
		unsigned char c = (unsigned char)name[j];

		tmp[j] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	tmp[j] = '\0';
	return tmp;
}

/*
 * Checks e_ident, which libelf would otherwise read past the end of a
 * short buffer: everything present must be right, and the whole header
 * must be there before libelf sees the file.
 */
static int
check_ident(struct reader *r)
{
	const unsigned char *b = r->buf;
	size_t need;

	if (r->len == 0)
		return fail(r, STAMP_INCOMPLETE, "file is empty");
	if (memcmp(b, ELFMAG, r->len < SELFMAG ? r->len : SELFMAG) != 0)
		return fail(r, STAMP_INVALID, "not an ELF file");
	if (r->len > EI_CLASS && b[EI_CLASS] != ELFCLASS32 &&
	    b[EI_CLASS] != ELFCLASS64)
		return fail(r, STAMP_INVALID,
		    "ELF class %u is neither 32- nor 64-bit", b[EI_CLASS]);
	if (r->len > EI_DATA && b[EI_DATA] != ELFDATA2LSB &&
	    b[EI_DATA] != ELFDATA2MSB)
		return fail(r, STAMP_INVALID,
		    "ELF data encoding %u is unknown", b[EI_DATA]);
	if (r->len > EI_VERSION && b[EI_VERSION] != EV_CURRENT)
		return fail(r, STAMP_INVALID,
		    "ELF ident version is %u, expected %d", b[EI_VERSION],
		    EV_CURRENT);
	if (r->len <= EI_CLASS)
		return fail(r, STAMP_INCOMPLETE,
		    "file has %zu bytes, too few for an ELF header", r->len);
	r->class = b[EI_CLASS];
	need = r->class == ELFCLASS64 ? sizeof(Elf64_Ehdr) :
	    sizeof(Elf32_Ehdr);
	if (r->len < need)
		return fail(r, STAMP_INCOMPLETE,
		    "ELF header needs %zu bytes but the file has %zu", need,
		    r->len);
	return STAMP_OK;
}

/* Checks the fields of the ELF header that decide how the rest is read. */
static int
check_header(struct reader *r)
{
	size_t ehsize;
	char tmp[16];

	if (gelf_getehdr(r->elf, &r->eh) == NULL)
		return fail(r, STAMP_INVALID, "ELF header: %s", elf_errmsg(-1));
	ehsize = r->class == ELFCLASS64 ? sizeof(Elf64_Ehdr) :
	    sizeof(Elf32_Ehdr);
	if (r->eh.e_version != EV_CURRENT)
		return fail(r, STAMP_INVALID, "e_version is %u, expected %d",
		    (unsigned int)r->eh.e_version, EV_CURRENT);
	if (r->eh.e_ehsize != ehsize)
		return fail(r, STAMP_INVALID, "e_ehsize is %u, expected %zu",
		    (unsigned int)r->eh.e_ehsize, ehsize);
	if (r->eh.e_type != ET_DYN)
		return fail(r, STAMP_INVALID,
		    "ELF type %s is not a shared object",
		    type_name(r->eh.e_type, tmp, sizeof(tmp)));
	return STAMP_OK;
}

/*
 * Reads the count of sections kept in section 0's sh_size when e_shnum is
 * 0 (more than SHN_LORESERVE sections); section 0 is known to be present.
 */
static int
extended_shnum(struct reader *r, size_t shentsize, uint64_t *count)
{
	Elf_Data *d;
	Elf32_Shdr s32;
	Elf64_Shdr s64;

	d = elf_getdata_rawchunk(r->elf, (int64_t)r->eh.e_shoff, shentsize,
	    ELF_T_SHDR);
	if (d == NULL || d->d_buf == NULL || d->d_size < shentsize)
		return fail(r, STAMP_INVALID, "section header 0: %s",
		    elf_errmsg(-1));
	if (r->class == ELFCLASS64) {
		memcpy(&s64, d->d_buf, sizeof(s64));
		*count = s64.sh_size;
	} else {
		memcpy(&s32, d->d_buf, sizeof(s32));
		*count = s32.sh_size;
	}
	return STAMP_OK;
}

/*
 * Checks that the section header table lies in the file and counts the
 * sections; libelf itself silently sees no sections in a truncated table,
 * which would hide a file that is still being written.
 */
static int
check_section_table(struct reader *r)
{
	size_t shentsize, n;
	uint64_t count, end;
	int rc;

	shentsize = r->class == ELFCLASS64 ? sizeof(Elf64_Shdr) :
	    sizeof(Elf32_Shdr);
	if (r->eh.e_shoff == 0) {
		if (r->eh.e_shnum != 0)
			return fail(r, STAMP_INVALID,
			    "e_shnum is %u but e_shoff is 0",
			    (unsigned int)r->eh.e_shnum);
		r->shnum = 0;
		return STAMP_OK;
	}
	if (r->eh.e_shentsize != shentsize)
		return fail(r, STAMP_INVALID, "e_shentsize is %u, expected %zu",
		    (unsigned int)r->eh.e_shentsize, shentsize);
	count = r->eh.e_shnum;
	if (count == 0) {
		if (add_end(r->eh.e_shoff, shentsize, &end) == -1)
			return fail(r, STAMP_INVALID,
			    "section header table at offset %ju overflows",
			    (uintmax_t)r->eh.e_shoff);
		if (end > r->len)
			return fail(r, STAMP_INCOMPLETE,
			    "section header table ends at byte %ju but the "
			    "file has %zu", (uintmax_t)end, r->len);
		if ((rc = extended_shnum(r, shentsize, &count)) != STAMP_OK)
			return rc;
		if (count == 0)
			return fail(r, STAMP_INVALID,
			    "e_shoff is %ju but there are no sections",
			    (uintmax_t)r->eh.e_shoff);
	}
	if (table_end(r->eh.e_shoff, count, shentsize, &end) == -1)
		return fail(r, STAMP_INVALID,
		    "section header table of %ju entries at offset %ju "
		    "overflows", (uintmax_t)count, (uintmax_t)r->eh.e_shoff);
	if (end > r->len)
		return fail(r, STAMP_INCOMPLETE,
		    "section header table ends at byte %ju but the file has %zu",
		    (uintmax_t)end, r->len);
	if (elf_getshdrnum(r->elf, &n) != 0)
		return fail(r, STAMP_INVALID, "section count: %s",
		    elf_errmsg(-1));
	if (n != count)
		return fail(r, STAMP_INVALID,
		    "libelf sees %zu sections where the header has %ju", n,
		    (uintmax_t)count);
	r->shnum = n;
	return STAMP_OK;
}

/*
 * Checks that the program header table lies in the file and counts its
 * entries, for the same reason as check_section_table().
 */
static int
check_segment_table(struct reader *r)
{
	size_t phentsize, n;
	uint64_t count, end;
	GElf_Shdr sh;

	phentsize = r->class == ELFCLASS64 ? sizeof(Elf64_Phdr) :
	    sizeof(Elf32_Phdr);
	count = r->eh.e_phnum;
	if (count == 0) {
		r->phnum = 0;
		return STAMP_OK;
	}
	if (r->eh.e_phoff == 0)
		return fail(r, STAMP_INVALID, "e_phnum is %ju but e_phoff is 0",
		    (uintmax_t)count);
	if (r->eh.e_phentsize != phentsize)
		return fail(r, STAMP_INVALID, "e_phentsize is %u, expected %zu",
		    (unsigned int)r->eh.e_phentsize, phentsize);
	if (count == PN_XNUM) {
		/* The real count is in section 0, which must exist. */
		if (r->shnum == 0)
			return fail(r, STAMP_INVALID,
			    "e_phnum is PN_XNUM but there is no section 0");
		if (gelf_getshdr(elf_getscn(r->elf, 0), &sh) == NULL)
			return fail(r, STAMP_INVALID, "section header 0: %s",
			    elf_errmsg(-1));
		count = sh.sh_info;
		if (count == 0)
			return fail(r, STAMP_INVALID,
			    "e_phnum is PN_XNUM but section 0's sh_info is 0");
	}
	if (table_end(r->eh.e_phoff, count, phentsize, &end) == -1)
		return fail(r, STAMP_INVALID,
		    "program header table of %ju entries at offset %ju "
		    "overflows", (uintmax_t)count, (uintmax_t)r->eh.e_phoff);
	if (end > r->len)
		return fail(r, STAMP_INCOMPLETE,
		    "program header table ends at byte %ju but the file has %zu",
		    (uintmax_t)end, r->len);
	if (elf_getphdrnum(r->elf, &n) != 0)
		return fail(r, STAMP_INVALID, "program header count: %s",
		    elf_errmsg(-1));
	if (n != count)
		return fail(r, STAMP_INVALID,
		    "libelf sees %zu program headers where the header has %ju",
		    n, (uintmax_t)count);
	/* gelf_getphdr() takes an int index. */
	if (n > INT32_MAX)
		return fail(r, STAMP_INVALID, "%zu program headers are too many",
		    n);
	r->phnum = n;
	return STAMP_OK;
}

/* Checks that every section with bytes in the file has all of them. */
static int
check_sections(struct reader *r)
{
	GElf_Shdr sh;
	uint64_t end;
	size_t i;

	for (i = 0; i < r->shnum; i++) {
		if (gelf_getshdr(elf_getscn(r->elf, i), &sh) == NULL)
			return fail(r, STAMP_INVALID, "section header %zu: %s",
			    i, elf_errmsg(-1));
		/* Section 0's sh_size may hold the section count. */
		if (sh.sh_type == SHT_NULL || sh.sh_type == SHT_NOBITS)
			continue;
		if (add_end(sh.sh_offset, sh.sh_size, &end) == -1)
			return fail(r, STAMP_INVALID,
			    "section %zu: offset %ju plus size %ju overflows", i,
			    (uintmax_t)sh.sh_offset, (uintmax_t)sh.sh_size);
		if (end > r->len)
			return fail(r, STAMP_INCOMPLETE,
			    "section %zu ends at byte %ju but the file has %zu",
			    i, (uintmax_t)end, r->len);
	}
	return STAMP_OK;
}

/* Checks that every segment has all of its file bytes. */
static int
check_segments(struct reader *r)
{
	GElf_Phdr ph;
	uint64_t end;
	size_t i;

	for (i = 0; i < r->phnum; i++) {
		if (gelf_getphdr(r->elf, (int)i, &ph) == NULL)
			return fail(r, STAMP_INVALID, "program header %zu: %s",
			    i, elf_errmsg(-1));
		if (ph.p_type == PT_NULL)
			continue;
		if (add_end(ph.p_offset, ph.p_filesz, &end) == -1)
			return fail(r, STAMP_INVALID,
			    "segment %zu: offset %ju plus size %ju overflows", i,
			    (uintmax_t)ph.p_offset, (uintmax_t)ph.p_filesz);
		if (end > r->len)
			return fail(r, STAMP_INCOMPLETE,
			    "segment %zu ends at byte %ju but the file has %zu",
			    i, (uintmax_t)end, r->len);
	}
	return STAMP_OK;
}

/* Checks e_shstrndx, so that section names can be used in messages. */
static int
check_shstrndx(struct reader *r)
{
	size_t ndx;

	/* With SHN_XINDEX the real index is in section 0's sh_link. */
	if (r->eh.e_shstrndx == SHN_XINDEX && r->shnum == 0)
		return fail(r, STAMP_INVALID,
		    "e_shstrndx is SHN_XINDEX but there is no section 0");
	if (elf_getshdrstrndx(r->elf, &ndx) != 0)
		return fail(r, STAMP_INVALID, "e_shstrndx: %s", elf_errmsg(-1));
	if (ndx != SHN_UNDEF && ndx >= r->shnum)
		return fail(r, STAMP_INVALID,
		    "e_shstrndx is %zu but there are %zu sections", ndx,
		    r->shnum);
	r->shstrndx = ndx;
	return STAMP_OK;
}

/* Tells whether len bytes are printable ASCII and free of reject. */
static int
printable(const unsigned char *s, size_t len, int reject)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == reject)
			return 0;
	return 1;
}

/*
 * Names the section or segment whose notes are being read, for a message.
 * Done only on failure: elf_strptr() may scan the string table, and doing
 * that for each of a hostile file's many note sections would be slow.
 */
static const char *
note_where(struct reader *r)
{
	if (r->in_segment)
		snprintf(r->where, sizeof(r->where), "segment %zu", r->src);
	else
		section_name(r, r->src, &r->src_sh, r->where, sizeof(r->where));
	return r->where;
}

/* Takes the module name and version from a reloader note's desc. */
static int
take_reloader_note(struct reader *r, const unsigned char *desc,
    size_t descsz)
{
	const unsigned char *nul, *ver;
	size_t namelen, verlen;

	if (r->have_module)
		return fail(r, STAMP_INVALID, "second reloader note, in %s",
		    note_where(r));
	/* The desc is exactly "name NUL version NUL". */
	if ((nul = memchr(desc, '\0', descsz)) == NULL)
		goto malformed;
	namelen = (size_t)(nul - desc);
	ver = nul + 1;
	if ((nul = memchr(ver, '\0', descsz - namelen - 1)) == NULL ||
	    nul != desc + descsz - 1)
		goto malformed;
	verlen = (size_t)(nul - ver);

	if (namelen == 0)
		return fail(r, STAMP_INVALID,
		    "reloader note in %s: the module name is empty",
		    note_where(r));
	if (namelen + 1 > STAMP_MODULE_MAX)
		return fail(r, STAMP_INVALID,
		    "reloader note in %s: the module name has %zu bytes, more "
		    "than %d", note_where(r), namelen, STAMP_MODULE_MAX - 1);
	if (!printable(desc, namelen, '/'))
		return fail(r, STAMP_INVALID,
		    "reloader note in %s: the module name is not printable "
		    "ASCII without '/'", note_where(r));
	if (verlen > STAMP_MAX)
		return fail(r, STAMP_INVALID,
		    "reloader note in %s: the version has %zu bytes, more "
		    "than %d", note_where(r), verlen, STAMP_MAX);
	if (!printable(ver, verlen, -1))
		return fail(r, STAMP_INVALID,
		    "reloader note in %s: the version is not printable ASCII",
		    note_where(r));

	memcpy(r->st->module, desc, namelen);
	r->st->module[namelen] = '\0';
	memcpy(r->version, ver, verlen);
	r->verlen = verlen;
	r->have_module = 1;
	return STAMP_OK;

malformed:
	return fail(r, STAMP_INVALID,
	    "reloader note in %s: desc of %zu bytes is not name NUL "
	    "version NUL", note_where(r), descsz);
}

/* Takes the first GNU build-id found; later ones are only checked. */
static int
take_build_id(struct reader *r, const unsigned char *desc, size_t descsz)
{
	if (descsz == 0 || descsz > STAMP_MAX)
		return fail(r, STAMP_INVALID,
		    "build-id note in %s has %zu bytes, expected 1 to %d",
		    note_where(r), descsz, STAMP_MAX);
	if (r->bidlen == 0) {
		memcpy(r->bid, desc, descsz);
		r->bidlen = descsz;
	}
	return STAMP_OK;
}

/* Says which part of the note at off gelf_getnote() could not read. */
static int
bad_note(struct reader *r, const Elf_Data *d, size_t off)
{
	const char *what = r->in_segment ? "segment" : "section";
	Elf32_Nhdr nh;
	size_t left = d->d_size - off;

	if (left < sizeof(nh))
		return fail(r, STAMP_INVALID,
		    "note in %s: %zu stray bytes at the end of its %s",
		    note_where(r), left, what);
	/* libelf has put the header in host byte order already. */
	memcpy(&nh, (const char *)d->d_buf + off, sizeof(nh));
	/* The name is padded to 4 bytes, as gelf_getnote() demands. */
	if (((uint64_t)nh.n_namesz + 3) / 4 * 4 > left - sizeof(nh))
		return fail(r, STAMP_INVALID,
		    "note in %s: namesz %u runs past its %s", note_where(r),
		    (unsigned int)nh.n_namesz, what);
	return fail(r, STAMP_INVALID, "note in %s: descsz %u runs past its %s",
	    note_where(r), (unsigned int)nh.n_descsz, what);
}

/*
 * Charges size bytes of notes to the file: real note sections (and note
 * segments) never overlap, so together they hold at most the file's
 * length, and a hostile file whose thousands of note headers all describe
 * the same bytes cannot make us read or convert them thousands of times.
 */
static int
charge_notes(struct reader *r, uint64_t size)
{
	if (size > r->len - r->note_bytes)
		return fail(r, STAMP_INVALID,
		    "note %ss hold more bytes than the file, at %s",
		    r->in_segment ? "segment" : "section", note_where(r));
	r->note_bytes += size;
	return STAMP_OK;
}

/* Says whether the notes being read are where a linker puts the
 * build-id: the section named so, or, without sections, any note
 * segment. */
static int
unwritten_id(struct reader *r)
{
	const char *name;

	if (r->in_segment)
		return 1;
	if (r->shstrndx == SHN_UNDEF)
		return 0;
	name = elf_strptr(r->elf, r->shstrndx, r->src_sh.sh_name);
	return name != NULL && strcmp(name, ".note.gnu.build-id") == 0;
}

/* Walks the notes in d, taking the reloader and build-id notes. */
static int
scan_notes(struct reader *r, Elf_Data *d)
{
	GElf_Nhdr nh;
	size_t off, next, name_off, desc_off;
	const char *name;
	const unsigned char *desc;
	int rc;

	if (d->d_type != ELF_T_NHDR && d->d_type != ELF_T_NHDR8)
		return fail(r, STAMP_INVALID, "notes in %s are compressed",
		    note_where(r));
	for (off = 0; off < d->d_size; off = next) {
		next = gelf_getnote(d, off, &nh, &name_off, &desc_off);
		if (next == 0)
			return bad_note(r, d, off);
		/* GNU ld writes the build-id last, once it has hashed the
		 * rest: until then its note is zeros.  Zeros elsewhere (a
		 * program's own zeroed .note section) are no sign. */
		if (nh.n_namesz == 0 && nh.n_descsz == 0 && nh.n_type == 0 &&
		    r->unwritten[0] == '\0' && unwritten_id(r))
			snprintf(r->unwritten, sizeof(r->unwritten), "%s",
			    note_where(r));
		name = (const char *)d->d_buf + name_off;
		desc = (const unsigned char *)d->d_buf + desc_off;
		rc = STAMP_OK;
		if (nh.n_namesz == sizeof(RELOADER_NOTE_OWNER) &&
		    memcmp(name, RELOADER_NOTE_OWNER,
		    sizeof(RELOADER_NOTE_OWNER)) == 0 &&
		    nh.n_type == RELOADER_NOTE_MODULE)
			rc = take_reloader_note(r, desc, nh.n_descsz);
		else if (nh.n_namesz == sizeof(GNU_NOTE_OWNER) &&
		    memcmp(name, GNU_NOTE_OWNER, sizeof(GNU_NOTE_OWNER)) == 0 &&
		    nh.n_type == NT_GNU_BUILD_ID)
			rc = take_build_id(r, desc, nh.n_descsz);
		if (rc != STAMP_OK)
			return rc;
	}
	return STAMP_OK;
}

/* Reads the notes of every SHT_NOTE section. */
static int
scan_note_sections(struct reader *r)
{
	Elf_Scn *scn;
	Elf_Data *d;
	size_t i;
	int rc;

	r->in_segment = 0;
	for (i = 1; i < r->shnum; i++) {
		scn = elf_getscn(r->elf, i);
		if (gelf_getshdr(scn, &r->src_sh) == NULL)
			return fail(r, STAMP_INVALID, "section header %zu: %s",
			    i, elf_errmsg(-1));
		if (r->src_sh.sh_type != SHT_NOTE || r->src_sh.sh_size == 0)
			continue;
		r->src = i;
		if ((rc = charge_notes(r, r->src_sh.sh_size)) != STAMP_OK)
			return rc;
		if ((d = elf_getdata(scn, NULL)) == NULL)
			return fail(r, STAMP_INVALID, "%s: %s", note_where(r),
			    elf_errmsg(-1));
		if ((rc = scan_notes(r, d)) != STAMP_OK)
			return rc;
	}
	return STAMP_OK;
}

/* Reads the notes of every PT_NOTE segment, for files without sections. */
static int
scan_note_segments(struct reader *r)
{
	GElf_Phdr ph;
	Elf_Data *d;
	size_t i;
	int rc;

	r->in_segment = 1;
	for (i = 0; i < r->phnum; i++) {
		if (gelf_getphdr(r->elf, (int)i, &ph) == NULL)
			return fail(r, STAMP_INVALID, "program header %zu: %s",
			    i, elf_errmsg(-1));
		if (ph.p_type != PT_NOTE || ph.p_filesz == 0)
			continue;
		r->src = i;
		if ((rc = charge_notes(r, ph.p_filesz)) != STAMP_OK)
			return rc;
		/* GNU property notes are 8-aligned, all others 4-aligned. */
		d = elf_getdata_rawchunk(r->elf, (int64_t)ph.p_offset,
		    (size_t)ph.p_filesz,
		    ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (d == NULL)
			return fail(r, STAMP_INVALID, "%s: %s", note_where(r),
			    elf_errmsg(-1));
		if ((rc = scan_notes(r, d)) != STAMP_OK)
			return rc;
	}
	return STAMP_OK;
}

/* Runs every check on an open descriptor, then fills in the stamp. */
static int
read_stamp(struct reader *r)
{
	MD5_CTX ctx;
	int rc;

	if ((rc = check_header(r)) != STAMP_OK ||
	    (rc = check_section_table(r)) != STAMP_OK ||
	    (rc = check_segment_table(r)) != STAMP_OK ||
	    (rc = check_sections(r)) != STAMP_OK ||
	    (rc = check_segments(r)) != STAMP_OK ||
	    (rc = check_shstrndx(r)) != STAMP_OK)
		return rc;
	if (r->shnum > 0)
		rc = scan_note_sections(r);
	else
		rc = scan_note_segments(r);
	if (rc != STAMP_OK)
		return rc;
	if (r->bidlen == 0 && r->unwritten[0] != '\0')
		return fail(r, STAMP_INCOMPLETE, "note in %s is zeros: the "
		    "linker has not written the build-id yet", r->unwritten);

	if (r->verlen > 0) {
		r->st->kind = STAMP_VERSION;
		memcpy(r->st->bytes, r->version, r->verlen);
		r->st->len = r->verlen;
	} else if (r->bidlen > 0) {
		r->st->kind = STAMP_BUILD_ID;
		memcpy(r->st->bytes, r->bid, r->bidlen);
		r->st->len = r->bidlen;
	} else {
		/* Neither note: only the bytes themselves identify the code. */
		MD5Init(&ctx);
		MD5Update(&ctx, r->buf, r->len);
		MD5Final(r->st->bytes, &ctx);
		r->st->kind = STAMP_CONTENT;
		r->st->len = MD5_DIGEST_LENGTH;
	}
	return STAMP_OK;
}

/* Reads the stamp of the ELF shared object in buf; see stamp.h. */
int
stamp_read_elf(const unsigned char *buf, size_t len, struct stamp *st,
    char *err, size_t errlen)
{
	struct reader r;
	int rc;

	memset(st, 0, sizeof(*st));
	st->format = STAMP_FMT_ELF;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(&r, 0, sizeof(r));
	r.buf = buf;
	r.len = len;
	r.st = st;
	r.err = err;
	r.errlen = errlen;
	r.shstrndx = SHN_UNDEF;

	if ((rc = check_ident(&r)) != STAMP_OK)
		return rc;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return fail(&r, STAMP_INVALID, "libelf: %s", elf_errmsg(-1));
	/* Casting away const is safe: see the top of this file. */
	if ((r.elf = elf_memory((char *)buf, len)) == NULL)
		return fail(&r, STAMP_INVALID, "libelf refuses the headers: %s",
		    elf_errmsg(-1));
	if (elf_kind(r.elf) != ELF_K_ELF)
		rc = fail(&r, STAMP_INVALID, "libelf does not see an ELF file");
	else
		rc = read_stamp(&r);
	elf_end(r.elf);
	if (rc != STAMP_OK) {
		/* No half-read stamp leaks out of a failure. */
		memset(st, 0, sizeof(*st));
		st->format = STAMP_FMT_ELF;
		if (err != NULL && errlen > 0 && err[0] == '\0')
			snprintf(err, errlen, "unreadable ELF file");
	}
	return rc;
}
