/// A dictionary bounded by the bytes its entries hold, not by their count.
///
/// Entries say what they cost; when a new one would pass the budget the cache is emptied
/// (cheap, and the next requests refill it with what is in use). Not thread-safe: keep it in a
/// `Mutex`.
struct ByteBoundedCache<Key: Hashable, Value> {
    /// What one entry costs beside its own bytes: the dictionary slot, key and boxes.
    static var entryOverhead: Int { 96 }

    let budget: Int
    private var entries: [Key: (value: Value, cost: Int)] = [:]
    private(set) var bytes = 0

    init(budget: Int) {
        self.budget = budget
    }

    var count: Int { entries.count }

    subscript(key: Key) -> Value? { entries[key]?.value }

    mutating func insert(_ value: Value, for key: Key, cost: Int) {
        let cost = cost + Self.entryOverhead
        guard cost <= budget else { return }
        if let old = entries[key] { bytes -= old.cost }
        if bytes + cost > budget {
            entries.removeAll(keepingCapacity: false)
            bytes = 0
        }
        entries[key] = (value, cost)
        bytes += cost
    }

    mutating func removeAll() {
        entries.removeAll(keepingCapacity: false)
        bytes = 0
    }
}
