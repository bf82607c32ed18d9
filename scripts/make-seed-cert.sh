#!/usr/bin/env bash
# Makes a certificate exactly as the seed's blog post does: `openssl genrsa 1024`, `req -new` with
# every field left at its default (Enter pressed at each prompt), `x509 -req -signkey`.
# The result is an X.509 v1, 1024-bit RSA certificate with no CN and no subjectAltName, which
# matches no host name: roompeer reaches a server using it only with --pin-cert (or --insecure).
# Usage: scripts/make-seed-cert.sh OUT_DIR   -> OUT_DIR/cert.pem (key), cert.csr, cert.crt
set -euo pipefail
out=${1:?usage: make-seed-cert.sh OUT_DIR}
mkdir -p "$out"
cd "$out"
openssl genrsa -out cert.pem 1024 2>/dev/null
# Nine answers: country, state, locality, organisation, unit, common name, e-mail, challenge password,
# optional company name; each empty line takes the default shown in brackets.
printf '\n\n\n\n\n\n\n\n\n' | openssl req -new -key cert.pem -out cert.csr >/dev/null 2>&1
openssl x509 -req -days 3650 -in cert.csr -signkey cert.pem -out cert.crt 2>/dev/null
