#!/bin/sh
# release-rootfs.sh - collects the smallest root filesystem `make release`'s
# binaries run in (the Dockerfile's FROM scratch image; any chroot).
#
#   BUILD=build sh scripts/release-rootfs.sh DIR
#
# Into DIR (created; must be empty or absent) it copies:
#   /usr/bin/tincan-server, /usr/bin/tincan    from $BUILD/release/
#   every shared library `ldd` resolves for them, at the path it resolved to,
#   and the dynamic loader                     (see docs/operations.md for why
#                                               libcurl's closure and glibc are
#                                               not static)
#   /etc/ssl/certs/ca-certificates.crt         libcurl's CA bundle, for S3 over TLS
#   /etc/passwd, /etc/group                    root and the service user
#                                              tincan ($TINCAN_UID, default 10001)
#   /etc/nsswitch.conf, /etc/hosts             files + dns for getaddrinfo (glibc
#                                              2.34+ has both built in: no libnss_*)
#   /etc/tincan/tincan.conf                    packaging/tincan.conf
#   /data (0750, owned by the service user when run as root), /tmp (1777)
# and nothing else: no shell, no package manager.
#
# It never touches anything outside DIR.
set -eu

BUILD=${BUILD:-build}
UID_=${TINCAN_UID:-10001}
REPO=$(cd "$(dirname "$0")/.." && pwd)
CA=/etc/ssl/certs/ca-certificates.crt

if [ $# -ne 1 ]; then
    echo "usage: BUILD=build sh $0 DIR" >&2
    exit 2
fi
DIR=$1
case $UID_ in
    ''|*[!0-9]*|0) echo "release-rootfs: TINCAN_UID must be a number > 0" >&2; exit 2 ;;
esac
if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
    echo "release-rootfs: $DIR is not empty" >&2
    exit 1
fi
BINS="$BUILD/release/tincan-server $BUILD/release/tincan"
for b in $BINS; do
    if [ ! -x "$b" ]; then
        echo "release-rootfs: $b is missing: run make BUILD=$BUILD release" >&2
        exit 1
    fi
done
if [ ! -f "$CA" ]; then
    echo "release-rootfs: $CA is missing: install ca-certificates" >&2
    exit 1
fi

# copy SRC DEST-PATH-INSIDE-DIR: the file SRC points to, as a regular file.
copy() {
    mkdir -p "$DIR$(dirname "$2")"
    cp -L "$1" "$DIR$2"
}

mkdir -p "$DIR/usr/bin"
for b in $BINS; do
    cp "$b" "$DIR/usr/bin/"
    # "libx.so => /lib/.../libx.so (0x..)" and "/lib64/ld-linux-x86-64.so.2 (0x..)";
    # vdso lines have no path. A library ldd cannot find fails the script.
    if ldd "$b" | grep -q "not found"; then
        echo "release-rootfs: ldd $b: a library is not found:" >&2
        ldd "$b" >&2
        exit 1
    fi
    for lib in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        copy "$lib" "$lib"
    done
done
copy "$CA" "$CA"

mkdir -p "$DIR/etc/tincan" "$DIR/data" "$DIR/tmp"
cp "$REPO/packaging/tincan.conf" "$DIR/etc/tincan/tincan.conf"
printf 'root:x:0:0:root:/:/sbin/nologin\ntincan:x:%s:%s:tincan:/data:/sbin/nologin\n' \
    "$UID_" "$UID_" >"$DIR/etc/passwd"
printf 'root:x:0:\ntincan:x:%s:\n' "$UID_" >"$DIR/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$DIR/etc/nsswitch.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$DIR/etc/hosts"
chmod 1777 "$DIR/tmp"
chmod 0750 "$DIR/data"
if [ "$(id -u)" = 0 ]; then
    chown "$UID_:$UID_" "$DIR/data"
else
    echo "release-rootfs: not root: $DIR/data stays owned by $(id -u);" \
        "chown it to $UID_ (the Dockerfile's COPY --chown does)" >&2
fi
echo "release-rootfs: $DIR: $(find "$DIR" -type f | wc -l) files," \
    "$(du -sk "$DIR" | cut -f1) KiB"
