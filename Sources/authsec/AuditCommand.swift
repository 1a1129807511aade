import ArgumentParser
import ClientModel
import Foundation
import Wire

/// `authsec audit`: the audit log, oldest first, as a table or JSON lines; `--follow` waits for more.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show the audit log: client, scope and key changes, tokens, refusals (needs admin:clients).",
        discussion: """
            Token issuance, authentication failures, rate-limit refusals and exhausted quotas are \
            aggregated per client, outcome, door and peer each second (the COUNT column). Events reach \
            the log within a second.
            """)
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("client"), help: "Only events about or by this client_id.") var clientID: String?
    @Option(help: "Only events of this type (client.update), or of a family (client.).") var type: String?
    @Option(help: "How far back to start: 1h, 30m, 7d (default 24h).") var since: String = "24h"
    @Flag(help: "Keep printing new events as they come, until interrupted.") var follow = false

    func validate() throws {
        guard DurationArgument(argument: since) != nil else {
            throw ValidationError("--since must be a duration such as 1h, 30m or 7d, not '\(since)'")
        }
    }

    func run() async throws {
        let seconds = DurationArgument(argument: since)?.seconds ?? 86_400
        let start = Int64(Date().timeIntervalSince1970 * 1000) - min(seconds, 3650 * 86_400) * 1000
        var request = Authsec_V1_ListAuditRequest()
        request.since = max(1, start)
        request.clientID = clientID ?? ""
        request.type = type ?? ""
        request.pageSize = 1000
        let json = connection.json
        try await connection.withAdminSession { call in
            var printedHeader = false
            while true {
                let page = try await call(.listAudit(request)).audit
                if json {
                    for event in page.events { say(Self.jsonLine(event)) }
                } else if !page.events.isEmpty || !printedHeader {
                    printTable(printedHeader ? nil : Self.header, page.events.map(Self.row))
                    printedHeader = true
                }
                if !page.nextAfter.isEmpty { request.after = page.nextAfter }
                if page.more { continue }
                guard follow else { return }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    static let header = ["TIME", "TYPE", "OUTCOME", "CLIENT", "ACTOR", "DOOR", "PEER", "COUNT", "DETAIL"]

    static func row(_ event: Authsec_V1_AuditEvent) -> [String] {
        [
            time(event.time), event.type, event.outcome,
            !event.clientID.isEmpty ? event.clientID : event.user.isEmpty ? "-" : "user \(event.user)",
            event.actor.isEmpty ? "-" : event.actor, event.door, event.peer.isEmpty ? "-" : event.peer,
            String(event.count), event.detail,
        ]
    }

    static func time(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000)
            .ISO8601Format(.iso8601.year().month().day().time(includingFractionalSeconds: true))
    }

    /// One event as a compact JSON object: every field, the time both as text and milliseconds.
    static func jsonLine(_ event: Authsec_V1_AuditEvent) -> String {
        let object: [String: Any] = [
            "id": event.id, "time": time(event.time), "time_ms": event.time, "type": event.type,
            "outcome": event.outcome, "actor": event.actor, "client_id": event.clientID, "door": event.door,
            "peer": event.peer, "count": event.count, "detail": event.detail, "user": event.user,
        ]
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
