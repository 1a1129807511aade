import Foundation
import Testing

@testable import Authority

/// The verified-token cache: each thread reads its own copies, and a key change forgets every
/// copy at once, on every thread, including a verification that raced with the change.
@Suite(.timeLimit(.minutes(1))) struct HotPathCachesTests {
    static let claims = AccessTokenClaims(
        iss: "http://127.0.0.1:9000", sub: "agent-0123456789abcdef", aud: ["https://api.example.com/v1"],
        exp: 1_900_000_000, iat: 1_800_000_000, jti: "jti-0123456789abcdefghij", clientID: "agent-0123456789abcdef",
        scope: "read:documents write:documents")

    /// Runs `body` on a new thread and returns its result.
    static func onAnotherThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?
        let thread = Thread {
            result = body()
            done.signal()
        }
        thread.start()
        done.wait()
        return result!
    }

    static func address(_ text: String) -> UnsafeRawPointer? {
        var text = text
        return text.withUTF8 { UnsafeRawPointer($0.baseAddress) }
    }

    @Test func anotherThreadGetsEqualClaimsInBuffersOfItsOwn() {
        let caches = HotPathCaches()
        let digest = TokenDigest("a.b.c")
        caches.remember(digest, Self.claims, generation: caches.keyGeneration)
        let mine = caches.verified(digest)
        let theirs = Self.onAnotherThread { caches.verified(digest) }
        #expect(mine == Self.claims)
        #expect(theirs == Self.claims)
        // Another thread's copy shares no buffer with this one's: retaining it touches no count
        // that this thread touches.
        #expect(Self.address(theirs!.jti) != Self.address(mine!.jti))
        #expect(Self.address(theirs!.scope) != Self.address(mine!.scope))
    }

    @Test func aKeyChangeForgetsEveryThreadsCopy() {
        let caches = HotPathCaches()
        let digest = TokenDigest("a.b.c")
        caches.remember(digest, Self.claims, generation: caches.keyGeneration)
        // The other thread now holds a copy of its own.
        #expect(Self.onAnotherThread { caches.verified(digest) } == Self.claims)
        caches.keysChanged()
        #expect(caches.verified(digest) == nil)
        #expect(Self.onAnotherThread { caches.verified(digest) } == nil)
    }

    @Test func aVerificationWithKeysOlderThanAChangeIsNotKept() {
        let caches = HotPathCaches()
        let digest = TokenDigest("a.b.c")
        let before = caches.keyGeneration  // read before the key ring, as verification does
        caches.keysChanged()
        caches.remember(digest, Self.claims, generation: before)
        #expect(caches.verified(digest) == nil)
        #expect(Self.onAnotherThread { caches.verified(digest) } == nil)
    }
}
