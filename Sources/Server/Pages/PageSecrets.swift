import Authority
import Crypto
import Foundation

/// Keys the pages use between a browser's requests, drawn at start and never stored: a restart
/// only sends a person who was on a sign-in or consent page back to the application.
///
/// - A checked `Authorization` travels inside the pages sealed (ChaCha20-Poly1305), so the
///   browser can carry it but neither read nor change it, and no store write happens before a
///   person signs in.
/// - A form's CSRF token is an HMAC of the browser's `authsec_csrf` cookie (a double-submit
///   cookie that a page on another site can neither read nor forge the HMAC of).
struct PageSecrets: Sendable {
    private let sealingKey = SymmetricKey(size: .bits256)
    private let csrfKey = SymmetricKey(size: .bits256)

    func seal(_ authorization: Authorization) -> String {
        // Encoding a struct of strings and numbers, and sealing, cannot fail.
        let plain = (try? JSONEncoder().encode(authorization)) ?? Data()
        let sealed = (try? ChaChaPoly.seal(plain, using: sealingKey).combined) ?? Data()
        return Base64URL.encode(sealed)
    }

    /// The authorization sealed in `text`, when this process sealed it.
    func open(_ text: String?) -> Authorization? {
        guard let text, text.utf8.count <= 16_384, let bytes = Base64URL.decode(text),
            let box = try? ChaChaPoly.SealedBox(combined: bytes),
            let plain = try? ChaChaPoly.open(box, using: sealingKey)
        else { return nil }
        return try? JSONDecoder().decode(Authorization.self, from: plain)
    }

    func csrfToken(for cookie: String) -> String {
        Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Array(cookie.utf8), using: csrfKey))
    }

    /// Whether a form's `csrf` field belongs to the browser's CSRF cookie; compared in constant time.
    func isValid(csrf field: String?, cookie: String?) -> Bool {
        guard let field, let cookie, !cookie.isEmpty, let given = Base64URL.decode(field) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Array(cookie.utf8), using: csrfKey)
    }
}
