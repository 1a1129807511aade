#!/usr/bin/env bash
# Makes a throwaway CA and two server certificates for localhost / 127.0.0.1 / ::1, with openssl,
# for tests and benchmarks (never for production). Everything is EC P-256 and valid for 30 days.
#
#   bash scripts/make-test-certs.sh DIR
#
#   DIR/ca.pem            the CA certificate: what clients trust (--ca-file, requests' verify=)
#   DIR/server.pem, .key  a server certificate signed by the CA, and its key (--tls-cert, --tls-key)
#   DIR/server2.pem, .key another one with its own key and serial (to test SIGHUP reloads)
#   DIR/chain.pem, .key   a server certificate signed by an intermediate CA (itself signed by the
#                         CA), followed by the intermediate: a certificate file holding a chain
#   DIR/other-ca.pem      a second CA that signed nothing here (a client trusting only it must fail)
set -euo pipefail
dir=${1:?usage: make-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

make_ca() { # make_ca NAME CN: a self-signed root
  new_key "$1"
  openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}

sign() { # sign NAME CN ISSUER EXTENSIONS...: NAME.key and NAME.pem, signed by ISSUER.pem/.key
  local name=$1 cn=$2 issuer=$3; shift 3
  new_key "$name"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  printf '%s\n' "$@" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 30 -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm "$name.csr" "$name.ext"
}

server=("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" "basicConstraints=critical,CA:FALSE"
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth")
make_ca ca "Authsec Test CA"
make_ca other-ca "Authsec Other Test CA"
sign server localhost ca "${server[@]}"
sign server2 localhost ca "${server[@]}"
sign intermediate "Authsec Test Intermediate CA" ca "basicConstraints=critical,CA:TRUE,pathlen:0" \
  "keyUsage=critical,keyCertSign,cRLSign"
sign chained localhost intermediate "${server[@]}"
cat chained.pem intermediate.pem > chain.pem
mv chained.key chain.key
rm chained.pem
chmod 644 ./*.pem
