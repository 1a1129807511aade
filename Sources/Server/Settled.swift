import Authority

/// A door's reply to one request: written now, on the event loop that read the request, or
/// after suspending, by a task. Errors are replies too, so neither case can fail.
enum Settled<Reply: Sendable>: Sendable {
    case now(Reply)
    case later(@Sendable () async -> Reply)

    func value() async -> Reply {
        switch self {
        case .now(let reply): reply
        case .later(let work): await work()
        }
    }
}

extension Answer {
    /// This answer as a door replies: `reply` for the value and `failure` for an error, now when
    /// the answer is ready.
    func settled<Reply: Sendable>(
        _ reply: @escaping @Sendable (Value) -> Reply, failure: @escaping @Sendable (any Error) -> Reply
    ) -> Settled<Reply> {
        switch self {
        case .ready(.success(let value)): .now(reply(value))
        case .ready(.failure(let error)): .now(failure(error))
        case .pending(let work):
            .later {
                do {
                    return reply(try await work())
                } catch {
                    return failure(error)
                }
            }
        }
    }
}
