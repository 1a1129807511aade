import ArgumentParser
import Foundation
import Wire

/// `authsec quota CLIENT_ID`: an agent's spend of its daily budget of model tokens today.
struct QuotaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "Show an agent's spend of its daily budget of model tokens today (needs admin:clients).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The agent's client_id.") var clientID: String

    func run() async throws {
        var call = Authsec_V1_GetQuotaRequest()
        call.clientID = clientID
        let quota = try await connection.callAsAdmin(.getQuota(call)).quota
        let budget: Int64? = quota.hasBudget ? quota.budget : nil
        let resets = Date(timeIntervalSince1970: TimeInterval(quota.resetsAt)).ISO8601Format()
        if connection.json {
            var object: [String: Any] = [
                "client_id": quota.clientID, "spent": quota.spent, "resets_at": quota.resetsAt,
            ]
            object["budget"] = budget ?? NSNull()
            object["remaining"] = budget.map { max(0, $0 - quota.spent) } ?? NSNull()
            say(ClientJSON.text(object))
        } else if let budget {
            say(
                "\(quota.clientID): \(quota.spent) of \(budget) model tokens spent today, \(max(0, budget - quota.spent)) left; resets at \(resets)"
            )
        } else {
            say("\(quota.clientID): \(quota.spent) model tokens charged today; no daily budget (tokens_per_day)")
        }
    }
}
