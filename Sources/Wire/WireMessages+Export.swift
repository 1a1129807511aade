/// The wire messages live in their own module (generated code, built without run-time exclusivity
/// checks; see Package.swift); whoever imports Wire sees them as before.
@_exported import WireMessages
