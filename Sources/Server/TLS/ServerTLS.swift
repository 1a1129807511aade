import Foundation
import NIOCore
import NIOSSL
import Synchronization

/// The certificate and key both doors present, loaded from PEM files and swapped atomically when
/// they are reloaded (SIGHUP).
///
/// Each connection takes the context that is current when it is accepted and keeps it for its
/// life, so a reload changes only what new connections see and drops none. A reload that fails
/// (a file unreadable, not PEM, or a key that does not match the certificate) keeps the current
/// context and says why.
///
/// The versions and ciphers are fixed, not flags: TLS 1.2 and 1.3 only; for 1.2 only ECDHE key
/// exchange with AES-GCM or ChaCha20-Poly1305 (forward secrecy and AEAD, as RFC 9325 §4.2
/// recommends); for 1.3 BoringSSL's suites, which cannot be configured and are all AEAD.
public final class ServerTLS: Sendable {
    public struct Files: Sendable, Equatable {
        /// PEM: the server's certificate first, then any intermediates.
        public var certificate: String
        /// PEM: the unencrypted private key of the first certificate.
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// A context ready to use, and what it presents, for log lines.
    struct Loaded: Sendable {
        let context: NIOSSLContext
        let summary: String
    }

    /// Why a certificate and key could not be loaded; `description` names the file at fault.
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The TLS 1.2 suites allowed; TLS 1.3's are BoringSSL's own (AES-GCM, ChaCha20-Poly1305).
    static let cipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]

    public let files: Files
    private let current: Mutex<Loaded>

    /// Loads `files`, or throws `LoadError` saying what is wrong with them.
    public init(files: Files) throws {
        self.files = files
        self.current = Mutex(try Self.load(files))
    }

    /// The context for a connection accepted now.
    var context: NIOSSLContext { current.withLock { $0.context } }

    /// What the doors present now, e.g. `serial 1a2b…, expires 2027-01-01 00:00 UTC`.
    public var summary: String { current.withLock { $0.summary } }

    /// Reads the files again and, if they load, makes them current for new connections.
    /// - Returns: the new certificate's summary.
    /// - Throws: `LoadError`; the current certificate stays.
    @discardableResult
    public func reload() throws -> String {
        let loaded = try Self.load(files)
        current.withLock { $0 = loaded }
        return loaded.summary
    }

    static func load(_ files: Files) throws -> Loaded {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(try readFile(files.certificate))
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(description: "\(files.certificate) is not a PEM certificate file")
        }
        guard let leaf = chain.first else {
            throw LoadError(description: "\(files.certificate) holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: try readFile(files.key), format: .pem)
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError(description: "\(files.key) is not an unencrypted PEM private key")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.cipherSuiteValues = cipherSuites
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch NIOSSLError.failedToLoadPrivateKey {
            // Both parsed above, so BoringSSL refused the pair: the key is not the certificate's.
            throw LoadError(
                description: "the private key in \(files.key) does not match the certificate in \(files.certificate)")
        } catch {
            throw LoadError(description: "\(files.certificate), \(files.key): \(error)")
        }
        return Loaded(context: context, summary: summary(of: leaf, chainLength: chain.count))
    }

    /// `serial 01ab…, expires 2027-01-01 00:00 UTC` (and the chain's length when it has one).
    private static func summary(of leaf: NIOSSLCertificate, chainLength: Int) -> String {
        let serial = leaf.serialNumber.map { String(format: "%02x", $0) }.joined()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        let expiry = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)))
        let chain = chainLength > 1 ? ", \(chainLength - 1) more in the chain" : ""
        return "serial \(serial), expires \(expiry)\(chain)"
    }

    /// The whole file, or a `LoadError` with the system's reason (`No such file or directory`).
    private static func readFile(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw LoadError(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else {
                throw LoadError(description: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            // A certificate chain and key are a few KiB; anything this large is not one.
            guard bytes.count <= 1 << 20 else { throw LoadError(description: "\(path) is over 1 MiB") }
        }
    }
}
