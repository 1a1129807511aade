#!/usr/bin/env bash
# Regenerates the committed Swift code from proto/. Needs Debian's protoc (protobuf-compiler) and
# protoc-gen-swift, built once from the swift-protobuf checkout (about 1.5 minutes):
#   swift package resolve
#   (cd .build/checkouts/swift-protobuf && swift build -c release --product protoc-gen-swift --scratch-path ../../../.build-protoc)
#
# authsec/v1/client.proto (the client's fields, declared once) and activity.proto (audit events,
# client versions, usage: answered and stored as they are) go to their own module, ClientModel,
# which the wire messages (WireMessages, re-exported by Wire) and the stored records (Authority)
# both import: the module mappings file tells protoc-gen-swift so.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-.build-protoc/release/protoc-gen-swift}"
if [ ! -x "$plugin" ]; then
  echo "protoc-gen-swift not found at $plugin; build it as this script's header says, or set PROTOC_GEN_SWIFT" >&2
  exit 1
fi
generate() { # OUTPUT_DIR PROTO_FILE
  protoc --plugin=protoc-gen-swift="$plugin" --swift_out="$1" \
    --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
    --swift_opt=ProtoPathModuleMappings=proto/module-mappings.asciipb \
    -I proto "$2"
}
generate Sources/ClientModel/Generated proto/authsec/v1/client.proto
generate Sources/ClientModel/Generated proto/authsec/v1/activity.proto
generate Sources/WireMessages/Generated proto/authsec/v1/authsec.proto
generate Sources/Authority/Storage/Generated proto/authsec/store/v1/records.proto
echo "generated Sources/ClientModel/Generated, Sources/WireMessages/Generated and Sources/Authority/Storage/Generated"
