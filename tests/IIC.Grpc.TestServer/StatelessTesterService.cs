using Grpc.Core;

namespace IIC.Grpc.Testing;

/// <summary>
/// Tester's unary method on a service with only a parameterless constructor and nothing to dispose: IIC.Grpc makes one
/// per call without a DI scope, so with inline handlers a unary call takes the server's synchronous path (no state
/// machine while the handler's task is already complete). Each mode ends the call a different way, synchronously or not.
/// </summary>
public sealed class StatelessTesterService : Tester.TesterBase
{
    public override Task<Reply> Unary(Request request, ServerCallContext context)
    {
        switch (request.Mode)
        {
            case "fail": // thrown before a task exists
                throw new RpcException(new Status((StatusCode)request.Status, request.Text), new Metadata { { "why", "thrown" } });
            case "fail-task": // a task that already failed
                return Task.FromException<Reply>(new RpcException(new Status((StatusCode)request.Status, request.Text), new Metadata { { "why", "faulted" } }));
            case "crash": // not an RpcException: Unknown
                throw new InvalidOperationException("the handler crashed");
            case "status": // the handler sets the status itself and returns a reply
                context.Status = new Status((StatusCode)request.Status, request.Text);
                return Task.FromResult(new Reply { Text = request.Text });
            case "null": // a null reply is the handler's error
                return Task.FromResult<Reply>(null!);
            case "later": // completes after the handler returned: the asynchronous rest
                return LaterAsync(request, context);
            default:
                context.ResponseTrailers.Add("trailer-key", "trailer-value");
                return Task.FromResult(new Reply { Text = request.Text, Payload = request.Payload, Index = context.RequestHeaders.Count });
        }
    }

    private static async Task<Reply> LaterAsync(Request request, ServerCallContext context)
    {
        await Task.Yield();
        context.ResponseTrailers.Add("trailer-key", "later");
        return new Reply { Text = request.Text, Payload = request.Payload };
    }
}
