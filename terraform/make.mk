# Deployment targets, included by the Makefile (which defines PYTHON).
#   make package   - dist/<function>.zip for ingest, slices and actions (the sources Terraform uploads)
#   make tf-check  - terraform fmt and checkov over terraform/, offline

TOOLS_VENV := .venv-tools
TOOLS_REQUIREMENTS := terraform/checkov-requirements.txt
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(shell cksum < $(TOOLS_REQUIREMENTS) | cut -d' ' -f1)

.PHONY: package tf-check tools

# Byte-identical zips for identical sources: Terraform names each upload by its MD5.
# Standard library only, so no virtualenv is needed.
package:
	$(PYTHON) -m local.package

# checkov pins packages below the app's versions, so it gets a virtualenv of its own.
tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): $(TOOLS_REQUIREMENTS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(TOOLS_REQUIREMENTS)
	rm -f $(TOOLS_VENV)/.installed-* && touch $@

# `terraform validate` would need the provider downloaded; fmt and checkov read the files alone.
tf-check: $(TOOLS_STAMP)
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive -diff terraform; \
	else echo "warning: terraform not on the PATH; skipping 'terraform fmt -check' (install Terraform >= 1.11)" >&2; fi
	$(TOOLS_VENV)/bin/checkov -d terraform --framework terraform --skip-download --quiet --compact
