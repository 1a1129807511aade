import Store

/// What a charge against an agent's daily budget of model tokens decided.
public struct QuotaCharge: Sendable, Equatable {
    /// Whether the amount was charged; a refused charge charges nothing.
    public let allowed: Bool
    /// What is left of today's budget; nil when the agent has no `tokens_per_day`.
    public let remaining: Int64?
    /// When the budget resets (Unix seconds): the next day boundary.
    public let resetsAt: Int64
}

/// An agent's spend of model tokens today, for `authsec quota`.
public struct QuotaStatus: Sendable, Equatable {
    public let clientID: String
    public let spent: Int64
    /// `tokens_per_day`; nil when the client has none.
    public let budget: Int64?
    public let resetsAt: Int64
}

extension Authority {
    /// The largest amount one charge may carry.
    public static let maxChargeAmount: Int64 = 1_000_000_000

    /// Charges `amount` model tokens to the daily budget (`rate_limits.tokens_per_day`) of the
    /// agent `token` was issued to. `caller` is the resource server or gateway making the charge:
    /// it may charge only tokens the introspection policy lets it see, and never its own.
    ///
    /// Decided in memory, so concurrent charges never overspend; the spend reaches the store
    /// with the next `flushCounters`.
    public func charge(token: String, amount: Int64, by caller: Client, context: CallContext = .inProcess) throws
        -> QuotaCharge
    {
        guard (1...Self.maxChargeAmount).contains(amount) else {
            throw AuthorityError(.invalidRequest, "amount must be between 1 and \(Self.maxChargeAmount)")
        }
        try requireToken(token)
        let inactive = AuthorityError(.invalidRequest, "token is not an active token this caller may charge")
        guard let claims = try verifyAccessToken(token) else { throw inactive }
        guard claims.clientID != caller.clientID else {
            throw AuthorityError(.accessDenied, "a client cannot charge its own token")
        }
        guard mayIntrospect(claims, by: caller) else { throw inactive }
        guard let agent = try registeredClient(claims.clientID) else { throw inactive }
        let limits = agent.agentConfig.rateLimits
        let now = clock.now()
        let day = quotaDay(at: now)
        let resetsAt = (day + 1) * 86_400 + quotaDayStart
        guard limits.hasTokensPerDay else {
            activity.addUsage(agent.clientID, now: now) { $0.quotaSpent += UInt64(amount) }
            return QuotaCharge(allowed: true, remaining: nil, resetsAt: resetsAt)
        }
        try loadSpend(agent.clientID, day: day, now: now)
        let budget = limits.tokensPerDay
        let outcome = quotaLedger.charge(agent.clientID, amount: amount, budget: budget, day: day, now: now)
        if outcome.allowed {
            activity.addUsage(agent.clientID, now: now) { $0.quotaSpent += UInt64(amount) }
        } else {
            auditCount(
                .quotaExhausted, outcome: AuthorityError.Code.quotaExhausted.rawValue, actor: caller.clientID,
                clientID: agent.clientID, context: context)
        }
        return QuotaCharge(allowed: outcome.allowed, remaining: budget - outcome.spent, resetsAt: resetsAt)
    }

    /// The client a resource server's own `Bearer` access token names, for the calls it makes
    /// with it (`Charge` on the wire): the token is ours, unexpired and not revoked, and its
    /// client still exists and is enabled. Counted against the client's rate limit.
    public func authenticateBearer(_ token: String, context: CallContext = .inProcess) throws -> Client {
        guard !token.isEmpty else { throw AuthorityError(.invalidToken, "a Bearer access token is required") }
        guard let claims = try verifyAccessToken(token) else {
            throw AuthorityError(.invalidToken, "the access token is invalid, expired or revoked")
        }
        guard let client = try registeredClient(claims.clientID) else {
            throw AuthorityError(.invalidToken, "the access token's client no longer exists")
        }
        guard !client.isDisabled else { throw AuthorityError(.invalidToken, "the access token's client is disabled") }
        return try admitted(client, context: context)
    }

    /// Today's spend of `clientID`.
    public func quota(_ clientID: String) throws -> QuotaStatus {
        let client = try client(clientID)
        let now = clock.now()
        let day = quotaDay(at: now)
        try loadSpend(clientID, day: day, now: now)
        let limits = client.agentConfig.rateLimits
        return QuotaStatus(
            clientID: clientID, spent: quotaLedger.spent(clientID, day: day) ?? 0,
            budget: limits.hasTokensPerDay ? limits.tokensPerDay : nil, resetsAt: (day + 1) * 86_400 + quotaDayStart)
    }

    /// The quota day `now` falls in: days start `quotaDayStart` seconds after midnight UTC.
    func quotaDay(at now: Int64) -> Int64 {
        (now - quotaDayStart).quotientRoundingDown(by: 86_400)
    }

    /// Reads the stored spend of `clientID` into the ledger unless it holds today's already.
    private func loadSpend(_ clientID: String, day: Int64, now: Int64) throws {
        guard !quotaLedger.holds(clientID, day: day) else { return }
        let stored = try read { try $0.get(Keyspace.quotaSpend, clientID) }
        quotaLedger.load(clientID, day: day, spent: stored?.day == day ? stored?.spent ?? 0 : 0, now: now)
    }

    /// Writes the rate-limit and quota counters changed since the last flush, and the audit events
    /// and usage counts gathered since; the server calls it every second (the bound on what a
    /// crash forgets) and once at shutdown.
    public func flushCounters() async throws {
        let now = clock.now()
        let spends = quotaLedger.takeChanges(day: quotaDay(at: now), now: now)
        let arrivals = rateLimiter.takeChanges(now: clock.nanoseconds())
        let activity = activity.take(now: now)
        guard !spends.isEmpty || !arrivals.isEmpty || !activity.events.isEmpty || !activity.usage.isEmpty else {
            return
        }
        do {
            try await write { txn in
                try self.flushActivity(txn, activity)
                for spend in spends {
                    var record = Authsec_Store_V1_QuotaSpendRecord()
                    record.day = spend.day
                    record.spent = spend.spent
                    try txn.put(Keyspace.quotaSpend, spend.clientID, record)
                }
                for arrival in arrivals {
                    var record = Authsec_Store_V1_RateLimitRecord()
                    record.arrival = arrival.arrival
                    try txn.put(Keyspace.rateLimits, arrival.clientID, record)
                }
            }
        } catch {
            quotaLedger.markDirty(spends)
            throw error
        }
    }
}

extension Int64 {
    /// Floor division: -1 / 86400 is -1, not 0.
    func quotientRoundingDown(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor < 0) ? quotient - 1 : quotient
    }
}
