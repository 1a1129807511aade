import Dispatch
import Hummingbird

/// Counts and times the HTTP door's routed requests. Form POSTs are counted where they are
/// answered (`HTTPShim.respond`, `HTTPFastPath`), which knows their error codes.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = DoorRequestContext
    let series: ServerMetrics.DoorSeries

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        if request.method == .post, FormEndpoint(rawValue: path) != nil {
            return try await next(request, context)
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let call = ServerMetrics.Call(path: path)
        do {
            let response = try await next(request, context)
            series.record(call, since: started, error: response.status.code >= 400 ? ServerMetrics.otherError : nil)
            return response
        } catch {
            series.record(call, since: started, error: ServerMetrics.otherError)
            throw error
        }
    }
}
