#!/usr/bin/env python3
# Generated from ds01/registry.py by `make generate`; do not edit.
from ds01.cli._common import deprecated
deprecated('get_resource_limits.py', 'resource-limits')
from ds01.cli.resource_limits import main
main()
