/// Durations as admins write them: `30s`, `10m`, `1h`, `7d`, or a bare number of seconds.
public enum DurationText {
    /// Seconds for `text`, or nil when it is not a duration.
    public static func seconds(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let multiplier: Int64
        var digits = Substring(trimmed)
        switch last {
        case "s": multiplier = 1
        case "m": multiplier = 60
        case "h": multiplier = 3600
        case "d": multiplier = 86_400
        case "w": multiplier = 604_800
        case "0"..."9": multiplier = 1  // bare seconds
        default: return nil
        }
        if !last.isNumber { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = Int64(digits), value >= 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
}

import Foundation
