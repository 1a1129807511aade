/// Hashes and checks user passwords with a slow KDF, away from the caller's executor.
///
/// The doors run request tasks on NIO event loops (`EventLoopTaskExecutor`), where a 100 ms hash
/// would stall every connection of that loop; an implementation must do its work elsewhere and
/// only resume the caller. Authority takes one, so tests can choose a cheap cost.
public protocol PasswordHasher: Sendable {
    /// A new salted hash of `password`, in the form `verify` reads back.
    func hash(_ password: String) async throws -> String

    /// Whether `password` matches `hash`. With `hash` nil (no such user) it spends the time of a
    /// real check and returns false, so the time of a sign-in does not tell whether a user exists.
    func verify(_ password: String, against hash: String?) async throws -> Bool
}
