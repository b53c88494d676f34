# deb.mk: `make deb` builds the Debian packages (debian/) with
# dpkg-buildpackage, from a copy of the tree in DEB_DIR, where the .deb
# files land too: the build cleans its tree first and writes beside it,
# and neither may touch the checkout.  dpkg-dev and debhelper come from
# `make deps` (scripts/deps.sh check).  Included by the top Makefile.
#
#	make deb [DEB_DIR=$(O)/deb]

DEB_DIR ?= $(O)/deb
DEB_SRC = $(DEB_DIR)/reloader-$(VERSION)
# The top entry's version, (0.1.0) without its parentheses.
DEB_VERSION = $(shell awk 'NR == 1 { print substr($$2, 2, length($$2) - 2) }' \
    debian/changelog)

deb:
	@[ "$(DEB_VERSION)" = "$(VERSION)" ] || { echo "make deb:" \
	    "debian/changelog is at $(DEB_VERSION), include/reloader.h at" \
	    "$(VERSION): add an entry (dch -v $(VERSION))" >&2; exit 1; }
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	tar -cf - --exclude=./.git --exclude='./obj' --exclude='./obj-*' \
	    --exclude='./$(O)' --exclude='./examples/*/build' . | \
	    tar -xf - -C $(DEB_SRC)
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u SANITIZE \
	    dpkg-buildpackage -b -us -uc -jauto
	rm -rf $(DEB_SRC)
	@ls $(DEB_DIR)/*.deb

.PHONY: deb
