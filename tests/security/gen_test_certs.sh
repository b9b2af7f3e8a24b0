#!/usr/bin/env bash
# Writes throwaway TLS material for the security tests into DIR (created if
# needed): two unrelated CAs, and under each a daemon certificate (server and
# client use, valid for localhost, 127.0.0.1 and ::1) and a client certificate.
#
#   ca.pem                         the CA the daemons and clients trust
#   daemon.pem daemon.key          coordinator and agents (signed by ca)
#   client.pem client.key          framework processes and tools (signed by ca)
#   other_ca.pem                   an unrelated CA
#   other_daemon.pem/.key, other_client.pem/.key   signed by other_ca
#
# Keys are P-256 (fast to make); certificates are valid for 7 days. Usage:
#   tests/security/gen_test_certs.sh DIR
set -euo pipefail
dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() {  # ca NAME SUBJECT
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 7 -subj "/CN=$2" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() {  # leaf NAME CA SUBJECT EXTENSIONS
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "$4" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 7 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

daemon_ext=$'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth,clientAuth'
client_ext="extendedKeyUsage=clientAuth"

ca ca "paramsync test CA"
leaf daemon ca "paramsync-daemon" "$daemon_ext"
leaf client ca "paramsync-client" "$client_ext"
ca other_ca "unrelated test CA"
leaf other_daemon other_ca "paramsync-daemon" "$daemon_ext"
leaf other_client other_ca "paramsync-client" "$client_ext"
chmod 600 ./*.key
