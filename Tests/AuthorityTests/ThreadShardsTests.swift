import Foundation
import Synchronization
import Testing

@testable import Authority

/// Per-thread counters: threads that start together each get a shard of their own, keep it, and
/// no count is lost when the shards are added up.
@Suite(.timeLimit(.minutes(1))) struct ThreadShardsTests {
    @Test func concurrentThreadsEachGetTheirOwnShardAndNoCountIsLost() {
        let threadCount = 8
        let increments = 20_000
        let shards = ThreadShards(count: 64) { 0 }
        let seen = Mutex<[ObjectIdentifier]>([])
        let started = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for _ in 0..<threadCount {
            started.enter()
            done.enter()
            let thread = Thread {
                let mine = shards.current
                seen.withLock { $0.append(ObjectIdentifier(mine)) }
                started.leave()
                go.wait()
                for _ in 0..<increments {
                    // The same shard every time: a thread's shard is fixed at its first use.
                    #expect(shards.current === mine)
                    shards.current.state.withLock { $0 += 1 }
                }
                done.leave()
            }
            thread.start()
        }
        started.wait()
        for _ in 0..<threadCount { go.signal() }
        done.wait()
        #expect(Set(seen.withLock { $0 }).count == threadCount)
        #expect(shards.all.reduce(0) { sum, shard in sum + shard.state.withLock { $0 } } == threadCount * increments)
    }
}
