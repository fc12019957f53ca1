using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// One write at a time on a request stream, as grpc-dotnet: a second <c>WriteAsync</c> (or a <c>CompleteAsync</c>) from
/// another thread while a write is still sending is refused at once with InvalidOperationException. A message larger
/// than one chunk goes as several frames; a second write sending meanwhile would put its chunks between them, and the
/// server would take that for a broken peer and close the connection under every call on it. The write is held "in
/// progress" for certain by freezing the server (SIGSTOP) and writing a message four times the 1 MiB ring: the send
/// waits for room until SIGCONT.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ConcurrentWriteTests(TesterFixture fixture)
{
    /// <summary>A watchdog (a refusal is immediate), not synchronisation: past it the writes were not refused.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    /// <summary>Four times the ring: a write of it cannot finish while the server reads nothing.</summary>
    private const int Large = 4 * 1024 * 1024;

    [Fact]
    public async Task A_second_write_or_a_complete_from_another_thread_while_a_large_write_is_sending_is_refused_and_the_call_ends_whole()
    {
        using var server = fixture.StartServer("concurrent-client-writes");
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var call = client.ClientStream(deadline: DateTime.UtcNow + (4 * s_stuck));
        Task a, b;
        Task? complete = null, refused = null;
        var bothDone = false;
        var refusedInTime = false;
        server.Signal("STOP");
        try
        {
            // Two threads write at once; whichever sends first waits for room, the other must be refused without waiting.
            a = Task.Run(() => call.RequestStream.WriteAsync(Request("a")));
            b = Task.Run(() => call.RequestStream.WriteAsync(Request("b")));
            var first = Task.WhenAny(a, b);
            refusedInTime = await Task.WhenAny(first, Task.Delay(s_stuck)) == first;
            if (refusedInTime)
            {
                // Read before SIGCONT: the write that sends cannot have finished while the server is frozen.
                refused = await first;
                bothDone = a.IsCompleted && b.IsCompleted;
                // The other write is still sending (the server is frozen): completing the stream now must be refused too.
                complete = Task.Run(() => call.RequestStream.CompleteAsync());
                refusedInTime = await Task.WhenAny(complete, Task.Delay(s_stuck)) == complete;
            }
        }
        finally
        {
            server.Signal("CONT");
        }
        Assert.True(refusedInTime, $"neither of two writes at once was refused (or a complete during a write was not) within {s_stuck.TotalSeconds} s: both were let send together");
        Assert.False(bothDone, $"while the server was frozen both writes completed (a: {a.Status}, b: {b.Status}): one should still be sending");
        Assert.True(refused!.IsFaulted && refused.Exception!.InnerException is InvalidOperationException,
            $"the second write gave {Describe(refused)}, not InvalidOperationException");
        Assert.True(complete!.IsFaulted && complete.Exception!.InnerException is InvalidOperationException,
            $"completing the stream while a write was sending gave {Describe(complete)}, not InvalidOperationException");
        var sent = ReferenceEquals(refused, a) ? b : a;
        await sent; // goes now that the server drains again
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync; // the server saw exactly the one write, whole
        Assert.Equal(1, reply.Index);
        Assert.Equal(ReferenceEquals(sent, a) ? "a" : "b", reply.Text);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    private static string Describe(Task task) => task.IsFaulted ? task.Exception!.InnerException!.GetType().Name + ": " + task.Exception.InnerException.Message : task.Status.ToString();

    private static Request Request(string text) => new() { Text = text, Count = 1, Payload = Payloads.Of(Large) };
}
