# Samba AD DC for local development and the AD backend's integration tests.
# Included by the main Makefile (-include hack/samba/samba.mk).
#
#   make samba-up      provision and start a DC in $(SAMBA_DIR) (prints URL, CA and bind info)
#   make samba-down    stop it and remove $(SAMBA_DIR)
#   make samba-packages  install the Debian packages it needs (root)
#
# SAMBA_COMPUTERS adds that many fleet-NNNNN computers (hack/samba/gen-computers.py).

SAMBA_DIR ?= $(CURDIR)/.samba
SAMBA_COMPUTERS ?= 100

.PHONY: samba-up samba-down samba-packages
samba-up:
	SAMBA_COMPUTERS=$(SAMBA_COMPUTERS) bash hack/samba/up.sh $(SAMBA_DIR)

samba-down:
	bash hack/samba/down.sh $(SAMBA_DIR)

samba-packages:
	apt-get install -y --no-install-recommends $$(cat hack/samba/packages.txt)
