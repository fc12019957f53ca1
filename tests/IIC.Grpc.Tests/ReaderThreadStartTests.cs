using IIC.Grpc.Client;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// Round 23: a unary call started on the client connection's reader thread (the inline continuation of another call's
/// reply, as a client with inline completions that calls again from its await does) sends its CallStart at once when the
/// ring has room, and allocates no more for its start than a call started on another thread. The first version of round
/// 23's retry of a deferred CallStart made the deferral's start state (a QueuedStart and its TaskCompletionSource) before
/// the reader thread's try to send, so every such call allocated it (GrpcPerf's unary: 674 -> 850 B per call); this
/// failed there by about 176 B. Across processes (tests/IIC.Grpc.TestServer).
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ReaderThreadStartTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_call_started_on_the_reader_thread_with_room_allocates_no_more_than_one_started_elsewhere()
    {
        using var server = fixture.StartStatelessServer("reader-start");
        using var channel = fixture.Connect(server.Address("iic://"), inlineCompletions: true);
        var invoker = Assert.IsType<IicCallInvoker>(channel.CallInvoker);
        var client = new Tester.TesterClient(invoker);
        var request = new Request { Text = "start" };
        var deadline = DateTime.UtcNow + s_timeout;
        await client.UnaryAsync(request, deadline: deadline); // connected, and the paths' first use (JIT, statics) off the count

        long onReader = long.MaxValue, elsewhere = long.MaxValue;
        var readerStarts = 0;
        for (var attempt = 0; attempt < 40 && readerStarts < 8; attempt++)
        {
            // The reply's continuation runs inline on the reader thread, so the next call starts there; unless the reply
            // came before the continuation was registered (a preempted test thread): then it ran here, and is not counted.
            var (bytes, wasReader, next) = await client.UnaryAsync(request, deadline: deadline).ResponseAsync.ContinueWith(
                _ => StartMeasured(client, request, deadline, invoker),
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (wasReader)
            {
                readerStarts++;
                onReader = Math.Min(onReader, bytes);
            }
            await next.ResponseAsync.WaitAsync(s_timeout);

            var (otherBytes, otherWasReader, other) = await Task.Run(() => StartMeasured(client, request, deadline, invoker));
            Assert.False(otherWasReader);
            elsewhere = Math.Min(elsewhere, otherBytes);
            await other.ResponseAsync.WaitAsync(s_timeout);
        }
        Assert.True(readerStarts >= 4, $"only {readerStarts} of the calls started on the connection's reader thread");
        // The least of several starts each way: a first use or a one-off growth on either path does not count.
        Assert.True(onReader <= elsewhere + 32, $"a call started on the reader thread allocated {onReader} B, one started elsewhere {elsewhere} B");
    }

    private static (long Bytes, bool OnReader, global::Grpc.Core.AsyncUnaryCall<Reply> Call) StartMeasured(Tester.TesterClient client, Request request, DateTime deadline, IicCallInvoker invoker)
    {
        var onReader = invoker.ConnectionAt(0)?.IsCurrentReader == true;
        var before = GC.GetAllocatedBytesForCurrentThread();
        var call = client.UnaryAsync(request, deadline: deadline);
        return (GC.GetAllocatedBytesForCurrentThread() - before, onReader, call);
    }
}
