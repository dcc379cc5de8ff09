#!/bin/sh
# Prints the agent image's tag: $OPENCLAW_IMAGE when set, else the one contracts/src/agent-image.ts names (the
# tag the edge asks nodes to run), so build.sh and the dev stack never disagree with it.
tag=${OPENCLAW_IMAGE:-$(sed -n 's/^export const AGENT_IMAGE = "\(.*\)";$/\1/p' "$(dirname "$0")/../../contracts/src/agent-image.ts")}
[ -n "$tag" ] || { echo "no image tag in contracts/src/agent-image.ts" >&2; exit 1; }
echo "$tag"
