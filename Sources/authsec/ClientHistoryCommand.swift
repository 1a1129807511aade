import ArgumentParser
import ClientModel
import Foundation
import Wire

extension Clients {
    /// `clients history ID [--diff]`: every kept version of a client, and what each changed.
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the kept versions of a client (who changed it, when); --diff shows each field changed.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The client's id.") var clientID: String
        @Flag(help: "Show the fields each version changed, old and new values.") var diff = false

        func run() async throws {
            var call = Authsec_V1_ClientHistoryRequest()
            call.clientID = clientID
            let versions = try await connection.callAsAdmin(.clientHistory(call)).clientHistory.versions
            var previous: [String: String]?
            var entries: [[String: Any]] = []
            var rows: [[String]] = []
            for version in versions {
                let fields = Self.flatten(ClientJSON.object(version.client))
                let changes = previous.map { Self.changes(from: $0, to: fields) } ?? []
                previous = fields
                if connection.json {
                    var entry: [String: Any] = [
                        "version": version.version, "time": AuditCommand.time(version.time), "change": version.change,
                        "actor": version.actor, "client": ClientJSON.object(version.client),
                    ]
                    if diff {
                        entry["changes"] = changes.map { ["field": $0.field, "before": $0.before, "after": $0.after] }
                    }
                    entries.append(entry)
                    continue
                }
                if diff {
                    say(
                        "version \(version.version)  \(AuditCommand.time(version.time))  \(version.change)"
                            + (version.actor.isEmpty ? "" : " by \(version.actor)"))
                    if version.version == versions.first?.version {
                        say("  (first kept version)")
                    } else if changes.isEmpty {
                        say("  (no field changed)")
                    }
                    for change in changes { say("  \(change.field): \(change.before) → \(change.after)") }
                } else {
                    rows.append([
                        String(version.version), AuditCommand.time(version.time), version.change,
                        version.actor.isEmpty ? "-" : version.actor, changes.map(\.field).joined(separator: ", "),
                    ])
                }
            }
            if connection.json {
                say(ClientJSON.text(["client_id": clientID, "versions": entries]))
            } else if !diff {
                printTable(["VERSION", "TIME", "CHANGE", "BY", "FIELDS CHANGED"], rows)
            }
        }

        struct Change {
            let field: String
            let before: String
            let after: String
        }

        /// Fields that differ, by dotted path; `updated_at` (it changes with every version) left out.
        static func changes(from old: [String: String], to new: [String: String]) -> [Change] {
            Set(old.keys).union(new.keys).sorted().compactMap { field in
                guard field != "updated_at", old[field] != new[field] else { return nil }
                return Change(field: field, before: old[field] ?? "(unset)", after: new[field] ?? "(unset)")
            }
        }

        /// Leaves of a client's JSON by dotted path (objects are walked; arrays are one value).
        static func flatten(_ object: [String: Any], prefix: String = "") -> [String: String] {
            var leaves: [String: String] = [:]
            for (key, value) in object {
                let path = prefix + key
                if let nested = value as? [String: Any], !nested.isEmpty, key != "jwks" {
                    leaves.merge(flatten(nested, prefix: path + ".")) { $1 }
                } else {
                    leaves[path] = compact(value)
                }
            }
            return leaves
        }

        static func compact(_ value: Any) -> String {
            if value is NSNull { return "null" }
            guard JSONSerialization.isValidJSONObject([value]),
                let data = try? JSONSerialization.data(
                    withJSONObject: [value], options: [.sortedKeys, .withoutEscapingSlashes])
            else { return "\(value)" }
            return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
        }
    }
}
