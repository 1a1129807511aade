import Authority
import Dispatch
import Testing

@testable import Server

/// Both doors count every answered request in `RequestFlow`, which the hashing threads watch to
/// leave a core to requests (BackgroundThreadsTests has the other half).
@Suite struct RequestFlowTests {
    @Test func everyAnsweredRequestOfEitherDoorIsCounted() {
        let metrics = ServerMetrics()
        let before = RequestFlow.shared.total
        let started = DispatchTime.now().uptimeNanoseconds
        metrics.wire.record(.token, since: started, error: nil)
        metrics.http.record(.introspect, since: started, error: "invalid_client")
        // Other tests may answer requests in this process at the same time: at least these two.
        #expect(RequestFlow.shared.total - before >= 2)
    }
}
