import ArgumentParser
import ClientModel
import Foundation
import Wire

/// `authsec usage [CLIENT_ID]`: hourly counters of the last 7 days, with a sparkline per row.
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract:
            "Show tokens issued, introspections, refreshes, quota spent and rate-limit refusals (needs admin:clients).",
        discussion: """
            Without CLIENT_ID: one row per client active in the last 7 days, with its totals and a \
            sparkline of its requests in 6-hour steps. With CLIENT_ID: one row per day, with a sparkline \
            of that day's 24 hours. Counters reach the store within a second.
            """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "One client's usage, day by day.") var clientID: String?

    func run() async throws {
        var request = Authsec_V1_GetUsageRequest()
        request.clientID = clientID ?? ""
        request.pageSize = 500
        var clients: [Authsec_V1_ClientUsage] = []
        var now: Int64 = 0
        try await connection.withAdminSession { call in
            while true {
                let page = try await call(.getUsage(request)).usage
                clients += page.clients
                now = page.now
                guard !page.nextPageToken.isEmpty else { return }
                request.pageToken = page.nextPageToken
            }
        }
        if connection.json {
            say(ClientJSON.text(["now": now, "clients": clients.map(Self.object)]))
        } else if let clientID {
            printDays(clientID, clients.first?.hours ?? [], now: now)
        } else if clients.isEmpty {
            say("no client was active in the last 7 days")
        } else {
            printTable(
                ["CLIENT", "TOKENS", "INTROSPECTIONS", "REFRESHES", "QUOTA", "RATE-LIMITED", "LAST 7 DAYS (6h steps)"],
                clients.map { usage in
                    let total = Self.total(usage.hours)
                    let buckets = Self.buckets(usage.hours, from: now - 7 * 86_400, step: 6 * 3600, count: 28)
                    return [usage.clientID] + Self.cells(total) + [Self.sparkline(buckets)]
                })
        }
    }

    private func printDays(_ clientID: String, _ hours: [Authsec_V1_UsageHour], now: Int64) {
        let today = now - now % 86_400
        var rows: [[String]] = []
        for day in stride(from: today - 6 * 86_400, through: today, by: 86_400) {
            let inDay = hours.filter { $0.hour >= day && $0.hour < day + 86_400 }
            let label = Date(timeIntervalSince1970: TimeInterval(day)).ISO8601Format(.iso8601.year().month().day())
            rows.append(
                [label] + Self.cells(Self.total(inDay))
                    + [Self.sparkline(Self.buckets(inDay, from: day, step: 3600, count: 24))])
        }
        say("\(clientID), by day (UTC):")
        printTable(["DAY", "TOKENS", "INTROSPECTIONS", "REFRESHES", "QUOTA", "RATE-LIMITED", "HOURS 00-23"], rows)
    }

    static func total(_ hours: [Authsec_V1_UsageHour]) -> Authsec_V1_UsageHour {
        hours.reduce(into: Authsec_V1_UsageHour()) { sum, hour in
            sum.tokensIssued += hour.tokensIssued
            sum.introspections += hour.introspections
            sum.refreshes += hour.refreshes
            sum.quotaSpent += hour.quotaSpent
            sum.rateLimited += hour.rateLimited
        }
    }

    static func cells(_ total: Authsec_V1_UsageHour) -> [String] {
        [total.tokensIssued, total.introspections, total.refreshes, total.quotaSpent, total.rateLimited].map {
            String($0)
        }
    }

    /// Requests (tokens, introspections, refreshes) per `step` seconds from `from`.
    static func buckets(_ hours: [Authsec_V1_UsageHour], from: Int64, step: Int64, count: Int) -> [UInt64] {
        var buckets = [UInt64](repeating: 0, count: count)
        for hour in hours where hour.hour >= from {
            let index = Int((hour.hour - from) / step)
            if index < count { buckets[index] += hour.tokensIssued + hour.introspections + hour.refreshes }
        }
        return buckets
    }

    static let bars = Array(" ▁▂▃▄▅▆▇█")

    /// One character per value, scaled to the largest; zero is a space.
    static func sparkline(_ values: [UInt64]) -> String {
        let top = values.max() ?? 0
        guard top > 0 else { return String(repeating: " ", count: values.count) }
        return String(
            values.map { value in
                value == 0 ? " " : bars[max(1, Int((Double(value) / Double(top) * 8).rounded(.up)))]
            })
    }

    static func object(_ usage: Authsec_V1_ClientUsage) -> [String: Any] {
        func counters(_ hour: Authsec_V1_UsageHour) -> [String: Any] {
            [
                "tokens_issued": hour.tokensIssued, "introspections": hour.introspections, "refreshes": hour.refreshes,
                "quota_spent": hour.quotaSpent, "rate_limited": hour.rateLimited,
            ]
        }
        return [
            "client_id": usage.clientID, "totals": counters(total(usage.hours)),
            "hours": usage.hours.map { hour in counters(hour).merging(["hour": hour.hour]) { $1 } },
        ]
    }
}
