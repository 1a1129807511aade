import Dispatch
import HummingbirdBcrypt
import Synchronization

/// bcrypt (hummingbird-auth's `HummingbirdBcrypt`) on one low-priority thread per core
/// (`BackgroundThreads`): at most one hash per core runs at once, further requests wait their
/// turn, and an event loop always preempts a hash. Nothing here runs on the caller's executor.
public struct BcryptPasswordHasher: PasswordHasher {
    /// The cost used for new hashes: bcrypt runs 2^cost rounds. 11 takes about 165 ms on one
    /// core of the machines Authsec is built on (measured; see the README, "Users"), inside the
    /// 50–250 ms a person waits without noticing and at least OWASP's minimum of 10. A stored hash
    /// keeps the cost it was made with, so raising this leaves old hashes valid.
    public static let defaultCost: UInt8 = 11

    public let cost: UInt8
    private let threads: BackgroundThreads
    /// A hash of a random password at `cost`, checked against when there is no user, so that an
    /// unknown username costs what a wrong password costs. Made on first use, off the caller.
    private let dummy = Dummy()

    /// - Parameter cost: 4 to 31 (tests use 4); the precondition is the library's own.
    public init(cost: UInt8 = Self.defaultCost) {
        precondition((4...31).contains(cost), "bcrypt cost must be between 4 and 31")
        self.cost = cost
        threads = Self.sharedThreads
    }

    public func hash(_ password: String) async throws -> String {
        let cost = cost
        return await run { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, against hash: String?) async throws -> Bool {
        let cost = cost
        let dummy = dummy
        return await run {
            guard let hash else {
                _ = Bcrypt.verify(password, hash: dummy.hash(cost: cost))
                return false
            }
            return Bcrypt.verify(password, hash: hash)
        }
    }

    /// The time of each of `checks` password checks at `cost`, run one after another on the calling
    /// thread at its own priority: the KDF's cost alone, which bounds how many sign-ins a core can
    /// complete (`authsec bench --op kdf`; BENCHMARKS.md, "Sign-ins").
    public static func checkTimes(cost: UInt8 = defaultCost, checks: Int) -> [Duration] {
        let password = "correct horse battery staple"
        let hash = Bcrypt.hash(password, cost: cost)
        let clock = ContinuousClock()
        return (0..<max(checks, 0)).map { _ in clock.measure { _ = Bcrypt.verify(password, hash: hash) } }
    }

    /// One set of threads for every hasher in the process (tests make many).
    private static let sharedThreads = BackgroundThreads()

    /// Runs `work` on the low-priority threads and resumes the caller with its result.
    private func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            threads.run(work) { continuation.resume(returning: $0) }
        }
    }

    /// The dummy hash, made once per hasher.
    private final class Dummy: Sendable {
        private let value = Mutex<String?>(nil)

        func hash(cost: UInt8) -> String {
            if let made = value.withLock({ $0 }) { return made }
            // Two first uses at once may both make one; either is as good.
            let made = Bcrypt.hash(Secrets.randomBase64URL(bytes: 16), cost: cost)
            value.withLock { $0 = made }
            return made
        }
    }
}
