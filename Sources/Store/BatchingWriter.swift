import CLmdb
import Dispatch
import Synchronization

/// One queued mutation. `apply` runs on the writer's queue inside the batch's transaction (again,
/// in a nested one, if another mutation of the batch fails) and returns what to do once the
/// batch's fate is known. It must depend on nothing but the transaction, so it can run twice.
struct WriteJob: Sendable {
    enum Outcome {
        /// Changes kept in the batch; `finish` gets nil once the commit is durable, else the error.
        case applied(finish: @Sendable (Error?) -> Void)
        /// Rolled back; `finish` reports the mutation's own error.
        case failed(finish: @Sendable () -> Void)
    }

    let apply: @Sendable (WriteTransaction) -> Outcome
    /// Reports an error that kept the job from running at all.
    let reject: @Sendable (Error) -> Void
}

/// The single writer: mutations that arrive while a commit is in flight share the next commit,
/// so N concurrent writes cost about one fsync instead of N.
final class BatchingWriter: Sendable {
    private struct State {
        var pending: [WriteJob] = []
        var isDraining = false
        var isClosed = false
    }

    private let environment: Environment
    private let maxBatch: Int
    private let queue = DispatchQueue(label: "authsec.store.writer")
    private let state = Mutex(State())
    private let observer: (@Sendable (Int, UInt64) -> Void)?

    init(environment: Environment, maxBatch: Int, observer: (@Sendable (Int, UInt64) -> Void)?) {
        self.environment = environment
        self.maxBatch = maxBatch
        self.observer = observer
    }

    func enqueue(_ job: WriteJob) {
        let startDrain = state.withLock { state -> Bool? in
            guard !state.isClosed else { return nil }
            state.pending.append(job)
            if state.isDraining { return false }
            state.isDraining = true
            return true
        }
        switch startDrain {
        case nil:
            job.reject(StoreError(.closed, "the store is closed"))
        case true?:
            queue.async { self.drain() }
        case false?:
            break
        }
    }

    /// Waits for queued writes to finish, then refuses new ones.
    func close() {
        state.withLock { $0.isClosed = true }
        queue.sync {}
        // A drain scheduled before close may still be queued behind the sync above; run what is left.
        queue.sync { self.drain() }
    }

    private func drain() {
        while true {
            let batch = state.withLock { state -> [WriteJob] in
                let count = min(state.pending.count, maxBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                if batch.isEmpty { state.isDraining = false }
                return batch
            }
            if batch.isEmpty { return }
            let started = DispatchTime.now().uptimeNanoseconds
            commit(batch)
            observer?(batch.count, DispatchTime.now().uptimeNanoseconds - started)
        }
    }

    /// Applies the batch in one transaction. Mutations are nearly always valid, so they run
    /// straight in it; if one fails, the transaction is dropped and the batch is redone with a
    /// nested transaction per mutation (bodies are pure functions of the transaction, so running
    /// them again gives the same result), which rolls back only the failing ones.
    private func commit(_ batch: [WriteJob]) {
        guard let parent = begin(batch) else { return }
        var finishers: [@Sendable (Error?) -> Void] = []
        finishers.reserveCapacity(batch.count)
        for job in batch {
            guard case .applied(let finish) = job.apply(WriteTransaction(txn: parent, dbis: environment.dbis)) else {
                mdb_txn_abort(parent)
                commitIsolated(batch)
                return
            }
            finishers.append(finish)
        }
        let rc = mdb_txn_commit(parent)
        let error: Error? = rc == 0 ? nil : storeError(rc)
        for finish in finishers { finish(error) }
    }

    /// The slow path: a nested transaction per mutation, so a failing one leaves no trace and
    /// spares the rest of its batch.
    private func commitIsolated(_ batch: [WriteJob]) {
        guard let parent = begin(batch) else { return }
        var finishers: [@Sendable (Error?) -> Void] = []
        var failures: [@Sendable () -> Void] = []
        for job in batch {
            var child: OpaquePointer?
            let rc = mdb_txn_begin(environment.env, parent, 0, &child)
            guard rc == 0, let child else {
                job.reject(storeError(rc))
                continue
            }
            switch job.apply(WriteTransaction(txn: child, dbis: environment.dbis)) {
            case .applied(let finish):
                let rc = mdb_txn_commit(child)
                if rc == 0 {
                    finishers.append(finish)
                } else {
                    let error = storeError(rc)
                    failures.append { finish(error) }
                }
            case .failed(let finish):
                mdb_txn_abort(child)
                failures.append(finish)
            }
        }
        // Nothing kept: abort instead of paying for an empty commit's fsync.
        let rc: Int32
        if finishers.isEmpty {
            mdb_txn_abort(parent)
            rc = 0
        } else {
            rc = mdb_txn_commit(parent)
        }
        let error: Error? = rc == 0 ? nil : storeError(rc)
        for finish in finishers { finish(error) }
        for failure in failures { failure() }
    }

    /// Begins a batch's write transaction, or rejects every job of the batch.
    private func begin(_ batch: [WriteJob]) -> OpaquePointer? {
        var parent: OpaquePointer?
        let beginCode = environment.isClosed ? -1 : mdb_txn_begin(environment.env, nil, 0, &parent)
        guard beginCode == 0, let parent else {
            let error = beginCode == -1 ? StoreError(.closed, "the store is closed") : storeError(beginCode)
            for job in batch { job.reject(error) }
            return nil
        }
        return parent
    }
}
