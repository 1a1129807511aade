/// What an operation answers: already decided, or decided after suspending (a durable write, a
/// fetch of a client's keys).
///
/// One entry point per operation returns it, and each door spells both cases its own way: the
/// event loop writes a ready answer inline and runs a pending one as a task. There is no
/// second, "immediate" copy of an operation to keep in step with the first.
public enum Answer<Value: Sendable>: Sendable {
    case ready(Result<Value, any Error>)
    case pending(@Sendable () async throws -> Value)

    /// The value, suspending when it is pending.
    public func value() async throws -> Value {
        switch self {
        case .ready(let result): try result.get()
        case .pending(let work): try await work()
        }
    }

    /// The answer of `body`; an error it throws is a ready failure.
    static func deciding(_ body: () throws -> Answer) -> Answer {
        do {
            return try body()
        } catch {
            return .ready(.failure(error))
        }
    }

    /// Continues with `next`, inline when this answer is ready.
    func then<Next>(_ next: @escaping @Sendable (Value) throws -> Answer<Next>) -> Answer<Next> {
        switch self {
        case .ready(.success(let value)): .deciding { try next(value) }
        case .ready(.failure(let error)): .ready(.failure(error))
        case .pending(let work): .pending { try await next(try await work()).value() }
        }
    }

    /// The result when this answer is ready, else nil.
    ///
    /// Hot paths continue a ready answer inline with it: the closure `then` or `map` takes is
    /// formed before they look, and forming it allocates a context and retains what it captures
    /// (the authority itself, shared by every event loop) although only a pending answer needs it.
    public var readyResult: Result<Value, any Error>? {
        if case .ready(let result) = self { result } else { nil }
    }

    /// Transforms the value, inline when this answer is ready.
    public func map<Next>(_ transform: @escaping @Sendable (Value) throws -> Next) -> Answer<Next> {
        switch self {
        case .ready(.success(let value)): .ready(Result { try transform(value) })
        case .ready(.failure(let error)): .ready(.failure(error))
        case .pending(let work): .pending { try transform(try await work()) }
        }
    }
}
