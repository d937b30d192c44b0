#!/usr/bin/env -S python3 -I
# Generated from ds01/registry.py by `make generate`; do not edit.
from ds01.client import main
main('get_resource_limits.py', 'ds01.cli.resource_limits', renamed='resource-limits')
