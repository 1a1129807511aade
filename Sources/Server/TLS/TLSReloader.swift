import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads the doors' certificate and key on SIGHUP, until graceful shutdown.
///
/// It runs only when TLS is on; without TLS, SIGHUP keeps its default action. SIGTERM and
/// SIGINT stay with the `ServiceGroup`, which this does not touch.
struct TLSReloader: Service {
    let tls: ServerTLS
    /// Trapped before the doors open, so a SIGHUP right after the "listening" lines reloads
    /// instead of ending the process.
    let signals: UnixSignalsSequence
    let logger: Logger

    /// Starts trapping SIGHUP now.
    static func trapping(tls: ServerTLS, logger: Logger) async -> TLSReloader {
        TLSReloader(tls: tls, signals: await UnixSignalsSequence(trapping: .sighup), logger: logger)
    }

    func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() {
            do {
                let summary = try tls.reload()
                logger.info(
                    "SIGHUP: TLS certificate reloaded; new connections use it",
                    metadata: ["certificate": "\(tls.files.certificate)", "presenting": "\(summary)"])
            } catch {
                logger.error(
                    "SIGHUP: TLS reload failed; keeping the current certificate",
                    metadata: ["reason": "\(error)", "presenting": "\(tls.summary)"])
            }
        }
    }
}
