# libreloader.mk: the rules for libreloader come with that work.
