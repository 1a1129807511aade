import Authority
import Dispatch
import Synchronization

/// One door's answered requests and their durations, by call: `authsec_requests_total` and the
/// `authsec_request_duration_seconds` histogram, in Prometheus's text format.
///
/// Kept per thread (one of 16 shards, chosen by the calling thread), so that recording a request
/// takes an uncontended lock and a few additions, where a shared Prometheus histogram took a lock
/// both event loops fight over on every answer. `/metrics` adds the shards up.
final class RequestStats: Sendable {
    /// Bucket upper bounds in nanoseconds: answers take microseconds, slow ones seconds.
    static let bounds: [UInt64] = [
        25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000,
        50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 5_000_000_000,
    ]
    static let shardCount = 16

    /// Per call: a count per bucket (the last one past every bound), and the sum of nanoseconds.
    struct Shard {
        var buckets = [UInt64](repeating: 0, count: ServerMetrics.Call.allCases.count * (bounds.count + 1))
        var sums = [UInt64](repeating: 0, count: ServerMetrics.Call.allCases.count)
    }

    private let door: String
    private let shards = ThreadShards(count: shardCount) { Shard() }

    init(door: String) {
        self.door = door
    }

    func record(_ call: ServerMetrics.Call, nanoseconds: UInt64) {
        var bucket = 0
        while bucket < Self.bounds.count, nanoseconds > Self.bounds[bucket] { bucket += 1 }
        let index = call.rawValue * (Self.bounds.count + 1) + bucket
        shards.current.state.withLock {
            $0.buckets[index] &+= 1
            $0.sums[call.rawValue] &+= nanoseconds
        }
    }

    /// The shards added up.
    private func total() -> Shard {
        var total = Shard()
        for shard in shards.all {
            shard.state.withLock { part in
                for index in total.buckets.indices { total.buckets[index] &+= part.buckets[index] }
                for index in total.sums.indices { total.sums[index] &+= part.sums[index] }
            }
        }
        return total
    }

    /// The door's series in Prometheus's text format (without the `# TYPE` lines, which one
    /// family of both doors shares): `requests` and `durations` lines.
    func exposition() -> (requests: String, durations: String) {
        let total = total()
        var requests = ""
        var durations = ""
        for call in ServerMetrics.Call.allCases {
            let labels = "door=\"\(door)\",call=\"\(call.label)\""
            let first = call.rawValue * (Self.bounds.count + 1)
            var cumulative: UInt64 = 0
            for (bucket, bound) in Self.bounds.enumerated() {
                cumulative &+= total.buckets[first + bucket]
                durations +=
                    "authsec_request_duration_seconds_bucket{\(labels),le=\"\(Self.seconds(bound))\"} \(cumulative)\n"
            }
            cumulative &+= total.buckets[first + Self.bounds.count]
            durations += "authsec_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(cumulative)\n"
            durations += "authsec_request_duration_seconds_sum{\(labels)} \(Self.seconds(total.sums[call.rawValue]))\n"
            durations += "authsec_request_duration_seconds_count{\(labels)} \(cumulative)\n"
            requests += "authsec_requests_total{\(labels)} \(cumulative)\n"
        }
        return (requests, durations)
    }

    /// Nanoseconds as seconds, as Prometheus writes a float.
    static func seconds(_ nanoseconds: UInt64) -> String {
        "\(Double(nanoseconds) / 1e9)"
    }
}
