import ClientModel
import Store

/// Hourly usage of some clients, a page at a time.
public struct UsagePage: Sendable {
    public struct Entry: Sendable {
        public let clientID: String
        /// Hours with activity in the last 7 days, oldest first.
        public let hours: [Authsec_V1_UsageHour]
    }

    public let clients: [Entry]
    /// Pass back for the next page; nil on the last one.
    public let nextPageToken: String?
    /// Unix seconds: where the 7 days end.
    public let now: Int64
}

extension Authority {
    /// Each client's counters by hour for the last 7 days (as of the last flush, at most a second
    /// ago): of `clientID` alone, or of every client with activity, `pageSize` clients a page.
    public func usage(clientID: String?, pageSize: Int, pageToken: String?) throws -> UsagePage {
        let now = clock.now()
        let oldest = now - Self.usageRetention
        if let clientID, !clientID.isEmpty {
            guard clientID.utf8.count <= 255 else { throw AuthorityError(.invalidRequest, "client_id is too long") }
            let prefix = clientID + " "
            let rows = try read { try $0.scan(Keyspace.usage, after: prefix, limit: 24 * 8 + 1) }
            let hours = rows.prefix { $0.key.hasPrefix(prefix) }.map(\.value).filter { $0.hour + 3600 > oldest }
            if hours.isEmpty, try read({ try $0.get(Keyspace.clients, clientID) }) == nil {
                throw AuthorityError(.notFound, "client \(clientID) does not exist and has no usage")
            }
            return UsagePage(clients: [.init(clientID: clientID, hours: hours)], nextPageToken: nil, now: now)
        }
        let size = pageSize <= 0 ? 50 : min(pageSize, 500)
        // "id g" sorts after every "id <8 hex digits>" key of that client, and before other ids.
        var after = pageToken.flatMap { $0.isEmpty ? nil : $0 + " g" }
        var entries: [UsagePage.Entry] = []
        var current: (id: String, hours: [Authsec_V1_UsageHour])?
        scanning: while true {
            let rows = try read { try $0.scan(Keyspace.usage, after: after, limit: 1000) }
            for (key, hour) in rows {
                guard let space = key.lastIndex(of: " ") else { continue }
                let id = String(key[..<space])
                if current?.id != id {
                    if let done = current, !done.hours.isEmpty {
                        entries.append(.init(clientID: done.id, hours: done.hours))
                        if entries.count == size + 1 { break scanning }
                    }
                    current = (id, [])
                }
                if hour.hour + 3600 > oldest { current?.hours.append(hour) }
            }
            guard rows.count == 1000 else { break }
            after = rows.last?.key
        }
        if entries.count <= size, let done = current, !done.hours.isEmpty {
            entries.append(.init(clientID: done.id, hours: done.hours))
        }
        let hasMore = entries.count > size
        let page = Array(entries.prefix(size))
        return UsagePage(clients: page, nextPageToken: hasMore ? page.last?.clientID : nil, now: now)
    }
}
