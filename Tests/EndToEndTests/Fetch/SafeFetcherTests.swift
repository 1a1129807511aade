import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import Server

/// The safe fetcher against a misbehaving server on loopback (the only place tests send traffic).
@Suite(.timeLimit(.minutes(2))) struct SafeFetcherTests {
    static let document = Array(#"{"keys":[]}"#.utf8)
    static let limits = SafeFetcher.Limits(deadline: .seconds(2), maxBytes: 1024)

    /// With `--allow-insecure-client-metadata`: loopback and http allowed, everything else as in production.
    let insecure = SafeFetcher(configuration: .init(allowsInsecureTargets: true))
    let strict = SafeFetcher()

    func failure(
        _ fetcher: SafeFetcher, _ url: String, limits: SafeFetcher.Limits = limits
    ) async -> FetchError? {
        do {
            _ = try await fetcher.fetch(url, accept: "application/json", limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func fetchesADocument() async throws {
        let server = try await LoopbackHTTPServer()
        server.serve("/jwks.json", .document(Self.document))
        server.serve("/chunked.json", .document(Self.document, chunked: true))
        let body = try await insecure.fetch(
            server.url("/jwks.json?x=1"), accept: "application/json", limits: Self.limits)
        #expect(body == Self.document)
        let chunked = try await insecure.fetch(
            server.url("/chunked.json"), accept: "application/json", limits: Self.limits)
        #expect(chunked == Self.document)
        #expect(server.requests("/jwks.json") == 1)
        try await server.close()
    }

    /// Without the flag, loopback is refused before any connection: as a literal, through
    /// resolution (`localhost`) and as an embedded IPv4 address; http is refused from the URL.
    @Test func loopbackIsRefusedWithoutTheFlag() async throws {
        let server = try await LoopbackHTTPServer()
        server.serve("/jwks.json", .document(Self.document))
        for url in [
            server.url("/jwks.json", scheme: "https"), server.url("/jwks.json", scheme: "https", host: "localhost"),
            server.url("/jwks.json", scheme: "https", host: "[::ffff:127.0.0.1]"),
            server.url("/jwks.json", scheme: "https", host: "127.0.0.2"),
        ] {
            #expect(await failure(strict, url)?.code == .refusedAddress, "\(url)")
        }
        #expect(await failure(strict, server.url("/jwks.json"))?.code == .invalidURL)
        #expect(server.connections == 0)
        try await server.close()
    }

    /// The flag opens loopback, not the unspecified address, which Linux would connect to this
    /// very host: `0.0.0.0` and `::`, plain or IPv4-mapped, are refused before any connection.
    /// (Link-local, multicast and the other ranges the flag keeps closed are covered by
    /// AddressPolicyTests without traffic: a test that broke here must not reach off this host.)
    @Test func theFlagStillRefusesTheUnspecifiedAddress() async throws {
        let server = try await LoopbackHTTPServer()
        server.serve("/jwks.json", .document(Self.document))
        for host in ["0.0.0.0", "[::]", "[::ffff:0.0.0.0]", "[::ffff:0:0.0.0.0]"] {
            #expect(await failure(insecure, server.url("/jwks.json", host: host))?.code == .refusedAddress, "\(host)")
        }
        #expect(server.connections == 0)
        try await server.close()
    }

    @Test(arguments: [301, 302, 303, 307, 308])
    func aRedirectIsAFailure(_ status: Int) async throws {
        let server = try await LoopbackHTTPServer()
        server.serve("/moved.json", .redirect(server.url("/jwks.json"), status: status))
        server.serve("/jwks.json", .document(Self.document))
        #expect(await failure(insecure, server.url("/moved.json"))?.code == .redirected)
        #expect(server.requests("/moved.json") == 1)
        #expect(server.requests("/jwks.json") == 0)
        try await server.close()
    }

    @Test(arguments: [201, 204, 206, 404, 500])
    func onlyTwoHundredSucceeds(_ status: Int) async throws {
        let server = try await LoopbackHTTPServer()
        server.serve("/jwks.json", .status(status))
        #expect(await failure(insecure, server.url("/jwks.json"))?.code == .badStatus)
        try await server.close()
    }

    /// The cap holds whether the size is announced (Content-Length) or only counted (chunked).
    @Test func aBodyOverTheCapIsRefused() async throws {
        let server = try await LoopbackHTTPServer()
        let cap = 1024
        server.serve("/exact.json", .document([UInt8](repeating: 0x20, count: cap)))
        server.serve("/exact-chunked.json", .document([UInt8](repeating: 0x20, count: cap), chunked: true))
        server.serve("/announced.json", .document([UInt8](repeating: 0x20, count: cap + 1)))
        server.serve("/chunked.json", .document([UInt8](repeating: 0x20, count: cap + 1), chunked: true))
        let limits = SafeFetcher.Limits(deadline: .seconds(2), maxBytes: cap)
        #expect(await failure(insecure, server.url("/exact.json"), limits: limits) == nil)
        #expect(await failure(insecure, server.url("/exact-chunked.json"), limits: limits) == nil)
        #expect(await failure(insecure, server.url("/announced.json"), limits: limits)?.code == .tooLarge)
        #expect(await failure(insecure, server.url("/chunked.json"), limits: limits)?.code == .tooLarge)
        // Refused as soon as it is known, not at the deadline: from the announced length before
        // any body byte, and from the count while an endless body is still arriving.
        server.serve("/huge.json", .trickle(length: 10 << 20, interval: .milliseconds(100)))
        server.serve("/endless.json", .endless)
        // A deadline far off, so that "at once" and "at the deadline" cannot be confused even on a
        // loaded machine.
        let patient = SafeFetcher.Limits(deadline: .seconds(30), maxBytes: cap)
        for path in ["/huge.json", "/endless.json"] {
            let started = ContinuousClock.now
            #expect(await failure(insecure, server.url(path), limits: patient)?.code == .tooLarge, "\(path)")
            #expect(ContinuousClock.now - started < .seconds(10), "\(path)")
        }
        try await server.close()
    }

    /// One deadline over the whole exchange: a body that trickles in forever, or an answer that
    /// never starts, fails when it passes — not at some per-read timeout.
    @Test func theDeadlineCoversTheWholeExchange() async throws {
        let server = try await LoopbackHTTPServer()
        server.serve("/trickle.json", .trickle(length: 1000, interval: .milliseconds(100)))
        server.serve("/slow.json", .delayed(Self.document, delay: .seconds(30)))
        let limits = SafeFetcher.Limits(deadline: .milliseconds(800), maxBytes: 64 * 1024)
        for path in ["/trickle.json", "/slow.json"] {
            let started = ContinuousClock.now
            #expect(await failure(insecure, server.url(path), limits: limits)?.code == .timedOut, "\(path)")
            let elapsed = ContinuousClock.now - started
            // Answered at the deadline, give or take a loaded machine's seconds: well before the
            // slow answer (30 s) or the whole trickle (100 s).
            #expect(elapsed >= .milliseconds(750) && elapsed < .seconds(12), "\(path): \(elapsed)")
        }
        try await server.close()
    }

    @Test func concurrentCallersShareOneFetch() async throws {
        let server = try await LoopbackHTTPServer()
        server.serve("/jwks.json", .delayed(Self.document, delay: .milliseconds(300)))
        let fetcher = insecure
        let url = server.url("/jwks.json")
        let bodies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<8 {
                group.addTask { try await fetcher.fetch(url, accept: "application/json", limits: Self.limits) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(bodies == Array(repeating: Self.document, count: 8))
        #expect(server.requests("/jwks.json") == 1)
        #expect(fetcher.inFlightCount == 0)
        // Once it is done, the next caller fetches again (caching is the caller's business).
        _ = try await fetcher.fetch(url, accept: "application/json", limits: Self.limits)
        #expect(server.requests("/jwks.json") == 2)
        try await server.close()
    }

    /// TLS sends the URL's host name as SNI and checks the certificate against it: trusted and
    /// named right succeeds; an untrusted certificate, or one that does not name the host we
    /// asked for, fails.
    @Test func tlsVerifiesTheChainAndTheHostName() async throws {
        let certificate = try TestCertificate.load()
        let server = try await LoopbackHTTPServer(tls: certificate)
        server.serve("/jwks.json", .document(Self.document))
        var configuration = SafeFetcher.Configuration(allowsInsecureTargets: true)
        configuration.trustRoots = .certificates(certificate.chain)
        let trusting = SafeFetcher(configuration: configuration)
        let body = try await trusting.fetch(
            server.url("/jwks.json", scheme: "https", host: "localhost"), accept: "application/json",
            limits: Self.limits)
        #expect(body == Self.document)
        #expect(server.serverNames.contains("localhost"))
        // The certificate names localhost, not 127.0.0.1.
        #expect(await failure(trusting, server.url("/jwks.json", scheme: "https"))?.code == .tlsFailed)
        // Not in the system's trust store.
        #expect(
            await failure(insecure, server.url("/jwks.json", scheme: "https", host: "localhost"))?.code == .tlsFailed)
        #expect(server.requests("/jwks.json") == 1)
        try await server.close()
    }
}
