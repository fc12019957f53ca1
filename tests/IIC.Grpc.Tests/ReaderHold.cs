using Grpc.Core;
using Google.Protobuf;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// Holds a client connection's reader thread in the first response's deserializer (that reader deserializes the messages
/// of a stream as it takes them), so the client reads nothing more from its ring until released: a client that does not
/// read, for the tests of what a server's writes may hold meanwhile. Call Tester's ServerStream through
/// <see cref="ServerStream"/>.
/// </summary>
/// <param name="bound">
/// How long the reader is held at most: a failing test still lets it go. Far past every wait of the test, so that a hold
/// released by this watchdog does not let the writes through and make the test pass on code that holds threads.
/// </param>
internal sealed class ReaderHold(TimeSpan bound) : IDisposable
{
    private readonly ManualResetEventSlim _release = new(false);
    private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _armed = 1;

    /// <summary>Completes once the reader thread is held.</summary>
    public Task Held => _held.Task;

    public Method<Request, Reply> ServerStream => new(MethodType.ServerStreaming, "iic.testing.Tester", "ServerStream",
        Marshallers.Create<Request>(static r => r.ToByteArray(), static b => Request.Parser.ParseFrom(b)),
        new Marshaller<Reply>(static (r, context) => context.Complete(r.ToByteArray()), context =>
        {
            if (Interlocked.Exchange(ref _armed, 0) == 1)
            {
                _held.TrySetResult();
                _release.Wait(bound);
            }
            return Reply.Parser.ParseFrom(context.PayloadAsReadOnlySequence());
        }));

    public void Dispose() => _release.Set();
}
