#!/usr/bin/env bash
# The README's main job. Filled in as capabilities land; see README.md "Quick start".
set -euo pipefail
echo "demo: nothing to run yet" >&2
exit 1
