import CLmdb
import Foundation

extension Store {
    /// Rewrites the data directory's `data.mdb` with its live pages only (LMDB's compacting copy,
    /// `MDB_CP_COMPACT`), so that the bytes of overwritten or deleted records no longer lie in free
    /// pages of the file.
    ///
    /// LMDB copies on write and never scrubs a page it frees: after a migration replaced a secret
    /// stored in clear (schema 2 → 3 seals the signing keys), the old bytes stay in the file until
    /// their pages are reused. This is how they leave it. It takes the directory lock itself, so
    /// the store must not be open; it writes the whole store once (its size again in free disk,
    /// briefly), and the new file replaces the old one by an atomic rename after it is synced, so a
    /// crash leaves one or the other, never a mix.
    /// - Throws: `StoreError(.locked)` when another process holds the directory; `.io` on failure,
    ///   with the old file left in place.
    public static func compact(configuration: Configuration) throws {
        let environment = try Environment(configuration: configuration)
        defer { environment.close() }
        let directory = configuration.directory
        let path = directory + "/data.mdb"
        let temporary = directory + "/data.mdb.compacting"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ioError("cannot create \(temporary)") }
        do {
            try check(mdb_env_copyfd2(environment.env, descriptor, UInt32(MDB_CP_COMPACT)))
            guard fchmod(descriptor, 0o600) == 0, fsync(descriptor) == 0 else {
                throw ioError("cannot write \(temporary)")
            }
        } catch {
            Glibc.close(descriptor)
            unlink(temporary)
            throw error
        }
        guard Glibc.close(descriptor) == 0 else {
            let error = ioError("cannot write \(temporary)")
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let error = ioError("cannot replace \(path)")
            unlink(temporary)
            throw error
        }
        // The rename is durable once the directory is.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw ioError("cannot sync \(directory)") }
        defer { Glibc.close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw ioError("cannot sync \(directory)") }
    }

    private static func ioError(_ what: String) -> StoreError {
        StoreError(.io, "\(what): \(String(cString: strerror(errno)))")
    }
}
