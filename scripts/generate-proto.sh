#!/usr/bin/env bash
# Regenerates the committed Swift code from proto/. Needs Debian's protoc (protobuf-compiler) and
# protoc-gen-swift, built once from the swift-protobuf checkout (about 1.5 minutes):
#   swift package resolve
#   (cd .build/checkouts/swift-protobuf && swift build -c release --product protoc-gen-swift --scratch-path ../../../.build-protoc)
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-.build-protoc/release/protoc-gen-swift}"
if [ ! -x "$plugin" ]; then
  echo "protoc-gen-swift not found at $plugin; build it as this script's header says, or set PROTOC_GEN_SWIFT" >&2
  exit 1
fi
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=Sources/Wire/Generated \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  -I proto proto/authsec/v1/authsec.proto
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=Sources/Authority/Storage/Generated \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  -I proto proto/authsec/store/v1/records.proto
echo "generated Sources/Wire/Generated and Sources/Authority/Storage/Generated"
