#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage as far as a machine without a Docker engine allows: the release
# binary, built exactly as the Dockerfile builds it, runs on a bare Debian bookworm slim root filesystem that
# holds only the runtime packages the Dockerfile installs, as UID 1000, and answers /health.
#
# Usage (as root): bash Tests/Image/prove-image.sh   (needs debootstrap and network access to Debian's mirror)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

# The packages the Dockerfile's runtime stage installs, read from the Dockerfile itself.
packages=$(sed -n 's/.*apt-get install -y --no-install-recommends \([^\\]*\).*/\1/p' Dockerfile | tr -s ' ' ',' | sed 's/,$//')
echo "runtime packages from the Dockerfile: $packages"

# The build command of the Dockerfile's build stage.
swift build -c release --static-swift-stdlib -Xlinker -s --product functions
binary="$(swift build -c release --static-swift-stdlib -Xlinker -s --show-bin-path)/functions"

root=$(mktemp -d /tmp/functions-rootfs-XXXXXX)
chmod 0755 "$root"
trap 'umount "$root/proc" 2>/dev/null || true; rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$packages" bookworm "$root" http://deb.debian.org/debian >/dev/null
install -D -m 0755 "$binary" "$root/usr/local/bin/functions"
chroot "$root" groupadd --gid 1000 functions
chroot "$root" useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin functions
mount -t proc proc "$root/proc"

port=18099
chroot --userspec=1000:1000 "$root" env -i PORT=$port FUNCTION_TARGET=metrics \
  DATABASE_URL=postgres://u@127.0.0.1:1/db SECRET_KEY=image-proof-secret-key-image-proof-secret-key-0123 \
  /usr/local/bin/functions serve > "$root/tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
health=$(curl -fsS "http://127.0.0.1:$port/health") || { echo "no answer; the server said:"; cat "$root/tmp/serve.log"; exit 1; }
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
kill -TERM "$pid"; wait "$pid" || true
echo "health: $health (served as uid ${uid:-?})"
echo "libraries the binary needs: $(ldd "$binary" | awk '{print $1}' | tr '\n' ' ')"
[ "$health" = '{"status":"ok"}' ]
