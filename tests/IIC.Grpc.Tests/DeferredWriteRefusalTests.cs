using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// A write from a connection's reader thread (an inline completion) into a full ring is deferred: it goes after the
/// reader's next polls, and its task completes then. Until it has, a second write (or completing the request stream)
/// is refused with InvalidOperationException, as grpc-dotnet refuses a write while the previous one is in progress;
/// here it also keeps the order, since a write from another thread would overtake the queued message. The ring is
/// filled for certain by freezing the server process (SIGSTOP): it reads nothing until SIGCONT.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class DeferredWriteRefusalTests(TesterFixture fixture)
{
    /// <summary>A watchdog for the whole exchange (it takes a second or two), not synchronisation.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(90);

    /// <summary>More 64 B requests than a 1 MiB ring holds (~8 k records of 128 B): some write must be deferred before this.</summary>
    private const int WriteLimit = 100_000;

    [Fact]
    public async Task A_second_write_or_a_complete_while_a_deferred_write_is_pending_is_refused_and_the_stream_then_completes_in_order()
    {
        using var server = fixture.StartServer("deferred-write-refusal", inlineHandlers: true);
        using var channel = fixture.Connect(server.Address("iic://"), inlineCompletions: true);
        var client = new Tester.TesterClient(channel.CallInvoker);
        // Task.Run: no synchronisation context, so the code after an inline completion runs where it completed.
        var work = Task.Run(() => ExchangeAsync(client, server));
        var done = await Task.WhenAny(work, Task.Delay(s_stuck)) == work;
        Assert.True(done, $"the exchange was still stuck after {s_stuck.TotalSeconds} s");
        var result = await work;
        Assert.True(result.OnReader, "the writes never ran on the client connection's reader thread: the case was not exercised");
        Assert.True(result.Deferred, $"none of {WriteLimit} writes into the frozen server's ring was deferred: the case was not exercised");
        Assert.True(result.SecondWrite is InvalidOperationException, $"a second write while a deferred write was pending gave {Describe(result.SecondWrite)}, not InvalidOperationException");
        Assert.True(result.Complete is InvalidOperationException, $"completing the request stream while a deferred write was pending gave {Describe(result.Complete)}, not InvalidOperationException");
        Assert.Equal(result.Written, result.Received);
        Assert.Equal(StatusCode.OK, result.Status);
    }

    private static string Describe(Exception? e) => e is null ? "success (or a task still pending)" : e.GetType().Name + ": " + e.Message;

    private sealed record Outcome(bool OnReader, bool Deferred, Exception? SecondWrite, Exception? Complete, int Written, int Received, StatusCode Status);

    /// <summary>
    /// Moves onto the reader thread (ping-pong until a reply had to be waited for), freezes the server, writes until a
    /// write is deferred, then tries a second write and a complete at once (both must be refused without waiting), lets
    /// the server go on, awaits the deferred write, completes, and reads every reply in order.
    /// </summary>
    private static async Task<Outcome> ExchangeAsync(Tester.TesterClient client, IIC.Tests.ServerProcess server)
    {
        using var call = client.Bidi(deadline: DateTime.UtcNow + (2 * s_stuck));
        var written = 0;
        var received = 0;
        while (!CallConnection.OnReaderThread && written < 10_000)
        {
            await call.RequestStream.WriteAsync(Request("d", written++));
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(received++, call.ResponseStream.Current.Index);
        }
        var onReader = CallConnection.OnReaderThread;
        Task pending = Task.CompletedTask;
        Exception? second = null, complete = null;
        server.Signal("STOP");
        try
        {
            // The frozen server reads nothing: each write completes at once (and this code stays on the reader thread)
            // until the ring is full; the first that does not fit is deferred and its task stays incomplete.
            while (written < WriteLimit)
            {
                pending = call.RequestStream.WriteAsync(Request("d", written++));
                if (!pending.IsCompleted)
                {
                    break;
                }
                await pending; // completed: continues synchronously, still on the reader thread
            }
            if (!pending.IsCompleted)
            {
                // Not awaited: a refusal is a task already faulted; anything else (accepted, or pending) is the failure.
                var secondTask = call.RequestStream.WriteAsync(Request("x", -1));
                var completeTask = call.RequestStream.CompleteAsync();
                second = secondTask.IsFaulted ? secondTask.Exception!.InnerException : null;
                complete = completeTask.IsFaulted ? completeTask.Exception!.InnerException : null;
            }
        }
        finally
        {
            server.Signal("CONT");
        }
        var deferred = !pending.IsCompleted;
        await pending; // sent after the reader thread's next polls, now that the server drains again
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var reply = call.ResponseStream.Current;
            if (reply.Index != received || reply.Text != "d" + received)
            {
                Assert.Fail($"reply {received} arrived as index {reply.Index}, text '{reply.Text}' (a refused write went through, or overtook)");
            }
            received++;
        }
        return new Outcome(onReader, deferred, second, complete, written, received, call.GetStatus().StatusCode);
    }

    private static Request Request(string prefix, int index) => new() { Text = prefix + index, Payload = Payloads.Of(64) };
}
