/// RFC 7519 §2 NumericDate: seconds since the epoch, possibly fractional, as JSON numbers of any size.
enum NumericDate {
    /// Whole seconds, or nil for a value no `Int64` holds (`1e300`, infinities, NaN).
    ///
    /// `Int64(_: Double)` traps on such values, and a claim is the caller's input: a
    /// conversion that can fail must never stop the server.
    static func seconds(_ value: Double) -> Int64? {
        Int64(exactly: value.rounded(.down))
    }
}
