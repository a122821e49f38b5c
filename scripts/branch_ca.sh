#!/usr/bin/env bash
# A self-signed CA for one branch and the box's TLS certificate, signed by it.
#   scripts/branch_ca.sh OUT_DIR BOX_NAME [IP ...]
# Writes OUT_DIR/branch-ca.pem (give this to consoles and kiosks: they trust only it),
# OUT_DIR/branch-ca.key (keep it OFF the box, offline), OUT_DIR/box.pem and OUT_DIR/box.key
# (server.tls_cert / server.tls_key in branch.toml; box.key is chmod 600).
# A bank with its own internal CA signs box.csr there instead and skips the first step.
set -euo pipefail
out=${1:?usage: branch_ca.sh OUT_DIR BOX_NAME [IP ...]}
name=${2:?usage: branch_ca.sh OUT_DIR BOX_NAME [IP ...]}
shift 2
mkdir -p "$out"
umask 077
san="DNS:$name,DNS:localhost,IP:127.0.0.1"
for ip in "$@"; do san="$san,IP:$ip"; done
if [ ! -f "$out/branch-ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
    -keyout "$out/branch-ca.key" -out "$out/branch-ca.pem" -subj "/CN=$name branch CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
  -keyout "$out/box.key" -out "$out/box.csr" -subj "/CN=$name" 2>/dev/null
ext=$(mktemp)
printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$san" > "$ext"
openssl x509 -req -in "$out/box.csr" -CA "$out/branch-ca.pem" -CAkey "$out/branch-ca.key" \
  -CAcreateserial -sha256 -days 825 -extfile "$ext" -out "$out/box.pem" 2>/dev/null
rm -f "$ext"
chmod 600 "$out/box.key" "$out/branch-ca.key"
chmod 644 "$out/box.pem" "$out/branch-ca.pem"
echo "branch CA: $out/branch-ca.pem (to consoles and devices); box: $out/box.pem + $out/box.key"
