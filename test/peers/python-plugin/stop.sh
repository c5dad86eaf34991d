#!/usr/bin/env bash
# Nothing runs between tests: the plugin processes belong to the tests.
exit 0
