/*
 * test-stamp-beam.c: stamp_read_beam() against the real Erlang VM.
 *
 * Once, before the tests run, a scratch directory gets a few small Erlang
 * modules, and a single `erl` run compiles them, writes some hand-made
 * variants (duplicate chunks, appended bytes, OTP 28 atom encoding, ...)
 * and prints, for each file, beam_lib:md5/1 and the MD5 and module name
 * that the VM reports after loading it.  The tests then hold the reader to
 * those values, and feed it truncated and corrupted copies.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <zlib.h>

#include "stamp.h"
#include "testutil.h"

/* What the VM said about one file; "-" columns leave has_* at zero. */
struct vmrow {
	char file[64];
	int has_bl, has_vm;
	unsigned char bl[16], vm[16];
	char vmod[STAMP_MODULE_MAX];
};

static char *tmp;
static struct vmrow rows[32];
static int nrows;
static int setup_ok;

/* The modules compiled for the tests. */
static const struct {
	const char *name;
	const char *text;
} sources[] = {
	{ "sb_plain.erl",
	  "-module(sb_plain).\n-export([f/1]).\nf(X) -> X + 1.\n" },
	{ "sb_plain_changed.erl",
	  "-module(sb_plain).\n-export([f/1]).\nf(X) -> X + 2.\n" },
	{ "sb_funs.erl",
	  "-module(sb_funs).\n-export([adder/1, twice/1]).\n"
	  "adder(N) -> fun(X) -> X + N end.\n"
	  "twice(F) -> fun(X) -> F(F(X)) end.\n" },
	{ "sb_lits.erl",
	  "-module(sb_lits).\n-export([table/0]).\n"
	  "table() -> [{alpha, 1, \"one\"}, {beta, 2.5, <<\"two\">>},\n"
	  "    #{key => [a, b, c]}].\n" },
	{ "sb_strs.erl",
	  "-module(sb_strs).\n-export([f/1, g/1]).\n"
	  "f(<<\"hello\", Rest/binary>>) -> Rest;\nf(_) -> none.\n"
	  "g(X) -> <<\"prefix:\", X/binary, \":suffix\">>.\n" },
	{ "sb_uni.erl",
	  "-module('sb_\xc3\xbcn\xc3\xaf').\n-export([f/0]).\n"
	  "f() -> '\xc3\xb1" "and\xc3\xba'.\n" },
	{ "sb_long.erl",
	  "-module(sb_a_module_with_a_rather_long_name).\n-export([f/0]).\n"
	  "f() -> an_atom_that_is_longer_than_fifteen_bytes.\n" },
	/*
	 * The driver.  It builds the variants itself, so that the VM's
	 * verdict on them comes from the same run.
	 */
	{ "sb_check.erl",
	  "-module(sb_check).\n"
	  "-export([main/0]).\n"
	  "hex(B) -> [io_lib:format(\"~2.16.0b\", [X]) || <<X>> <= B].\n"
	  "chunks(<<>>) -> [];\n"
	  "chunks(<<Id:4/binary, Sz:32, Rest/binary>>) ->\n"
	  "    Pad = (4 - Sz rem 4) rem 4,\n"
	  "    <<D:Sz/binary, _:Pad/binary, R/binary>> = Rest,\n"
	  "    [{Id, D} | chunks(R)].\n"
	  "build(Cs) ->\n"
	  "    Body = << <<Id/binary, (byte_size(D)):32, D/binary,\n"
	  "        0:(((4 - byte_size(D) rem 4) rem 4) * 8)>> || {Id, D} <- Cs >>,\n"
	  "    <<\"FOR1\", (byte_size(Body) + 4):32, \"BEAM\", Body/binary>>.\n"
	  "split(Bin) ->\n"
	  "    <<\"FOR1\", _:32, \"BEAM\", Body/binary>> = Bin,\n"
	  "    chunks(Body).\n"
	  "compile_bin(Src) ->\n"
	  "    {ok, _, Bin} = compile:file(Src, [binary, report_errors]),\n"
	  "    Bin.\n"
	  "write(Name, Bin) -> ok = file:write_file(Name, Bin).\n"
	  /* OTP 28's atom lengths: compact term encoding, tag u. */
	  "enc_len(N) when N < 16 -> <<(N bsl 4)>>;\n"
	  "enc_len(N) when N < 2048 ->\n"
	  "    <<(((N bsr 8) bsl 5) bor 16#08), (N band 16#ff)>>.\n"
	  "long_atoms(Data) ->\n"
	  "    <<Count:32/signed, Rest/binary>> = Data,\n"
	  "    <<(-Count):32/signed, (long_atoms_1(Rest))/binary>>.\n"
	  "long_atoms_1(<<>>) -> <<>>;\n"
	  "long_atoms_1(<<Len, Name:Len/binary, Rest/binary>>) ->\n"
	  "    <<(enc_len(Len))/binary, Name/binary,\n"
	  "      (long_atoms_1(Rest))/binary>>.\n"
	  "replace(Id, F, Cs) ->\n"
	  "    [case I of Id -> {I, F(D)}; _ -> {I, D} end || {I, D} <- Cs].\n"
	  "report({File, Mod}) ->\n"
	  "    {ok, Bin} = file:read_file(File),\n"
	  "    BL = case beam_lib:md5(Bin) of\n"
	  "             {ok, {_, Md5}} -> hex(Md5);\n"
	  "             _ -> \"-\"\n"
	  "         end,\n"
	  "    code:purge(Mod), code:delete(Mod), code:purge(Mod),\n"
	  "    {VM, VMod} = try erlang:load_module(Mod, Bin) of\n"
	  "        {module, Mod} ->\n"
	  "            R = {hex(Mod:module_info(md5)),\n"
	  "                 hex(atom_to_binary(Mod:module_info(module), utf8))},\n"
	  "            code:delete(Mod), code:purge(Mod),\n"
	  "            R;\n"
	  "        _ -> {\"-\", \"-\"}\n"
	  "    catch _:_ -> {\"-\", \"-\"}\n"
	  "    end,\n"
	  "    io:format(\"R ~s ~s ~s ~s~n\", [File, BL, VM, VMod]).\n"
	  "main() ->\n"
	  "    Plain = compile_bin(\"sb_plain\"),\n"
	  "    write(\"sb_plain.beam\", Plain),\n"
	  "    write(\"sb_plain_again.beam\", compile_bin(\"sb_plain\")),\n"
	  "    write(\"sb_plain_changed.beam\", compile_bin(\"sb_plain_changed\")),\n"
	  "    Funs = compile_bin(\"sb_funs\"),\n"
	  "    write(\"sb_funs.beam\", Funs),\n"
	  "    Lits = compile_bin(\"sb_lits\"),\n"
	  "    write(\"sb_lits.beam\", Lits),\n"
	  "    write(\"sb_strs.beam\", compile_bin(\"sb_strs\")),\n"
	  "    write(\"sb_uni.beam\", compile_bin(\"sb_uni\")),\n"
	  "    LongBin = compile_bin(\"sb_long\"),\n"
	  "    write(\"sb_long.beam\", LongBin),\n"
	  "    {ok, _} = compile:file(\"sb_lits\",\n"
	  "        [compressed, report_errors, {outdir, \"c\"}]),\n"
	  "    PCs = split(Plain),\n"
	  "    {_, AtU8} = lists:keyfind(<<\"AtU8\">>, 1, PCs),\n"
	  "    write(\"dup_strt.beam\", build(PCs ++ [{<<\"StrT\">>, <<\"xyz\">>}])),\n"
	  "    write(\"atom_atu8.beam\", build([{<<\"Atom\">>, AtU8} | PCs])),\n"
	  "    write(\"atom_only.beam\", build(\n"
	  "        [case I of <<\"AtU8\">> -> {<<\"Atom\">>, D}; _ -> {I, D} end\n"
	  "         || {I, D} <- PCs])),\n"
	  "    write(\"trailing.beam\", <<Plain/binary, 1, 2, 3>>),\n"
	  "    write(\"two_members.beam\",\n"
	  "        <<(zlib:gzip(binary:part(Lits, 0, 100)))/binary,\n"
	  "          (zlib:gzip(binary:part(Lits, 100,\n"
	  "                                 byte_size(Lits) - 100)))/binary>>),\n"
	  "    write(\"funt_partial.beam\", build(replace(<<\"FunT\">>,\n"
	  "        fun(D) -> <<D/binary, 1, 2, 3>> end, split(Funs)))),\n"
	  "    write(\"long_atoms.beam\", build(replace(<<\"AtU8\">>,\n"
	  "        fun long_atoms/1, split(LongBin)))),\n"
	  "    Long = sb_a_module_with_a_rather_long_name,\n"
	  "    Files = [{\"sb_plain.beam\", sb_plain},\n"
	  "             {\"sb_plain_again.beam\", sb_plain},\n"
	  "             {\"sb_plain_changed.beam\", sb_plain},\n"
	  "             {\"sb_funs.beam\", sb_funs}, {\"sb_lits.beam\", sb_lits},\n"
	  "             {\"sb_strs.beam\", sb_strs},\n"
	  "             {\"sb_uni.beam\", 'sb_\\x{fc}n\\x{ef}'},\n"
	  "             {\"sb_long.beam\", Long}, {\"c/sb_lits.beam\", sb_lits},\n"
	  "             {\"dup_strt.beam\", sb_plain},\n"
	  "             {\"atom_atu8.beam\", sb_plain},\n"
	  "             {\"atom_only.beam\", sb_plain},\n"
	  "             {\"trailing.beam\", sb_plain},\n"
	  "             {\"two_members.beam\", sb_lits},\n"
	  "             {\"funt_partial.beam\", sb_funs},\n"
	  "             {\"long_atoms.beam\", Long}],\n"
	  "    lists:foreach(fun report/1, Files),\n"
	  "    halt(0).\n" },
};

/* Parses 32 hex digits; returns 0, or -1 for "-" or anything else. */
static int
unhex16(const char *s, unsigned char out[16])
{
	unsigned int b;
	int i;

	if (strlen(s) != 32)
		return -1;
	for (i = 0; i < 16; i++) {
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (unsigned char)b;
	}
	return 0;
}

/* Turns the hex of a module name back into its UTF-8 bytes. */
static void
unhex_str(const char *s, char *out, size_t outlen)
{
	unsigned int b;
	size_t i, n = strlen(s) / 2;

	out[0] = '\0';
	if (strcmp(s, "-") == 0 || n >= outlen)
		return;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return;
		out[i] = (char)b;
	}
	out[n] = '\0';
}

/* Writes the sources, runs the one erl, and records its report. */
static void
global_setup(void)
{
	char path[1024], *cmd, *out, *line, *save;
	char f[64], bl[64], vm[64], vmod[1024];
	size_t i;

	if ((tmp = tu_tmpdir()) == NULL)
		return;
	for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp, sources[i].name);
		if (tu_spew(path, sources[i].text, strlen(sources[i].text)))
			return;
	}
	snprintf(path, sizeof(path), "%s/c", tmp);
	if (mkdir(path, 0755) == -1)
		return;
	/* Output is kept in files, for a look when this goes wrong. */
	if (asprintf(&cmd, "cd '%s' && ERL_CRASH_DUMP_BYTES=0 erl -noshell "
	    "-pa . -eval '{ok, _} = compile:file(\"sb_check\", "
	    "[report_errors]), sb_check:main().' >erl.out 2>erl.log && "
	    "cat erl.out", tmp) == -1)
		return;
	out = tu_run(cmd);
	free(cmd);
	if (out == NULL)
		return;
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "R ", 2) != 0 || nrows == 32)
			continue;
		if (sscanf(line, "R %63s %63s %63s %1023s", f, bl, vm,
		    vmod) != 4)
			continue;
		snprintf(rows[nrows].file, sizeof(rows[nrows].file), "%s", f);
		rows[nrows].has_bl = unhex16(bl, rows[nrows].bl) == 0;
		rows[nrows].has_vm = unhex16(vm, rows[nrows].vm) == 0;
		unhex_str(vmod, rows[nrows].vmod, sizeof(rows[nrows].vmod));
		nrows++;
	}
	free(out);
	setup_ok = nrows == 16;
}

/* Finds what the VM said about one file; fails the test if nothing. */
static const struct vmrow *
row(const char *file)
{
	int i;

	ck_assert_msg(setup_ok, "erl setup failed; see erl.out");
	for (i = 0; i < nrows; i++)
		if (strcmp(rows[i].file, file) == 0)
			return &rows[i];
	ck_abort_msg("no erl report for %s", file);
	return NULL;
}

/* Reads one of the scratch files; fails the test if it cannot. */
static unsigned char *
load(const char *file, size_t *lenp)
{
	char path[1024];
	unsigned char *buf;

	ck_assert_msg(setup_ok, "erl setup failed; see erl.out");
	snprintf(path, sizeof(path), "%s/%s", tmp, file);
	buf = tu_slurp(path, lenp);
	ck_assert_msg(buf != NULL, "cannot read %s", path);
	return buf;
}

/* Reads the stamp of a scratch file, which must succeed. */
static void
stamp_of(const char *file, struct stamp *st)
{
	unsigned char *buf;
	size_t len;
	char err[STAMP_ERR_MAX];
	int rc;

	buf = load(file, &len);
	err[0] = '\0';
	rc = stamp_read_beam(buf, len, st, err, sizeof(err));
	free(buf);
	ck_assert_msg(rc == STAMP_OK, "%s: rc %d: %s", file, rc, err);
	ck_assert_int_eq(st->kind, STAMP_BEAM_MD5);
	ck_assert_int_eq(st->format, STAMP_FMT_BEAM);
	ck_assert_uint_eq(st->len, 16);
}

/* Runs the reader on a buffer and checks the result and message. */
static void
expect_at(int line, const unsigned char *buf, size_t len, int want,
    const char *needle)
{
	struct stamp st;
	char err[STAMP_ERR_MAX];
	int rc;

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rc = stamp_read_beam(buf, len, &st, err, sizeof(err));
	ck_assert_msg(rc == want, "line %d: rc %d, wanted %d (%s)", line, rc,
	    want, err);
	if (want == STAMP_OK)
		return;
	ck_assert_msg(err[0] != '\0' && err[0] != 'x', "line %d: no message",
	    line);
	ck_assert_msg(strchr(err, '\n') == NULL, "line %d: multi-line: %s",
	    line, err);
	if (needle != NULL)
		ck_assert_msg(strstr(err, needle) != NULL,
		    "line %d: message \"%s\" lacks \"%s\"", line, err, needle);
	ck_assert_msg(st.kind == STAMP_NONE && st.module[0] == '\0',
	    "line %d: failed read left a stamp behind", line);
}

#define expect(buf, len, want, needle) \
	expect_at(__LINE__, (buf), (len), (want), (needle))

/* Reads a big-endian 32-bit value. */
static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Stores a big-endian 32-bit value. */
static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Finds a chunk of a trusted plain BEAM; returns its header offset or 0. */
static size_t
find_chunk(const unsigned char *buf, size_t len, const char *id,
    size_t *sizep)
{
	size_t pos, size;

	for (pos = 12; pos + 8 <= len; pos += 8 + ((size + 3) & ~3u)) {
		size = get32(buf + pos + 4);
		if (memcmp(buf + pos, id, 4) == 0) {
			*sizep = size;
			return pos;
		}
	}
	return 0;
}

/*
 * Rebuilds a trusted plain BEAM with chunk `id` renamed to `newid` and
 * given new data, or dropped when data is NULL; returns a malloc'd buffer.
 */
static unsigned char *
rebuild(const unsigned char *buf, size_t len, const char *id,
    const char *newid, const void *data, size_t dlen, size_t *outlen)
{
	unsigned char *out;
	size_t pos, size, o, n;

	out = calloc(1, len + dlen + 16);
	ck_assert_ptr_nonnull(out);
	memcpy(out, buf, 12);
	o = 12;
	for (pos = 12; pos + 8 <= len; pos += 8 + ((size + 3) & ~3u)) {
		size = get32(buf + pos + 4);
		if (memcmp(buf + pos, id, 4) != 0) {
			n = 8 + ((size + 3) & ~3u);
			memcpy(out + o, buf + pos, n);
			o += n;
		} else if (data != NULL) {
			memcpy(out + o, newid, 4);
			put32(out + o + 4, (uint32_t)dlen);
			memcpy(out + o + 8, data, dlen);
			o += 8 + ((dlen + 3) & ~(size_t)3);
		}
	}
	put32(out + 4, (uint32_t)(o - 8));
	*outlen = o;
	return out;
}

/* Gzips a buffer as one member; returns a malloc'd buffer. */
static unsigned char *
gzip_buf(const void *in, size_t inlen, size_t *outlen)
{
	z_stream zs;
	unsigned char *out;
	size_t cap = inlen / 2 + 1024;

	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	cap = deflateBound(&zs, inlen);
	out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)inlen;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;
	deflateEnd(&zs);
	return out;
}

/* The real modules: the reader gives exactly what the running VM reports. */
START_TEST(test_matches_vm)
{
	static const struct {
		const char *file, *module;
	} cases[] = {
		{ "sb_plain.beam", "sb_plain" },
		{ "sb_funs.beam", "sb_funs" },
		{ "sb_lits.beam", "sb_lits" },
		{ "sb_strs.beam", "sb_strs" },
		{ "sb_uni.beam", "sb_\xc3\xbcn\xc3\xaf" },
		{ "sb_long.beam", "sb_a_module_with_a_rather_long_name" },
		{ "c/sb_lits.beam", "sb_lits" },
		{ "two_members.beam", "sb_lits" },
	};
	const struct vmrow *r;
	struct stamp st;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = row(cases[i].file);
		ck_assert_msg(r->has_vm && r->has_bl, "%s: VM did not load it",
		    cases[i].file);
		ck_assert_msg(memcmp(r->vm, r->bl, 16) == 0,
		    "%s: VM and beam_lib disagree", cases[i].file);
		stamp_of(cases[i].file, &st);
		ck_assert_msg(memcmp(st.bytes, r->vm, 16) == 0,
		    "%s: MD5 differs from module_info(md5)", cases[i].file);
		ck_assert_str_eq(st.module, cases[i].module);
		ck_assert_str_eq(st.module, r->vmod);
	}
}
END_TEST

/* The fixtures hold the chunks they are meant to exercise. */
START_TEST(test_fixtures_have_chunks)
{
	unsigned char *buf;
	size_t len, size;

	buf = load("sb_funs.beam", &len);
	ck_assert_msg(find_chunk(buf, len, "FunT", &size) && size >= 28,
	    "sb_funs has no lambda table");
	free(buf);
	buf = load("sb_lits.beam", &len);
	ck_assert_msg(find_chunk(buf, len, "LitT", &size) && size > 0,
	    "sb_lits has no literal table");
	free(buf);
	buf = load("sb_strs.beam", &len);
	ck_assert_msg(find_chunk(buf, len, "StrT", &size) && size > 0,
	    "sb_strs has an empty string table");
	free(buf);
	buf = load("c/sb_lits.beam", &len);
	ck_assert_msg(len > 2 && buf[0] == 0x1f && buf[1] == 0x8b,
	    "c/sb_lits.beam is not gzip-compressed");
	free(buf);
}
END_TEST

/* Recompiling identical source keeps the stamp; changing it does not. */
START_TEST(test_recompile)
{
	struct stamp a, b, c;

	stamp_of("sb_plain.beam", &a);
	stamp_of("sb_plain_again.beam", &b);
	stamp_of("sb_plain_changed.beam", &c);
	ck_assert_mem_eq(a.bytes, b.bytes, 16);
	ck_assert_str_eq(a.module, b.module);
	ck_assert_msg(memcmp(a.bytes, c.bytes, 16) != 0,
	    "changed source, same stamp");
	ck_assert_mem_eq(c.bytes, row("sb_plain_changed.beam")->vm, 16);
}
END_TEST

/*
 * Runs every proper prefix of a file through the reader, which must wait
 * for more (or, if not strict, at least not accept it).
 */
static void
all_prefixes(const char *file, int strict)
{
	unsigned char *buf, *copy;
	char err[STAMP_ERR_MAX];
	struct stamp st;
	size_t len, n;

	buf = load(file, &len);
	ck_assert_uint_gt(len, 100);
	for (n = 0; n < len; n++) {
		/* An exact-size copy, so ASan sees any read past n. */
		copy = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, buf, n);
		if (strict)
			expect(copy, n, STAMP_INCOMPLETE, NULL);
		else
			ck_assert_msg(stamp_read_beam(copy, n, &st, err,
			    sizeof(err)) != STAMP_OK && err[0] != '\0',
			    "%s: prefix of %zu bytes accepted", file, n);
		free(copy);
	}
	expect(buf, len, STAMP_OK, NULL);
	free(buf);
}

/* A file still being written is never taken for a finished one. */
START_TEST(test_prefixes_plain)
{
	all_prefixes("sb_funs.beam", 1);
	all_prefixes("sb_strs.beam", 1);
}
END_TEST

/* The same for a compressed file, cut anywhere in its gzip stream. */
START_TEST(test_prefixes_compressed)
{
	all_prefixes("c/sb_lits.beam", 1);
	/*
	 * Cut at the end of the first gzip member, the stream is whole and
	 * holds half a BEAM: refused, not waited for, since erlc never
	 * writes more than one member.
	 */
	all_prefixes("two_members.beam", 0);
}
END_TEST

/* Duplicate chunks count by their last occurrence, as in the VM. */
START_TEST(test_duplicate_chunk)
{
	const struct vmrow *r = row("dup_strt.beam");
	struct stamp st;

	ck_assert_msg(r->has_vm, "VM refused the duplicate-chunk file");
	stamp_of("dup_strt.beam", &st);
	ck_assert_mem_eq(st.bytes, r->vm, 16);
	/* beam_lib takes the first "StrT" instead; the VM is what counts. */
	ck_assert_msg(memcmp(st.bytes, r->bl, 16) != 0,
	    "duplicate StrT made no difference");
}
END_TEST

/* With both atom chunks only "AtU8" is hashed, as in the VM. */
START_TEST(test_atom_and_atu8)
{
	const struct vmrow *r = row("atom_atu8.beam");
	struct stamp st;

	ck_assert_msg(r->has_vm, "VM refused the Atom+AtU8 file");
	stamp_of("atom_atu8.beam", &st);
	ck_assert_mem_eq(st.bytes, r->vm, 16);
	ck_assert_str_eq(st.module, "sb_plain");
}
END_TEST

/* Bytes after the FOR1 end are ignored, as the VM ignores them. */
START_TEST(test_trailing_bytes)
{
	const struct vmrow *r = row("trailing.beam");
	struct stamp st, plain;

	ck_assert_msg(r->has_vm, "VM refused the file with trailing bytes");
	stamp_of("trailing.beam", &st);
	stamp_of("sb_plain.beam", &plain);
	ck_assert_mem_eq(st.bytes, r->vm, 16);
	ck_assert_mem_eq(st.bytes, plain.bytes, 16);
}
END_TEST

/* Files the VM refuses but beam_lib hashes: beam_lib's answer. */
START_TEST(test_beam_lib_only)
{
	const struct vmrow *r;
	struct stamp st;

	r = row("atom_only.beam");
	ck_assert(r->has_bl);
	stamp_of("atom_only.beam", &st);
	ck_assert_mem_eq(st.bytes, r->bl, 16);
	ck_assert_str_eq(st.module, "sb_plain");

	r = row("funt_partial.beam");
	ck_assert(r->has_bl);
	stamp_of("funt_partial.beam", &st);
	ck_assert_mem_eq(st.bytes, r->bl, 16);
	ck_assert_str_eq(st.module, "sb_funs");
}
END_TEST

/* OTP 28's atom table (negative count, compact lengths) names the module. */
START_TEST(test_long_atom_encoding)
{
	const struct vmrow *r = row("long_atoms.beam");
	struct stamp st, orig;
	unsigned char *buf, *nb, atoms[64];
	size_t len, nlen;

	/*
	 * OTP 25's beam_lib misreads the module name of this file but still
	 * hashes the chunk data, which is all the MD5 needs.
	 */
	ck_assert(r->has_bl);
	stamp_of("long_atoms.beam", &st);
	ck_assert_mem_eq(st.bytes, r->bl, 16);
	ck_assert_str_eq(st.module, "sb_a_module_with_a_rather_long_name");
	stamp_of("sb_long.beam", &orig);
	ck_assert_msg(memcmp(st.bytes, orig.bytes, 16) != 0,
	    "re-encoded atom table did not change the MD5");

	/* A length in the 2-to-8-byte form: 0x18 then 2 bytes, 8. */
	buf = load("sb_plain.beam", &len);
	put32(atoms, (uint32_t)-1);
	memcpy(atoms + 4, "\x18\x00\x08" "sb_plain", 11);
	nb = rebuild(buf, len, "AtU8", "AtU8", atoms, 15, &nlen);
	stamp_of("sb_plain.beam", &orig);
	expect(nb, nlen, STAMP_OK, NULL);
	ck_assert(stamp_read_beam(nb, nlen, &st, NULL, 0) == STAMP_OK);
	ck_assert_str_eq(st.module, "sb_plain");
	free(nb);

	/* 0xf8: a length of 9 or more bytes, which no word holds. */
	memcpy(atoms + 4, "\xf8\x00\x08" "sb_plain", 11);
	nb = rebuild(buf, len, "AtU8", "AtU8", atoms, 15, &nlen);
	expect(nb, nlen, STAMP_INVALID, "AtU8");
	free(nb);

	/* A 1-byte compact length that overruns the chunk. */
	memcpy(atoms + 4, "\xf0" "sb_plain", 9);
	nb = rebuild(buf, len, "AtU8", "AtU8", atoms, 13, &nlen);
	expect(nb, nlen, STAMP_INVALID, "AtU8");
	free(nb);
	free(buf);
}
END_TEST

/* A latin-1 "Atom" chunk yields a UTF-8 module name. */
START_TEST(test_latin1_module_name)
{
	unsigned char *buf, *nb, *long_nb, atoms[32], big[205];
	size_t len, nlen;
	struct stamp st;

	buf = load("sb_plain.beam", &len);
	put32(atoms, 1);
	memcpy(atoms + 4, "\x06" "sb_\xfcn\xef", 7);
	nb = rebuild(buf, len, "AtU8", "Atom", atoms, 11, &nlen);
	ck_assert(stamp_read_beam(nb, nlen, &st, NULL, 0) == STAMP_OK);
	ck_assert_str_eq(st.module, "sb_\xc3\xbcn\xc3\xaf");

	free(nb);

	/* 200 latin-1 bytes become 400 UTF-8 bytes: too long to keep. */
	put32(big, 1);
	big[4] = 200;
	memset(big + 5, 0xe9, 200);
	long_nb = rebuild(buf, len, "AtU8", "Atom", big, sizeof(big), &nlen);
	expect(long_nb, nlen, STAMP_INVALID, "longer");
	free(long_nb);
	free(buf);
}
END_TEST

/* Damaged plain files are refused, or waited for, with a reason. */
START_TEST(test_corrupt_plain)
{
	unsigned char *buf, *c, *nb;
	size_t len, off, size, nlen;

	buf = load("sb_lits.beam", &len);
	c = malloc(len + 12);
	ck_assert_ptr_nonnull(c);

	/* Chunk sizes far past the end. */
	off = find_chunk(buf, len, "Code", &size);
	ck_assert_uint_ne(off, 0);
	memcpy(c, buf, len);
	put32(c + off + 4, 0x7ffffff0);
	expect(c, len, STAMP_INVALID, "\"Code\"");
	put32(c + off + 4, 0xffffffff);
	expect(c, len, STAMP_INVALID, "\"Code\"");
	/* A last chunk one byte longer than the file. */
	memcpy(c, buf, len);
	for (off = 12; off + 8 + ((get32(c + off + 4) + 3) & ~3u) < len;
	    off += 8 + ((get32(c + off + 4) + 3) & ~3u))
		;
	put32(c + off + 4, (uint32_t)(len - off - 8 + 1));
	expect(c, len, STAMP_INVALID, "runs past the end");
	/* An extra 1-byte chunk, first whole, then without its padding. */
	memcpy(c, buf, len);
	memcpy(c + len, "Xtra\0\0\0\1", 8);
	c = realloc(c, len + 12);
	ck_assert_ptr_nonnull(c);
	memcpy(c + len + 8, "z\0\0\0", 4);
	put32(c + 4, (uint32_t)(len + 12 - 8));
	expect(c, len + 12, STAMP_OK, NULL);
	put32(c + 4, (uint32_t)(len + 9 - 8));
	expect(c, len + 12, STAMP_INVALID, "padding");

	/* Missing mandatory chunks. */
	memcpy(c, buf, len);
	memcpy(c + find_chunk(buf, len, "Code", &size), "Codx", 4);
	expect(c, len, STAMP_INVALID, "no \"Code\" chunk");
	memcpy(c, buf, len);
	memcpy(c + find_chunk(buf, len, "ExpT", &size), "ExpX", 4);
	expect(c, len, STAMP_INVALID, "\"ExpT\"");
	memcpy(c, buf, len);
	memcpy(c + find_chunk(buf, len, "ImpT", &size), "ImpX", 4);
	expect(c, len, STAMP_INVALID, "\"ImpT\"");
	memcpy(c, buf, len);
	/* Without StrT the VM still loads the module, with the same MD5
	 * when the table was empty, as it is here. */
	{
		struct stamp full, nostrt;
		char e[STAMP_ERR_MAX];
		size_t at = find_chunk(buf, len, "StrT", &size);

		ck_assert_uint_eq(size, 0);
		ck_assert_int_eq(stamp_read_beam(buf, len, &full, e,
		    sizeof(e)), STAMP_OK);
		memcpy(c + at, "StrX", 4);
		ck_assert_msg(stamp_read_beam(c, len, &nostrt, e, sizeof(e)) ==
		    STAMP_OK, "a beam without StrT was refused: %s", e);
		ck_assert(memcmp(full.bytes, nostrt.bytes, 16) == 0);
	}
	memcpy(c, buf, len);
	memcpy(c + find_chunk(buf, len, "AtU8", &size), "AtUX", 4);
	expect(c, len, STAMP_INVALID, "atom");

	/* Bad magic and form type. */
	memcpy(c, buf, len);
	c[3] = '2';
	expect(c, len, STAMP_INVALID, "FOR1");
	memcpy(c, buf, len);
	c[11] = 'X';
	expect(c, len, STAMP_INVALID, "BEAM");

	/* The first atom's length runs past its chunk. */
	memcpy(c, buf, len);
	off = find_chunk(buf, len, "AtU8", &size);
	c[off + 12] = 255;
	expect(c, len, STAMP_INVALID, "AtU8");
	/* Empty module name, NUL in it, no atoms, absurd count. */
	memcpy(c, buf, len);
	c[off + 12] = 0;
	expect(c, len, STAMP_INVALID, "empty");
	memcpy(c, buf, len);
	c[off + 14] = '\0';
	expect(c, len, STAMP_INVALID, "NUL");
	memcpy(c, buf, len);
	put32(c + off + 8, 0);
	expect(c, len, STAMP_INVALID, "atom count");
	put32(c + off + 8, 0x80000000);
	expect(c, len, STAMP_INVALID, "atom count");
	memcpy(c, buf, len);
	c[off + 14] = 0xff;
	expect(c, len, STAMP_INVALID, "UTF-8");

	/* FOR1 size too big (still coming), absurd, too small, odd. */
	memcpy(c, buf, len);
	put32(c + 4, (uint32_t)(len - 8 + 100));
	expect(c, len, STAMP_INCOMPLETE, "FOR1 size");
	put32(c + 4, 0x80000000);
	expect(c, len, STAMP_INVALID, "FOR1 size");
	put32(c + 4, 3);
	expect(c, len, STAMP_INVALID, "FOR1 size");
	put32(c + 4, (uint32_t)(len - 8 - 4));
	expect(c, len, STAMP_INVALID, "runs past the end");

	/* Stray bytes inside the form, too few for a chunk header. */
	memcpy(c, buf, len);
	memset(c + len, 0, 4);
	put32(c + 4, (uint32_t)(len - 8 + 4));
	expect(c, len + 4, STAMP_INVALID, "stray");

	/* Empty Code chunk: the VM counts it as missing. */
	nb = rebuild(buf, len, "Code", "Code", "", 0, &nlen);
	expect(nb, nlen, STAMP_INVALID, "\"Code\"");
	free(nb);

	free(c);
	free(buf);
}
END_TEST

/* Short buffers: prefixes of a header wait, anything else is refused. */
START_TEST(test_short_buffers)
{
	expect((const unsigned char *)"", 0, STAMP_INCOMPLETE, NULL);
	expect((const unsigned char *)"F", 1, STAMP_INCOMPLETE, NULL);
	expect((const unsigned char *)"FOR1", 4, STAMP_INCOMPLETE, NULL);
	expect((const unsigned char *)"FOR1\0\0\1\0BEA", 11,
	    STAMP_INCOMPLETE, NULL);
	expect((const unsigned char *)"FOX", 3, STAMP_INVALID, "FOR1");
	expect((const unsigned char *)"FOR1\0\0\1\0BEX", 11, STAMP_INVALID,
	    "BEAM");
	expect((const unsigned char *)"\x1f", 1, STAMP_INCOMPLETE, NULL);
	expect((const unsigned char *)"\x1f\x8b", 2, STAMP_INCOMPLETE, NULL);
	expect((const unsigned char *)"\x1f\x00", 2, STAMP_INVALID, "gzip");
	expect((const unsigned char *)"-module(x).\n", 12, STAMP_INVALID,
	    "not a BEAM file");
	/* A complete header with no chunks and no room for them. */
	expect((const unsigned char *)"FOR1\0\0\0\4BEAM", 12, STAMP_INVALID,
	    "no \"Code\" chunk");
}
END_TEST

/* Damaged compressed files. */
START_TEST(test_corrupt_compressed)
{
	unsigned char *buf, *c, *gz, *zeros;
	size_t len, gzlen;
	static const char text[] = "this is not a BEAM file at all\n";

	buf = load("c/sb_lits.beam", &len);
	c = malloc(len + 8);
	ck_assert_ptr_nonnull(c);
	/* Junk after the gzip member: the VM refuses it too. */
	memcpy(c, buf, len);
	memcpy(c + len, "junkjunk", 8);
	expect(c, len + 8, STAMP_INVALID, "gzip");
	/* A flipped byte inside the deflate data or the CRC. */
	memcpy(c, buf, len);
	c[len - 6] ^= 0x55;
	expect(c, len, STAMP_INVALID, "gzip");
	free(c);
	free(buf);

	/* A finished stream whose contents are not a BEAM, or a short one. */
	gz = gzip_buf(text, sizeof(text) - 1, &gzlen);
	expect(gz, gzlen, STAMP_INVALID, "after gunzip");
	free(gz);
	gz = gzip_buf("FOR1\0\0\1\0BEAM", 12, &gzlen);
	expect(gz, gzlen, STAMP_INVALID, "after gunzip");
	free(gz);

	/* A bomb: 65 MiB of zeros in about 64 KiB. */
	zeros = calloc(1, 65u << 20);
	ck_assert_ptr_nonnull(zeros);
	memcpy(zeros, "FOR1", 4);
	gz = gzip_buf(zeros, 65u << 20, &gzlen);
	free(zeros);
	ck_assert_uint_lt(gzlen, 1u << 20);
	expect(gz, gzlen, STAMP_INVALID, "MiB");
	free(gz);
}
END_TEST

/* The reader does not write to its input, which may be read-only. */
START_TEST(test_readonly_input)
{
	static const char *files[] = { "sb_lits.beam", "c/sb_lits.beam" };
	char path[1024], err[STAMP_ERR_MAX];
	struct stamp st;
	struct stat sb;
	void *map;
	size_t i;
	int fd;

	ck_assert(setup_ok);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp, files[i]);
		fd = open(path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fstat(fd, &sb), 0);
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE,
		    fd, 0);
		ck_assert_ptr_ne(map, MAP_FAILED);
		ck_assert_int_eq(stamp_read_beam(map, (size_t)sb.st_size, &st,
		    err, sizeof(err)), STAMP_OK);
		ck_assert_mem_eq(st.bytes, row("sb_lits.beam")->vm, 16);
		munmap(map, (size_t)sb.st_size);
		close(fd);
	}
}
END_TEST

/* A missing or tiny message buffer is handled. */
START_TEST(test_small_err_buffer)
{
	struct stamp st;
	char err[8];

	ck_assert_int_eq(stamp_read_beam((const unsigned char *)"nope", 4,
	    &st, NULL, 0), STAMP_INVALID);
	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(stamp_read_beam((const unsigned char *)"nope", 4,
	    &st, err, sizeof(err)), STAMP_INVALID);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
}
END_TEST

/* Collects the tests. */
static Suite *
beam_suite(void)
{
	Suite *s = suite_create("stamp-beam");
	TCase *tc = tcase_create("beam");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_matches_vm);
	tcase_add_test(tc, test_fixtures_have_chunks);
	tcase_add_test(tc, test_recompile);
	tcase_add_test(tc, test_prefixes_plain);
	tcase_add_test(tc, test_prefixes_compressed);
	tcase_add_test(tc, test_duplicate_chunk);
	tcase_add_test(tc, test_atom_and_atu8);
	tcase_add_test(tc, test_trailing_bytes);
	tcase_add_test(tc, test_beam_lib_only);
	tcase_add_test(tc, test_long_atom_encoding);
	tcase_add_test(tc, test_latin1_module_name);
	tcase_add_test(tc, test_corrupt_plain);
	tcase_add_test(tc, test_short_buffers);
	tcase_add_test(tc, test_corrupt_compressed);
	tcase_add_test(tc, test_readonly_input);
	tcase_add_test(tc, test_small_err_buffer);
	suite_add_tcase(s, tc);
	return s;
}

/* Runs the suite once the VM has had its say. */
int
main(void)
{
	SRunner *sr;
	int failed;

	global_setup();
	if (!setup_ok)
		fprintf(stderr, "test-stamp-beam: erl setup failed (%d "
		    "reports) in %s\n", nrows, tmp ? tmp : "(no dir)");
	sr = srunner_create(beam_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (setup_ok)
		tu_rmrf(tmp);
	else
		free(tmp);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
