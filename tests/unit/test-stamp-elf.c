/*
 * test-stamp-elf.c: stamp_read_elf() against shared objects that gcc, ld,
 * strip and libelf really make, and against broken copies of them.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stamp.h"
#include "testutil.h"

static char *dir;          /* this test's scratch directory */
static char incdir[PATH_MAX]; /* the tree's include/, for reloader.h */

static const char src_a[] = "int f(int x) { return x * 3 + 1; }\n";
static const char src_b[] = "int f(int x) { return x * 5 + 2; }\n";

/* Finds the tree's include/ from wherever the test is run. */
static void
find_incdir(void)
{
	static const char *tops[] = { ".", "..", "../..", "../../.." };
	const char *env = getenv("TOP_SRCDIR");
	char probe[PATH_MAX];
	size_t i;

	if (env != NULL) {
		snprintf(probe, sizeof(probe), "%s/include/reloader.h", env);
		if (access(probe, R_OK) == 0 &&
		    realpath(env, incdir) != NULL) {
			strncat(incdir, "/include",
			    sizeof(incdir) - strlen(incdir) - 1);
			return;
		}
	}
	for (i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		snprintf(probe, sizeof(probe), "%s/include/reloader.h",
		    tops[i]);
		if (access(probe, R_OK) == 0) {
			snprintf(probe, sizeof(probe), "%s/include", tops[i]);
			if (realpath(probe, incdir) != NULL)
				return;
		}
	}
	incdir[0] = '\0';
}

/* Makes a scratch directory for each test. */
static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_msg(incdir[0] != '\0', "cannot find include/reloader.h");
}

/* Removes the scratch directory. */
static void
teardown(void)
{
	tu_rmrf(dir);
	dir = NULL;
}

/* Puts dir/name into buf. */
static char *
path_in(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* Runs a shell command that must succeed. */
static void
must_run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

/* Compiles src into dir/name.so with extra flags; returns its path. */
static char *
build(const char *name, const char *src, const char *flags)
{
	char c[PATH_MAX], so[PATH_MAX], *p;

	snprintf(c, sizeof(c), "%s/%s.c", dir, name);
	snprintf(so, sizeof(so), "%s/%s.so", dir, name);
	ck_assert_int_eq(tu_spew(c, src, strlen(src)), 0);
	must_run("gcc -shared -fPIC -Os -I'%s' %s -o '%s' '%s'", incdir,
	    flags, so, c);
	p = strdup(so);
	ck_assert_ptr_nonnull(p);
	return p;
}

/*
 * Builds name again after moving the first build aside, since the source
 * file's name is part of the output; returns the new path, and updates
 * *first to where the first build went.
 */
static char *
rebuild(char **first, const char *name, const char *src, const char *flags)
{
	char moved[PATH_MAX];

	snprintf(moved, sizeof(moved), "%s.first", *first);
	ck_assert_int_eq(rename(*first, moved), 0);
	free(*first);
	*first = strdup(moved);
	ck_assert_ptr_nonnull(*first);
	return build(name, src, flags);
}

/* Reads a file and returns stamp_read_elf()'s result on it. */
static int
stamp_file(const char *path, struct stamp *st, char *err, size_t errlen)
{
	unsigned char *buf;
	size_t len;
	int rc;

	buf = tu_slurp(path, &len);
	ck_assert_msg(buf != NULL, "cannot read %s", path);
	rc = stamp_read_elf(buf, len, st, err, errlen);
	free(buf);
	return rc;
}

/* Reads a file that must give a stamp. */
static void
stamp_ok(const char *path, struct stamp *st)
{
	char err[STAMP_ERR_MAX];
	int rc;

	rc = stamp_file(path, st, err, sizeof(err));
	ck_assert_msg(rc == STAMP_OK, "%s: rc %d: %s", path, rc, err);
	ck_assert_int_eq(st->format, STAMP_FMT_ELF);
}

/* Formats bytes in lower-case hex. */
static void
hex(const unsigned char *b, size_t n, char *out, size_t outlen)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n && 2 * i + 2 < outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Returns the build-id that readelf -n prints, as hex, or "". */
static void
readelf_build_id(const char *path, char *out, size_t outlen)
{
	char cmd[PATH_MAX + 64], *o, *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "LC_ALL=C readelf -n '%s'", path);
	o = tu_run(cmd);
	ck_assert_ptr_nonnull(o);
	out[0] = '\0';
	if ((p = strstr(o, "Build ID: ")) != NULL) {
		p += strlen("Build ID: ");
		n = strspn(p, "0123456789abcdef");
		if (n < outlen) {
			memcpy(out, p, n);
			out[n] = '\0';
		}
	}
	free(o);
}

/* Checks that path's stamp is the build-id that readelf reports. */
static void
check_build_id(const char *path, size_t expect_len, struct stamp *st)
{
	char got[2 * STAMP_MAX + 1], want[2 * STAMP_MAX + 1];

	stamp_ok(path, st);
	ck_assert_int_eq(st->kind, STAMP_BUILD_ID);
	ck_assert_uint_eq(st->len, expect_len);
	hex(st->bytes, st->len, got, sizeof(got));
	readelf_build_id(path, want, sizeof(want));
	ck_assert_str_eq(got, want);
}

/* Tells whether two stamps are of the same kind and value. */
static int
same_stamp(const struct stamp *a, const struct stamp *b)
{
	return a->kind == b->kind && a->len == b->len &&
	    memcmp(a->bytes, b->bytes, a->len) == 0 &&
	    strcmp(a->module, b->module) == 0;
}

/* Asserts a result, and that the message matches the glob *want_msg*. */
static void
expect(const char *path, int want_rc, const char *want_msg)
{
	struct stamp st;
	char err[STAMP_ERR_MAX], pat[STAMP_ERR_MAX + 2];
	int rc;

	memset(err, 0, sizeof(err));
	rc = stamp_file(path, &st, err, sizeof(err));
	ck_assert_msg(rc == want_rc, "%s: rc %d, wanted %d (%s)", path, rc,
	    want_rc, err);
	ck_assert_msg(err[0] != '\0', "%s: no message", path);
	ck_assert_msg(strchr(err, '\n') == NULL, "message has a newline");
	ck_assert_msg(strstr(err, dir) == NULL, "message has the path: %s",
	    err);
	if (want_msg != NULL) {
		snprintf(pat, sizeof(pat), "*%s*", want_msg);
		ck_assert_msg(fnmatch(pat, err, 0) == 0,
		    "message \"%s\" does not match \"%s\"", err, pat);
	}
	ck_assert_int_eq(st.kind, STAMP_NONE);
	ck_assert_uint_eq(st.len, 0);
	ck_assert_int_eq(st.format, STAMP_FMT_ELF);
}

/* Loads a file, lets patch change the copy, writes it as dir/name. */
static char *
patched(const char *from, const char *name,
    void (*patch)(unsigned char *, size_t *, void *), void *arg)
{
	char out[PATH_MAX];
	unsigned char *buf;
	size_t len;
	char *p;

	buf = tu_slurp(from, &len);
	ck_assert_ptr_nonnull(buf);
	patch(buf, &len, arg);
	path_in(name, out, sizeof(out));
	ck_assert_int_eq(tu_spew(out, buf, len), 0);
	free(buf);
	p = strdup(out);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Reads the native ELF64 header of a test file. */
static Elf64_Ehdr
ehdr_of(const unsigned char *buf, size_t len)
{
	Elf64_Ehdr eh;

	ck_assert_uint_ge(len, sizeof(eh));
	memcpy(&eh, buf, sizeof(eh));
	ck_assert_int_eq(eh.e_ident[EI_CLASS], ELFCLASS64);
	return eh;
}

/* Finds a note by its 12-byte header and owner; returns its offset. */
static size_t
find_note(const unsigned char *buf, size_t len, uint32_t namesz,
    uint32_t descsz, uint32_t type, const char *owner)
{
	unsigned char pat[12 + 16];
	size_t i, n = 12 + namesz;

	ck_assert_uint_le(n, sizeof(pat));
	memcpy(pat, &namesz, 4);
	memcpy(pat + 4, &descsz, 4);
	memcpy(pat + 8, &type, 4);
	memcpy(pat + 12, owner, namesz);
	for (i = 0; i + n <= len; i += 4)
		if (memcmp(buf + i, pat, n) == 0)
			return i;
	ck_abort_msg("note %s not found", owner);
	return 0;
}

/* Patch arguments: which ELF header field, and the value to put there. */
struct field {
	size_t off;
	size_t size;
	uint64_t value;
};

/* Sets one little-endian header field. */
static void
patch_field(unsigned char *buf, size_t *len, void *arg)
{
	const struct field *f = arg;

	ck_assert_uint_le(f->off + f->size, *len);
	if (f->size == 8) {
		memcpy(buf + f->off, &f->value, 8);
	} else if (f->size == 4) {
		uint32_t v = (uint32_t)f->value;
		memcpy(buf + f->off, &v, 4);
	} else if (f->size == 2) {
		uint16_t v = (uint16_t)f->value;
		memcpy(buf + f->off, &v, 2);
	} else {
		buf[f->off] = (unsigned char)f->value;
	}
}

/* Writes f into a copy of from named name, and checks the result. */
static void
expect_field(const char *from, const char *name, size_t off, size_t size,
    uint64_t value, int rc, const char *msg)
{
	struct field f = { off, size, value };
	char *p;

	p = patched(from, name, patch_field, &f);
	expect(p, rc, msg);
	free(p);
}

#define EH(field) offsetof(Elf64_Ehdr, field), \
	sizeof(((Elf64_Ehdr *)0)->field)

/* Cuts the section headers off, as sstrip does; *arg is unused. */
static void
patch_sstrip(unsigned char *buf, size_t *len, void *arg)
{
	Elf64_Ehdr eh = ehdr_of(buf, *len);
	Elf64_Phdr ph;
	uint64_t end = 0;
	size_t i;

	for (i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_offset + ph.p_filesz > end)
			end = ph.p_offset + ph.p_filesz;
	}
	eh.e_shoff = 0;
	eh.e_shnum = 0;
	eh.e_shstrndx = SHN_UNDEF;
	memcpy(buf, &eh, sizeof(eh));
	ck_assert_uint_le(end, *len);
	*len = end;
}

/* Patch arguments: where a 32-bit word goes, and its value. */
struct word {
	size_t off;
	uint32_t value;
};

/* Overwrites one 32-bit word. */
static void
patch_word(unsigned char *buf, size_t *len, void *arg)
{
	const struct word *w = arg;

	ck_assert_uint_le(w->off + 4, *len);
	memcpy(buf + w->off, &w->value, 4);
}

/* Zeroes the 36 bytes of a SHA-1 build-id note, as GNU ld leaves them
 * until it has hashed the rest of the file. */
static void
patch_unwritten_id(unsigned char *buf, size_t *len, void *arg)
{
	const size_t *off = arg;

	ck_assert_uint_le(*off + 36, *len);
	memset(buf + *off, 0, 36);
}

/* Makes the first executable section reach past the end of the file. */
static void
patch_text_offset(unsigned char *buf, size_t *len, void *arg)
{
	Elf64_Ehdr eh = ehdr_of(buf, *len);
	const uint64_t *off = arg;
	Elf64_Shdr sh;
	size_t i;

	for (i = 1; i < eh.e_shnum; i++) {
		unsigned char *p = buf + eh.e_shoff + i * sizeof(sh);

		memcpy(&sh, p, sizeof(sh));
		if (sh.sh_type == SHT_PROGBITS &&
		    (sh.sh_flags & SHF_EXECINSTR) != 0 && sh.sh_size > 0) {
			sh.sh_offset = *off == 0 ? *len : *off;
			memcpy(p, &sh, sizeof(sh));
			return;
		}
	}
	ck_abort_msg("no executable section");
}

/* Moves the last PT_LOAD segment's bytes past the end of the file. */
static void
patch_segment_offset(unsigned char *buf, size_t *len, void *arg)
{
	Elf64_Ehdr eh = ehdr_of(buf, *len);
	const uint64_t *off = arg;
	Elf64_Phdr ph;
	size_t i, last = SIZE_MAX;

	for (i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_filesz > 0)
			last = i;
	}
	ck_assert_uint_ne(last, SIZE_MAX);
	memcpy(&ph, buf + eh.e_phoff + last * sizeof(ph), sizeof(ph));
	ph.p_offset = *off == 0 ? *len : *off;
	memcpy(buf + eh.e_phoff + last * sizeof(ph), &ph, sizeof(ph));
}

/* Puts a huge (or zero) count in section 0, marks the counts extended. */
static void
patch_extended(unsigned char *buf, size_t *len, void *arg)
{
	Elf64_Ehdr eh = ehdr_of(buf, *len);
	const int *which = arg;
	Elf64_Shdr sh;

	memcpy(&sh, buf + eh.e_shoff, sizeof(sh));
	if (*which == 0) {
		sh.sh_size = 0xffffffffu;
		eh.e_shnum = 0;
	} else {
		sh.sh_info = *which == 1 ? 0xffffffffu : 0;
		eh.e_phnum = PN_XNUM;
	}
	memcpy(buf + eh.e_shoff, &sh, sizeof(sh));
	memcpy(buf, &eh, sizeof(eh));
}

/*
 * Appends a block of empty notes (no name, no desc, type 1) and a new
 * section header table whose sections are all notes over that block: each
 * is fine, but reading them all would read the file many times over.
 */
static void
patch_overlapping_notes(unsigned char *buf, size_t *len, void *arg)
{
	Elf64_Ehdr eh = ehdr_of(buf, *len);
	unsigned char **out = arg;
	const size_t block = 12 * 4096, n = 8;
	Elf64_Shdr note;
	unsigned char *nb;
	size_t i;

	nb = calloc(1, *len + block + n * sizeof(note));
	ck_assert_ptr_nonnull(nb);
	memcpy(nb, buf, *len);
	for (i = 0; i < block; i += 12)
		nb[*len + i + 8] = 1;
	memset(&note, 0, sizeof(note));
	note.sh_type = SHT_NOTE;
	note.sh_offset = *len;
	note.sh_size = block;
	note.sh_addralign = 4;
	for (i = 1; i < n; i++)
		memcpy(nb + *len + block + i * sizeof(note), &note,
		    sizeof(note));
	eh.e_shoff = *len + block;
	eh.e_shnum = (Elf64_Half)n;
	eh.e_shstrndx = SHN_UNDEF;
	memcpy(nb, &eh, sizeof(eh));
	*len += block + n * sizeof(note);
	*out = nb;
}

/* A GNU build-id for the synthetic files. */
static const unsigned char syn_id[20] = {
	0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
	0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0
};

/*
 * Writes a minimal ET_DYN with libelf in the given class and byte order:
 * one SHT_NOTE section (a GNU build-id, a reloader note naming "syn")
 * covered by one PT_NOTE segment.  libelf does the byte swapping, so this
 * tests the reader against a writer it shares no code with.
 */
static char *
synth(const char *name, int cls, int data)
{
	unsigned char notes[96];
	static const char shstr[] = "\0.note.syn\0.shstrtab";
	char path[PATH_MAX], *p;
	Elf32_Nhdr nh;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	GElf_Phdr ph;
	Elf_Scn *scn, *strscn;
	Elf_Data *d;
	Elf *e;
	size_t n = 0;
	int fd;

	nh.n_namesz = 4;
	nh.n_descsz = sizeof(syn_id);
	nh.n_type = NT_GNU_BUILD_ID;
	memcpy(notes + n, &nh, sizeof(nh));
	memcpy(notes + n + 12, "GNU", 4);
	memcpy(notes + n + 16, syn_id, sizeof(syn_id));
	n += 16 + sizeof(syn_id);
	nh.n_namesz = 9;
	nh.n_descsz = 5;
	nh.n_type = 1;
	memcpy(notes + n, &nh, sizeof(nh));
	memcpy(notes + n + 12, "reloader\0\0\0", 12);
	memcpy(notes + n + 24, "syn\0\0\0\0", 8);
	n += 32;

	ck_assert_int_ne(elf_version(EV_CURRENT), EV_NONE);
	path_in(name, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	e = elf_begin(fd, ELF_C_WRITE, NULL);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull((void *)gelf_newehdr(e, cls));
	ck_assert_ptr_nonnull(gelf_getehdr(e, &eh));
	eh.e_ident[EI_DATA] = (unsigned char)data;
	eh.e_type = ET_DYN;
	eh.e_machine = cls == ELFCLASS64 ? EM_PPC64 : EM_PPC;
	eh.e_version = EV_CURRENT;

	scn = elf_newscn(e);
	d = elf_newdata(scn);
	d->d_buf = notes;
	d->d_size = n;
	d->d_type = ELF_T_NHDR;
	d->d_align = 4;
	ck_assert_ptr_nonnull(gelf_getshdr(scn, &sh));
	sh.sh_name = 1;
	sh.sh_type = SHT_NOTE;
	sh.sh_flags = SHF_ALLOC;
	sh.sh_addralign = 4;
	ck_assert(gelf_update_shdr(scn, &sh));

	strscn = elf_newscn(e);
	d = elf_newdata(strscn);
	d->d_buf = (void *)(uintptr_t)shstr;
	d->d_size = sizeof(shstr);
	d->d_type = ELF_T_BYTE;
	d->d_align = 1;
	ck_assert_ptr_nonnull(gelf_getshdr(strscn, &sh));
	sh.sh_name = 11;
	sh.sh_type = SHT_STRTAB;
	ck_assert(gelf_update_shdr(strscn, &sh));
	eh.e_shstrndx = (GElf_Half)elf_ndxscn(strscn);
	ck_assert(gelf_update_ehdr(e, &eh));

	ck_assert_ptr_nonnull((void *)gelf_newphdr(e, 1));
	ck_assert_int_ge(elf_update(e, ELF_C_NULL), 0);
	ck_assert_ptr_nonnull(gelf_getshdr(scn, &sh));
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_NOTE;
	ph.p_flags = PF_R;
	ph.p_offset = sh.sh_offset;
	ph.p_filesz = ph.p_memsz = sh.sh_size;
	ph.p_align = 4;
	ck_assert(gelf_update_phdr(e, 0, &ph));
	ck_assert_msg(elf_update(e, ELF_C_WRITE) > 0, "elf_update: %s",
	    elf_errmsg(-1));
	elf_end(e);
	close(fd);
	p = strdup(path);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Zeroes the section header fields, which is the same in any order. */
static void
patch_no_sections(unsigned char *buf, size_t *len, void *arg)
{
	if (buf[EI_CLASS] == ELFCLASS64) {
		memset(buf + offsetof(Elf64_Ehdr, e_shoff), 0, 8);
		memset(buf + offsetof(Elf64_Ehdr, e_shnum), 0, 2);
		memset(buf + offsetof(Elf64_Ehdr, e_shstrndx), 0, 2);
	} else {
		memset(buf + offsetof(Elf32_Ehdr, e_shoff), 0, 4);
		memset(buf + offsetof(Elf32_Ehdr, e_shnum), 0, 2);
		memset(buf + offsetof(Elf32_Ehdr, e_shstrndx), 0, 2);
	}
}

/* Checks that every proper prefix of path is not taken as complete. */
static void
check_prefixes(const char *path, int all_incomplete)
{
	struct stamp st;
	char err[STAMP_ERR_MAX];
	unsigned char *buf, *cut;
	size_t len, n, incomplete = 0;
	int rc;

	buf = tu_slurp(path, &len);
	ck_assert_ptr_nonnull(buf);
	for (n = 0; n < len; n++) {
		/* An exact-size copy, so that the sanitizers see overreads. */
		cut = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(cut);
		memcpy(cut, buf, n);
		err[0] = '\0';
		rc = stamp_read_elf(cut, n, &st, err, sizeof(err));
		free(cut);
		ck_assert_msg(rc != STAMP_OK, "%s: prefix of %zu of %zu bytes "
		    "is OK", path, n, len);
		ck_assert_msg(rc == STAMP_INCOMPLETE || rc == STAMP_INVALID,
		    "rc %d", rc);
		ck_assert_msg(err[0] != '\0', "prefix %zu: no message", n);
		if (rc == STAMP_INCOMPLETE)
			incomplete++;
		else if (all_incomplete)
			ck_abort_msg("%s: prefix of %zu bytes is invalid: %s",
			    path, n, err);
	}
	ck_assert_uint_gt(incomplete, len / 2);
	rc = stamp_read_elf(buf, len, &st, err, sizeof(err));
	ck_assert_msg(rc == STAMP_OK, "whole file: %s", err);
	free(buf);
}

START_TEST(test_build_id_sha1)
{
	struct stamp st;
	char *so = build("a", src_a, "-Wl,--build-id=sha1");

	check_build_id(so, 20, &st);
	ck_assert_str_eq(st.module, "");
	free(so);
}
END_TEST

START_TEST(test_build_id_md5)
{
	struct stamp st;
	char *so = build("a", src_a, "-Wl,--build-id=md5");

	check_build_id(so, 16, &st);
	ck_assert_str_eq(st.module, "");
	free(so);
}
END_TEST

START_TEST(test_content_md5)
{
	struct stamp st;
	char got[2 * STAMP_MAX + 1], cmd[PATH_MAX + 32], *out;
	char *so = build("a", src_a, "-Wl,--build-id=none");

	stamp_ok(so, &st);
	ck_assert_int_eq(st.kind, STAMP_CONTENT);
	ck_assert_uint_eq(st.len, 16);
	ck_assert_str_eq(st.module, "");
	hex(st.bytes, st.len, got, sizeof(got));
	snprintf(cmd, sizeof(cmd), "md5sum '%s'", so);
	out = tu_run(cmd);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_gt(strlen(out), 32);
	out[32] = '\0';
	ck_assert_str_eq(got, out);
	free(out);
	free(so);
}
END_TEST

START_TEST(test_module_name)
{
	struct stamp st;
	char *so = build("a", "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"alpha\");\n"
	    "int f(int x) { return x; }\n", "-Wl,--build-id=sha1");

	check_build_id(so, 20, &st);
	ck_assert_str_eq(st.module, "alpha");
	free(so);
}
END_TEST

START_TEST(test_module_name_no_build_id)
{
	struct stamp st;
	char *so = build("a", "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"alpha\");\n"
	    "int f(int x) { return x; }\n", "-Wl,--build-id=none");

	stamp_ok(so, &st);
	ck_assert_int_eq(st.kind, STAMP_CONTENT);
	ck_assert_str_eq(st.module, "alpha");
	free(so);
}
END_TEST

START_TEST(test_module_version)
{
	struct stamp st;
	char *so = build("a", "#include <reloader.h>\n"
	    "RELOADER_MODULE_VERSION(\"beta\", \"1.2\");\n"
	    "int f(int x) { return x; }\n", "-Wl,--build-id=sha1");

	stamp_ok(so, &st);
	ck_assert_int_eq(st.kind, STAMP_VERSION);
	ck_assert_uint_eq(st.len, 3);
	ck_assert(memcmp(st.bytes, "1.2", 3) == 0);
	ck_assert_str_eq(st.module, "beta");
	free(so);
}
END_TEST

START_TEST(test_limits_of_names)
{
	char src[1024], name[STAMP_MODULE_MAX + 1], ver[STAMP_MAX + 2];
	struct stamp st;
	char *so;

	/* The longest name and version that fit are taken whole. */
	memset(name, 'n', STAMP_MODULE_MAX - 1);
	name[STAMP_MODULE_MAX - 1] = '\0';
	memset(ver, 'v', STAMP_MAX);
	ver[STAMP_MAX] = '\0';
	snprintf(src, sizeof(src), "#include <reloader.h>\n"
	    "RELOADER_MODULE_VERSION(\"%s\", \"%s\");\n", name, ver);
	so = build("long", src, "");
	stamp_ok(so, &st);
	ck_assert_str_eq(st.module, name);
	ck_assert_int_eq(st.kind, STAMP_VERSION);
	ck_assert_uint_eq(st.len, STAMP_MAX);
	ck_assert(memcmp(st.bytes, ver, STAMP_MAX) == 0);
	free(so);

	/* One byte more is refused. */
	snprintf(src, sizeof(src), "#include <reloader.h>\n"
	    "RELOADER_MODULE_VERSION(\"%sn\", \"1\");\n", name);
	so = build("name", src, "");
	expect(so, STAMP_INVALID, "module name has 256 bytes");
	free(so);
	snprintf(src, sizeof(src), "#include <reloader.h>\n"
	    "RELOADER_MODULE_VERSION(\"m\", \"%sv\");\n", ver);
	so = build("ver", src, "");
	expect(so, STAMP_INVALID, "version has 65 bytes");
	free(so);
}
END_TEST

START_TEST(test_bad_names)
{
	char *so;

	so = build("slash", "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"a/b\");\n", "");
	expect(so, STAMP_INVALID, "not printable ASCII without '/'");
	free(so);
	so = build("empty", "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"\");\n", "");
	expect(so, STAMP_INVALID, "module name is empty");
	free(so);
	so = build("ctl", "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"a\\tb\");\n", "");
	expect(so, STAMP_INVALID, "module name is not printable");
	free(so);
	so = build("ver", "#include <reloader.h>\n"
	    "RELOADER_MODULE_VERSION(\"m\", \"1\\n2\");\n", "");
	expect(so, STAMP_INVALID, "version is not printable ASCII");
	free(so);
}
END_TEST

START_TEST(test_two_reloader_notes)
{
	char c1[PATH_MAX], c2[PATH_MAX], so[PATH_MAX];
	static const char n1[] = "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"one\");\n";
	static const char n2[] = "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"two\");\n";

	path_in("one.c", c1, sizeof(c1));
	path_in("two.c", c2, sizeof(c2));
	path_in("both.so", so, sizeof(so));
	ck_assert_int_eq(tu_spew(c1, n1, strlen(n1)), 0);
	ck_assert_int_eq(tu_spew(c2, n2, strlen(n2)), 0);
	must_run("gcc -shared -fPIC -I'%s' -o '%s' '%s' '%s'", incdir, so,
	    c1, c2);
	expect(so, STAMP_INVALID, "second reloader note");
}
END_TEST

START_TEST(test_build_id_sizes)
{
	char flags[256], id[2 * (STAMP_MAX + 4) + 1];
	struct stamp st;
	char *so;

	memset(id, 'a', 2 * STAMP_MAX);
	id[2 * STAMP_MAX] = '\0';
	snprintf(flags, sizeof(flags), "-Wl,--build-id=0x%s", id);
	so = build("max", src_a, flags);
	check_build_id(so, STAMP_MAX, &st);
	free(so);

	memset(id, 'b', 2 * (STAMP_MAX + 4));
	id[2 * (STAMP_MAX + 4)] = '\0';
	snprintf(flags, sizeof(flags), "-Wl,--build-id=0x%s", id);
	so = build("over", src_a, flags);
	expect(so, STAMP_INVALID, "has 68 bytes, expected 1 to 64");
	free(so);

	/* ld leaves an odd-sized desc unpadded; readelf refuses it too. */
	id[2 * (STAMP_MAX + 1)] = '\0';
	snprintf(flags, sizeof(flags), "-Wl,--build-id=0x%s", id);
	so = build("odd", src_a, flags);
	expect(so, STAMP_INVALID, "descsz 65 runs past its section");
	free(so);
}
END_TEST

START_TEST(test_code_changes_stamp)
{
	struct stamp a, a2, b;
	char *sa, *sa2, *sb;

	/* Build-ids follow the code, and a rebuild gives the same one. */
	sa = build("a", src_a, "-Wl,--build-id=sha1");
	sa2 = rebuild(&sa, "a", src_a, "-Wl,--build-id=sha1");
	sb = build("b", src_b, "-Wl,--build-id=sha1");
	stamp_ok(sa, &a);
	stamp_ok(sa2, &a2);
	stamp_ok(sb, &b);
	ck_assert(same_stamp(&a, &a2));
	ck_assert(!same_stamp(&a, &b));
	free(sa);
	free(sa2);
	free(sb);

	/* So do content hashes. */
	sa = build("ca", src_a, "-Wl,--build-id=none");
	sa2 = rebuild(&sa, "ca", src_a, "-Wl,--build-id=none");
	sb = build("cb", src_b, "-Wl,--build-id=none");
	stamp_ok(sa, &a);
	stamp_ok(sa2, &a2);
	stamp_ok(sb, &b);
	ck_assert_int_eq(a.kind, STAMP_CONTENT);
	ck_assert(same_stamp(&a, &a2));
	ck_assert(!same_stamp(&a, &b));
	free(sa);
	free(sa2);
	free(sb);
}
END_TEST

START_TEST(test_stripped)
{
	struct stamp st, sst;
	char stripped[PATH_MAX];
	struct stat sb1, sb2;
	char *so = build("a", "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"gamma\");\n" "int f(int x) { return x; }\n",
	    "-g -Wl,--build-id=sha1");

	path_in("s.so", stripped, sizeof(stripped));
	must_run("strip -o '%s' '%s'", stripped, so);
	ck_assert_int_eq(stat(so, &sb1), 0);
	ck_assert_int_eq(stat(stripped, &sb2), 0);
	ck_assert_int_lt(sb2.st_size, sb1.st_size);
	check_build_id(so, 20, &st);
	check_build_id(stripped, 20, &sst);
	ck_assert(same_stamp(&st, &sst));
	ck_assert_str_eq(sst.module, "gamma");
	free(so);
}
END_TEST

START_TEST(test_no_section_headers)
{
	struct stamp st, sst;
	char *so, *ss;

	/* Notes are found through PT_NOTE once the sections are gone. */
	so = build("a", "#include <reloader.h>\n"
	    "RELOADER_MODULE_VERSION(\"delta\", \"7\");\n"
	    "int f(int x) { return x; }\n", "-Wl,--build-id=sha1");
	ss = patched(so, "ss.so", patch_sstrip, NULL);
	stamp_ok(ss, &sst);
	ck_assert_int_eq(sst.kind, STAMP_VERSION);
	ck_assert_str_eq(sst.module, "delta");
	free(ss);
	free(so);

	so = build("b", src_a, "-Wl,--build-id=sha1");
	ss = patched(so, "sb.so", patch_sstrip, NULL);
	stamp_ok(so, &st);
	stamp_ok(ss, &sst);
	ck_assert_int_eq(sst.kind, STAMP_BUILD_ID);
	ck_assert(same_stamp(&st, &sst));
	free(ss);
	free(so);
}
END_TEST

START_TEST(test_elf32)
{
	char c[PATH_MAX], o[PATH_MAX], so[PATH_MAX];
	static const char src[] = "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"m32\");\nint g(void) { return 3; }\n";
	struct stamp st;

	path_in("t32.c", c, sizeof(c));
	path_in("t32.o", o, sizeof(o));
	path_in("t32.so", so, sizeof(so));
	ck_assert_int_eq(tu_spew(c, src, strlen(src)), 0);
	must_run("gcc -m32 -fPIC -Os -I'%s' -c -o '%s' '%s' && "
	    "ld -m elf_i386 -shared --build-id=sha1 -o '%s' '%s'", incdir, o,
	    c, so, o);
	check_build_id(so, 20, &st);
	ck_assert_str_eq(st.module, "m32");
	check_prefixes(so, 1);
}
END_TEST

START_TEST(test_foreign_byte_orders)
{
	static const struct {
		int cls, data;
		const char *name;
	} kinds[] = {
		{ ELFCLASS32, ELFDATA2LSB, "l32" },
		{ ELFCLASS32, ELFDATA2MSB, "b32" },
		{ ELFCLASS64, ELFDATA2LSB, "l64" },
		{ ELFCLASS64, ELFDATA2MSB, "b64" },
	};
	char nosec[64], *p, *q;
	struct stamp st;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		p = synth(kinds[i].name, kinds[i].cls, kinds[i].data);
		stamp_ok(p, &st);
		ck_assert_int_eq(st.kind, STAMP_BUILD_ID);
		ck_assert_uint_eq(st.len, sizeof(syn_id));
		ck_assert(memcmp(st.bytes, syn_id, sizeof(syn_id)) == 0);
		ck_assert_str_eq(st.module, "syn");
		check_prefixes(p, 1);

		snprintf(nosec, sizeof(nosec), "%s-nosec", kinds[i].name);
		q = patched(p, nosec, patch_no_sections, NULL);
		stamp_ok(q, &st);
		ck_assert_int_eq(st.kind, STAMP_BUILD_ID);
		ck_assert(memcmp(st.bytes, syn_id, sizeof(syn_id)) == 0);
		ck_assert_str_eq(st.module, "syn");
		free(q);
		free(p);
	}
}
END_TEST

START_TEST(test_every_prefix)
{
	char *so = build("a", "#include <reloader.h>\n"
	    "RELOADER_MODULE(\"eps\");\n" "int f(int x) { return x; }\n",
	    "-Wl,--build-id=sha1");

	check_prefixes(so, 1);
	free(so);
	so = build("b", src_a, "-s -Wl,--build-id=none");
	check_prefixes(so, 1);
	free(so);
}
END_TEST

START_TEST(test_read_only_buffer)
{
	struct stamp st, want;
	char err[STAMP_ERR_MAX];
	unsigned char *buf, *map;
	size_t len, maplen;
	long pg = sysconf(_SC_PAGESIZE);
	char *so, *big;

	/* Native and byte-swapped images, the latter needing conversion. */
	so = build("a", src_a, "-Wl,--build-id=sha1");
	big = synth("b64", ELFCLASS64, ELFDATA2MSB);
	for (int k = 0; k < 2; k++) {
		const char *p = k == 0 ? so : big;

		stamp_ok(p, &want);
		buf = tu_slurp(p, &len);
		ck_assert_ptr_nonnull(buf);
		maplen = (len + 1 + (size_t)pg) & ~((size_t)pg - 1);
		map = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert(map != MAP_FAILED);
		/* At an odd address too, to shake out alignment trouble. */
		memcpy(map + 1, buf, len);
		ck_assert_int_eq(mprotect(map, maplen, PROT_READ), 0);
		ck_assert_int_eq(stamp_read_elf(map + 1, len, &st, err,
		    sizeof(err)), STAMP_OK);
		ck_assert(same_stamp(&st, &want));
		ck_assert(memcmp(map + 1, buf, len) == 0);
		munmap(map, maplen);
		free(buf);
	}
	free(so);
	free(big);
}
END_TEST

START_TEST(test_not_shared_objects)
{
	char c[PATH_MAX], o[PATH_MAX], exe[PATH_MAX], txt[PATH_MAX];
	static const char text[] = "this is not an ELF file\n";

	path_in("r.c", c, sizeof(c));
	path_in("r.o", o, sizeof(o));
	path_in("exe", exe, sizeof(exe));
	ck_assert_int_eq(tu_spew(c, "int main(void) { return 0; }\n", 29), 0);
	must_run("gcc -c -o '%s' '%s' && gcc -no-pie -o '%s' '%s'", o, c,
	    exe, c);
	expect(o, STAMP_INVALID, "ELF type ET_REL is not a shared object");
	expect(exe, STAMP_INVALID, "ELF type ET_EXEC is not a shared object");

	path_in("t.txt", txt, sizeof(txt));
	ck_assert_int_eq(tu_spew(txt, text, strlen(text)), 0);
	expect(txt, STAMP_INVALID, "not an ELF file");
	ck_assert_int_eq(tu_spew(txt, "", 0), 0);
	expect(txt, STAMP_INCOMPLETE, "file is empty");
	ck_assert_int_eq(tu_spew(txt, "\177EL", 3), 0);
	expect(txt, STAMP_INCOMPLETE, "too few for an ELF header");
	ck_assert_int_eq(tu_spew(txt, "\177ELF\002\001\001", 7), 0);
	expect(txt, STAMP_INCOMPLETE, "ELF header needs 64 bytes but the "
	    "file has 7");
	ck_assert_int_eq(tu_spew(txt, "\177ELX", 4), 0);
	expect(txt, STAMP_INVALID, "not an ELF file");
}
END_TEST

START_TEST(test_bad_headers)
{
	unsigned char *buf;
	size_t len;
	Elf64_Ehdr eh;
	char msg[STAMP_ERR_MAX];
	char *so = build("a", src_a, "-Wl,--build-id=sha1");

	buf = tu_slurp(so, &len);
	ck_assert_ptr_nonnull(buf);
	eh = ehdr_of(buf, len);
	free(buf);

	expect_field(so, "class", EI_CLASS, 1, 7, STAMP_INVALID,
	    "ELF class 7 is neither 32- nor 64-bit");
	expect_field(so, "data", EI_DATA, 1, 0, STAMP_INVALID,
	    "ELF data encoding 0 is unknown");
	expect_field(so, "iver", EI_VERSION, 1, 2, STAMP_INVALID,
	    "ELF ident version is 2, expected 1");
	expect_field(so, "ver", EH(e_version), 0, STAMP_INVALID,
	    "e_version is 0, expected 1");
	expect_field(so, "ehsize", EH(e_ehsize), 52, STAMP_INVALID,
	    "e_ehsize is 52, expected 64");
	expect_field(so, "shentsize", EH(e_shentsize), 12, STAMP_INVALID,
	    "e_shentsize is 12, expected 64");
	expect_field(so, "phentsize", EH(e_phentsize), 32, STAMP_INVALID,
	    "e_phentsize is 32, expected 56");
	expect_field(so, "shoff0", EH(e_shoff), 0, STAMP_INVALID,
	    "but e_shoff is 0");
	expect_field(so, "phoff0", EH(e_phoff), 0, STAMP_INVALID,
	    "but e_phoff is 0");
	expect_field(so, "shstrndx", EH(e_shstrndx), 0xfeff, STAMP_INVALID,
	    "e_shstrndx is 65279 but there are");

	/* Offsets that wrap around are wrong for good... */
	expect_field(so, "shoffwrap", EH(e_shoff), UINT64_MAX - 100,
	    STAMP_INVALID, "overflows");
	expect_field(so, "phoffwrap", EH(e_phoff), UINT64_MAX - 100,
	    STAMP_INVALID, "overflows");
	/* ...but tables past the end may still be coming. */
	snprintf(msg, sizeof(msg), "section header table ends at byte %zu "
	    "but the file has %zu", 4 * len + eh.e_shnum * 64, len);
	expect_field(so, "shoffbig", EH(e_shoff), 4 * (uint64_t)len,
	    STAMP_INCOMPLETE, msg);
	snprintf(msg, sizeof(msg), "section header table ends at byte %zu "
	    "but the file has %zu", (size_t)eh.e_shoff + 0xfeff * 64, len);
	expect_field(so, "shnumbig", EH(e_shnum), 0xfeff, STAMP_INCOMPLETE,
	    msg);
	expect_field(so, "phnumbig", EH(e_phnum), 0xfffe, STAMP_INCOMPLETE,
	    "program header table ends at byte");
	free(so);
}
END_TEST

START_TEST(test_bad_sections)
{
	uint64_t off;
	int which;
	char *so = build("a", src_a, "-Wl,--build-id=sha1"), *p;

	off = 0;
	p = patched(so, "past", patch_text_offset, &off);
	expect(p, STAMP_INCOMPLETE, "section [0-9]* ends at byte [0-9]* but "
	    "the file has");
	free(p);
	off = UINT64_MAX - 8;
	p = patched(so, "wrap", patch_text_offset, &off);
	expect(p, STAMP_INVALID, "section [0-9]*: offset * overflows");
	free(p);

	off = 0;
	p = patched(so, "segpast", patch_segment_offset, &off);
	expect(p, STAMP_INCOMPLETE, "segment [0-9]* ends at byte [0-9]* but "
	    "the file has");
	free(p);
	off = UINT64_MAX - 8;
	p = patched(so, "segwrap", patch_segment_offset, &off);
	expect(p, STAMP_INVALID, "segment [0-9]*: offset * overflows");
	free(p);

	/* Huge extended counts are cheap to refuse. */
	which = 0;
	p = patched(so, "xshnum", patch_extended, &which);
	expect(p, STAMP_INCOMPLETE, "section header table ends at byte");
	free(p);
	which = 1;
	p = patched(so, "xphnum", patch_extended, &which);
	expect(p, STAMP_INCOMPLETE, "program header table ends at byte");
	free(p);
	which = 2;
	p = patched(so, "xphnum0", patch_extended, &which);
	expect(p, STAMP_INVALID, "e_phnum is PN_XNUM but section 0's sh_info "
	    "is 0");
	free(p);

	/* Extended numbers need a section 0 to hold them. */
	p = patched(so, "ss", patch_sstrip, NULL);
	expect_field(p, "xindex", EH(e_shstrndx), SHN_XINDEX, STAMP_INVALID,
	    "e_shstrndx is SHN_XINDEX but there is no section 0");
	expect_field(p, "xphnum", EH(e_phnum), PN_XNUM, STAMP_INVALID,
	    "e_phnum is PN_XNUM but there is no section 0");
	free(p);
	free(so);
}
END_TEST

START_TEST(test_overlapping_notes)
{
	char out[PATH_MAX];
	unsigned char *buf, *nb = NULL;
	size_t len;
	char *so = build("a", src_a, "-Wl,--build-id=sha1");

	buf = tu_slurp(so, &len);
	ck_assert_ptr_nonnull(buf);
	patch_overlapping_notes(buf, &len, &nb);
	path_in("overlap", out, sizeof(out));
	ck_assert_int_eq(tu_spew(out, nb, len), 0);
	expect(out, STAMP_INVALID, "note sections hold more bytes than the "
	    "file, at section *");
	free(nb);
	free(buf);
	free(so);
}
END_TEST

START_TEST(test_bad_notes)
{
	unsigned char *buf;
	size_t len, rl, bid;
	struct word w;
	char *so, *p;

	so = build("a", "#include <reloader.h>\n"
	    "RELOADER_MODULE_VERSION(\"beta\", \"1.2\");\n"
	    "int f(int x) { return x; }\n", "-Wl,--build-id=sha1");
	buf = tu_slurp(so, &len);
	ck_assert_ptr_nonnull(buf);
	rl = find_note(buf, len, 9, 9, 1, "reloader");
	bid = find_note(buf, len, 4, 20, NT_GNU_BUILD_ID, "GNU");
	free(buf);

	w.off = rl;
	w.value = UINT32_MAX;
	p = patched(so, "namesz", patch_word, &w);
	expect(p, STAMP_INVALID,
	    "note in .note.reloader: namesz 4294967295 runs past its section");
	free(p);
	w.off = rl + 4;
	p = patched(so, "descsz", patch_word, &w);
	expect(p, STAMP_INVALID,
	    "note in .note.reloader: descsz 4294967295 runs past its section");
	free(p);
	w.off = bid + 4;
	p = patched(so, "biddescsz", patch_word, &w);
	expect(p, STAMP_INVALID, "note in .note.gnu.build-id: descsz "
	    "4294967295 runs past its section");
	free(p);

	/* A desc that stops after the name is not "name NUL version NUL". */
	w.off = rl + 4;
	w.value = 5;
	p = patched(so, "short", patch_word, &w);
	expect(p, STAMP_INVALID, "is not name NUL version NUL");
	free(p);

	/* The same checks hold for notes found through segments. */
	p = patched(so, "ss", patch_sstrip, NULL);
	free(so);
	so = p;
	w.off = rl;
	w.value = UINT32_MAX;
	p = patched(so, "ssnamesz", patch_word, &w);
	expect(p, STAMP_INVALID, "namesz 4294967295 runs past its segment");
	free(p);
	free(so);
}
END_TEST

/*
 * GNU ld writes the headers, reads the whole file back to hash it, and
 * only then writes the build-id note: a file read in between looks whole.
 * Taking its content MD5 then would offer a stamp that no finished file
 * has, so it is incomplete, through sections and through segments alike.
 */
START_TEST(test_unwritten_build_id)
{
	unsigned char *buf;
	size_t len, bid;
	char *so, *ss, *p;

	so = build("a", src_a, "-Wl,--build-id=sha1");
	buf = tu_slurp(so, &len);
	ck_assert_ptr_nonnull(buf);
	bid = find_note(buf, len, 4, 20, NT_GNU_BUILD_ID, "GNU");
	free(buf);

	p = patched(so, "unwritten", patch_unwritten_id, &bid);
	expect(p, STAMP_INCOMPLETE, "note in .note.gnu.build-id is zeros: "
	    "the linker has not written the build-id yet");
	free(p);

	ss = patched(so, "ssid", patch_sstrip, NULL);
	p = patched(ss, "ssunwritten", patch_unwritten_id, &bid);
	expect(p, STAMP_INCOMPLETE, "note in segment [0-9]* is zeros");
	free(p);
	free(ss);
	free(so);
}
END_TEST

/*
 * A program's own note section may hold zeros for good (gas makes any
 * ".note*" section a note): that is a finished file, with a build-id or
 * without one.  Only the build-id's own note of zeros is a file still
 * being written.
 */
START_TEST(test_zeroed_own_note)
{
	static const char src[] = "int f(int x) { return x; }\n"
	    "__attribute__((section(\".note.myapp.slot\"), used, aligned(4)))\n"
	    "static const unsigned slot[3];\n";
	struct stamp st;
	char *so;

	so = build("slot", src, "-Wl,--build-id=sha1");
	check_build_id(so, 20, &st);
	free(so);
	so = build("slotnone", src, "-Wl,--build-id=none");
	stamp_ok(so, &st);
	ck_assert_int_eq(st.kind, STAMP_CONTENT);
	free(so);
}
END_TEST

/* Gathers the tests. */
static Suite *
stamp_elf_suite(void)
{
	Suite *s = suite_create("stamp-elf");
	TCase *tc = tcase_create("stamp-elf");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_build_id_sha1);
	tcase_add_test(tc, test_build_id_md5);
	tcase_add_test(tc, test_unwritten_build_id);
	tcase_add_test(tc, test_zeroed_own_note);
	tcase_add_test(tc, test_content_md5);
	tcase_add_test(tc, test_module_name);
	tcase_add_test(tc, test_module_name_no_build_id);
	tcase_add_test(tc, test_module_version);
	tcase_add_test(tc, test_limits_of_names);
	tcase_add_test(tc, test_bad_names);
	tcase_add_test(tc, test_two_reloader_notes);
	tcase_add_test(tc, test_build_id_sizes);
	tcase_add_test(tc, test_code_changes_stamp);
	tcase_add_test(tc, test_stripped);
	tcase_add_test(tc, test_no_section_headers);
	tcase_add_test(tc, test_elf32);
	tcase_add_test(tc, test_foreign_byte_orders);
	tcase_add_test(tc, test_every_prefix);
	tcase_add_test(tc, test_read_only_buffer);
	tcase_add_test(tc, test_not_shared_objects);
	tcase_add_test(tc, test_bad_headers);
	tcase_add_test(tc, test_bad_sections);
	tcase_add_test(tc, test_bad_notes);
	tcase_add_test(tc, test_overlapping_notes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	find_incdir();
	sr = srunner_create(stamp_elf_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
