using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// Holds the start of a call in its request's serializer, which a call that waited for a slot runs on the pool when it is
/// granted one, before its CallStart can go: a call granted a slot whose CallStart is not sent yet, for as long as a test
/// needs. Only the first serialization is held; the call's later ones (a start again on another connection) go through.
/// Call Tester's Unary through <see cref="Unary"/>.
/// </summary>
/// <param name="bound">How long the start is held at most: a failing test still lets it go. Far past every wait of the test.</param>
internal sealed class SerializerHold(TimeSpan bound) : IDisposable
{
    private readonly ManualResetEventSlim _release = new(false);
    private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _armed = 1;

    /// <summary>Completes once a start is held.</summary>
    public Task Held => _held.Task;

    public Method<Request, Reply> Unary => new(MethodType.Unary, Tester.Descriptor.FullName, "Unary",
        Marshallers.Create<Request>(request =>
        {
            if (Interlocked.Exchange(ref _armed, 0) == 1)
            {
                _held.TrySetResult();
                _release.Wait(bound);
            }
            return request.ToByteArray();
        }, static bytes => Request.Parser.ParseFrom(bytes)),
        Marshallers.Create<Reply>(static reply => reply.ToByteArray(), static bytes => Reply.Parser.ParseFrom(bytes)));

    /// <summary>Lets the held start go on.</summary>
    public void Release() => _release.Set();

    public void Dispose() => _release.Set();
}
