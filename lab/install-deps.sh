#!/bin/sh
# Install what the hive lab needs on the host (Debian). Idempotent and quiet.
set -e
PKGS="docker.io debootstrap xfsprogs iproute2 openssh-client util-linux iptables e2fsprogs procps python3 python3-yaml ca-certificates"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The Debian docker.io package may have started (and enabled) the system engine; the lab
# never uses it, it starts its own. Nothing else to do here.
echo "hive-lab dependencies present"
