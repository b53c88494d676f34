/*
 * reloader.h: the public interface of reloader.
 *
 * For now this holds the version of reloader and the macros with which a
 * module names itself and, if it wishes, states its own version.  The
 * client library (libreloader) grows here in a later release.
 */
#ifndef RELOADER_H
#define RELOADER_H

#define RELOADER_VERSION_MAJOR 0
#define RELOADER_VERSION_MINOR 1
#define RELOADER_VERSION_PATCH 0
#define RELOADER_VERSION_STRING "0.1.0"

/*
 * The ELF note that RELOADER_MODULE and RELOADER_MODULE_VERSION place in a
 * shared object, in a section named ".note.reloader":
 *
 *	namesz = 9, descsz, type = RELOADER_NOTE_MODULE, name = "reloader\0",
 *	desc = module name, NUL, version, NUL
 *
 * The version may be empty, in which case reloaderd keeps using the build-id
 * (or a content hash) as the module's stamp and the note only names it.
 * A non-empty version is the stamp: the module's author promises to change
 * it whenever the code changes.  Use at most one of the macros per module,
 * at file scope, with string literals.
 */
#define RELOADER_NOTE_OWNER "reloader"
#define RELOADER_NOTE_MODULE 1

#define RELOADER_NOTE_(name, version)					\
	__attribute__((section(".note.reloader"), used, aligned(4)))	\
	static const struct {						\
		unsigned int namesz, descsz, type;			\
		char owner[12];						\
		char desc[(sizeof(name) + sizeof(version) + 3) & ~3u];	\
	} reloader_module_note_ = {					\
		sizeof(RELOADER_NOTE_OWNER),				\
		sizeof(name) + sizeof(version),				\
		RELOADER_NOTE_MODULE,					\
		RELOADER_NOTE_OWNER,					\
		name "\0" version					\
	}

/* Names this shared object's module; its build-id stays the stamp. */
#define RELOADER_MODULE(name) RELOADER_NOTE_(name, "")

/* Names this shared object's module and makes version its stamp. */
#define RELOADER_MODULE_VERSION(name, version) RELOADER_NOTE_(name, version)

#endif /* RELOADER_H */
