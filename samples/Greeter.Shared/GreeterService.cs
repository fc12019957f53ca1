using Grpc.Core;

namespace Greeter;

/// <summary>The greeter: a stock gRPC service (it does not know which transport carries it).</summary>
public sealed class GreeterService : Greeter.GreeterBase
{
    /// <summary>Unary: "Hello NAME", echoing the payload.</summary>
    public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
        => Task.FromResult(new HelloReply { Message = "Hello " + request.Name, Payload = request.Payload });

    /// <summary>Server streaming: <c>count</c> replies, each echoing the payload.</summary>
    public override async Task SayHellos(HelloRequest request, IServerStreamWriter<HelloReply> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        for (var i = 0; i < request.Count && !context.CancellationToken.IsCancellationRequested; i++)
        {
            await responseStream.WriteAsync(new HelloReply { Message = $"Hello {request.Name} #{i}", Index = i, Payload = request.Payload }).ConfigureAwait(false);
        }
    }

    /// <summary>Bidirectional streaming: one reply per request, in order.</summary>
    public override async Task Chat(IAsyncStreamReader<HelloRequest> requestStream, IServerStreamWriter<HelloReply> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        var index = 0;
        while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            var request = requestStream.Current;
            await responseStream.WriteAsync(new HelloReply { Message = "Hello " + request.Name, Index = index++, Payload = request.Payload }).ConfigureAwait(false);
        }
    }
}
