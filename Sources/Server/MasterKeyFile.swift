import Authority
import Foundation
import Store

/// The file holding the master key that seals the signing keys: `DATA/master.key`, or the file
/// `--master-key-file` names. It is read here, outside the store file, and handed to Authority.
///
/// A new master key is made only for a store that holds no sealed secret yet: an empty data
/// directory, or one from before schema version 3 whose migration seals its keys with it. A store
/// with sealed keys whose master key is missing is refused, never given a new one: that would
/// orphan its keys.
///
/// Format (`SealingKey.fileText`): the line `authsec-master-key v1`, then the 32 key bytes in
/// base64 on a second line. Created 0600, exclusively, and fsynced with its directory before any
/// key is sealed with it.
public struct MasterKeyFile: Sendable {
    public let path: String
    /// Whether `path` is the default one, not named by `--master-key-file`.
    let isDefault: Bool

    /// `explicitPath` (`--master-key-file`), or `master.key` in `dataDirectory`.
    public init(explicitPath: String?, dataDirectory: String) {
        isDefault = explicitPath == nil
        if let explicitPath {
            path = explicitPath
        } else {
            path = dataDirectory.hasSuffix("/") ? dataDirectory + "master.key" : dataDirectory + "/master.key"
        }
    }

    /// The master key for `store`: the file's, or, when the file does not exist and the store
    /// holds no sealed secret, a new one in a new file (`say` announces it).
    /// - Throws: `AuthsecServer.StartError` naming the file when it is missing for a store with
    ///   sealed keys, unreadable, not a master key, or cannot be created.
    public func key(for store: Store, say: (String) -> Void) throws -> SealingKey {
        if let key = try read() { return key }
        if try Authority.holdsSealedSecrets(store) {
            let remedy =
                isDefault
                ? "restore it from its backup or name it with --master-key-file" : "restore it from its backup"
            throw AuthsecServer.StartError(
                description:
                    "master key \(path) is missing: the signing keys in \(store.configuration.directory) are sealed with it; \(remedy)"
            )
        }
        let key = try create()
        say("created master key \(path); back it up apart from the data directory, which cannot be opened without it")
        return key
    }

    /// Checks that `key` opens every sealed signing key in `store`.
    /// - Throws: `AuthsecServer.StartError` naming the file, e.g. `master key ./authsec-data/master.key
    ///   does not open the signing keys: wrong key?`.
    public func check(_ key: SealingKey, opens store: Store) throws {
        do {
            try Authority.checkSealingKey(key, opens: store)
        } catch let error as SealingError {
            throw explain(error)
        }
    }

    /// The operator's message for `error`, naming this file.
    public func explain(_ error: SealingError) -> AuthsecServer.StartError {
        let description =
            switch error.code {
            case .wrongKey: "master key \(path) does not open the signing keys: wrong key?"
            case .damaged: "master key \(path) does not open the signing keys: \(error.description)"
            case .malformedKey: "master key \(path) is not an Authsec master key: \(error.description)"
            }
        return AuthsecServer.StartError(description: description)
    }

    /// The largest file accepted; a master key file is 67 bytes.
    static let maxFileSize = 4096

    /// The key in the file, or nil when there is no file.
    func read() throws -> SealingKey? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            throw failure("cannot read master key")
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read master key")
            }
            if count == 0 { break }
            bytes += buffer[..<count]
            guard bytes.count <= Self.maxFileSize else {
                throw explain(SealingError(.malformedKey, "it is larger than \(Self.maxFileSize) bytes"))
            }
        }
        do {
            return try SealingKey(fileText: String(decoding: bytes, as: UTF8.self))
        } catch let error as SealingError {
            throw explain(error)
        }
    }

    /// Writes a new random master key to a new file (0600; never over an existing one) and makes
    /// the file and its directory entry durable before returning, so no key is sealed with a
    /// master key a crash could lose. A file it could not finish is removed.
    func create() throws -> SealingKey {
        let key = SealingKey.random()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure("cannot create master key") }
        do {
            try write(Array(key.fileText.utf8), to: descriptor)
        } catch {
            close(descriptor)
            unlink(path)
            throw error
        }
        guard close(descriptor) == 0 else {
            let error = failure("cannot write master key")
            unlink(path)
            throw error
        }
        let directory = (path as NSString).deletingLastPathComponent
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw failure("cannot write master key") }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw failure("cannot write master key") }
        return key
    }

    /// Writes `bytes` to the new file, sets its mode exactly (whatever the umask) and syncs it.
    private func write(_ bytes: [UInt8], to descriptor: Int32) throws {
        guard fchmod(descriptor, 0o600) == 0 else { throw failure("cannot create master key") }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write master key")
            }
            written += count
        }
        guard fsync(descriptor) == 0 else { throw failure("cannot write master key") }
    }

    /// `what`, this file and the current `errno`, e.g. `cannot read master key F: Permission denied`.
    private func failure(_ what: String) -> AuthsecServer.StartError {
        AuthsecServer.StartError(description: "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
