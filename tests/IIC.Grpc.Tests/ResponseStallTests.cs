using System.Buffers.Binary;
using Google.Protobuf;
using Grpc.Core;
using IIC.AspNetCore;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// IicGrpcServerOptions.ResponseStallTimeout (round 17): a client that reads nothing of its responses for longer than the
/// limit while they wait for room loses its connection, as Kestrel's MinResponseDataRate closes a connection whose client
/// does not read responses; a client that reads slowly but keeps reading is not closed. The clients here are raw
/// IicChannels (they read the ring only when the test says so), against a server process of their own with a short limit.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ResponseStallTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    /// <summary>A message larger than one chunk, so a few fill the 1 MiB ring.</summary>
    private const int MessageBytes = 64 * 1024;

    private static DateTime Deadline => DateTime.UtcNow + s_timeout;

    private ServerProcess StartServer(string service, int stallMilliseconds)
        => ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", fixture.HypervisorName, fixture.SocketDirectory, service, $"stall-timeout-ms={stallMilliseconds}");

    /// <summary>A raw connection to <paramref name="service"/> that has read the server's Settings frame.</summary>
    private static IicChannel ConnectRaw(TesterFixture fixture, string service)
    {
        var raw = RawClient.Connect(fixture, service, s_timeout, out var settings);
        Assert.Equal((byte)FrameType.Settings, settings[0]);
        return raw;
    }

    [Fact]
    public async Task A_client_that_reads_nothing_for_longer_than_the_limit_loses_its_connection_and_other_clients_go_on()
    {
        using var server = StartServer("stall-frozen", stallMilliseconds: 1000);
        using var observerChannel = fixture.Open(server, "native");
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        using var raw = ConnectRaw(fixture, "stall-frozen");

        // An endless stream of 64 KiB messages, and a call that only waits for its token; then the raw client reads nothing.
        raw.Send(RawClient.CallStart(1, "ServerStream", new Request { Mode = "progress", Key = "stall-stream", Count = int.MaxValue, Payload = Payloads.Of(MessageBytes) }));
        raw.Send(RawClient.CallStart(3, "ServerStream", new Request { Mode = "forever", Key = "stall-idle" }));
        // A second endless stream: once the ring is full its writes queue behind the first one's (the sender's), so when the
        // connection closes one write fails in the sender's wait and the other in the queue, or as it begins.
        raw.Send(RawClient.CallStart(5, "ServerStream", new Request { Mode = "progress", Key = "stall-stream-2", Count = int.MaxValue, Payload = Payloads.Of(MessageBytes) }));
        WaitFor.Condition(() => Written(observer, "stall-idle") == 0, "the waiting call's handler running");

        // The ring fills, the stream's write waits for room; after the limit the server closes the connection: the write
        // in progress fails (OperationCanceledException, as Kestrel's aborted write), the other handler's token fires.
        // ("refused" would be a write started after the call was cancelled: also a failed write, never expected here.)
        WaitFor.Condition(() => Cancelled(observer, "stall-stream") is "cancelled" or "refused", "the stalled stream's write failed", timeout: s_timeout,
            diagnostics: () => $"written? {Written(observer, "stall-stream")}; server output: {server.Output}");
        // Every write the close ends fails as a cancelled one, never with the closed channel's own exception (before the
        // lead's mend a queued write met IicChannelClosedException or ObjectDisposedException, and its handler ended Unknown).
        WaitFor.Condition(() => Cancelled(observer, "stall-stream-2") is "cancelled" or "refused", "the second stream's write failed as cancelled", timeout: s_timeout,
            diagnostics: () => $"written? {Written(observer, "stall-stream-2")}; server output: {server.Output}");
        WaitFor.Condition(() => Cancelled(observer, "stall-idle") == "cancelled", "the other call's token fired", timeout: s_timeout);
        // The ring (1 MiB, 64 KiB messages) filled before the stall: at least one of the two streams got past its first
        // write. Which one is a race (the second stream can fill the ring before the first one's first write lands).
        Assert.True(Written(observer, "stall-stream") > 0 || Written(observer, "stall-stream-2") > 0, "the streams wrote something before they stalled");
        WaitFor.Condition(() => server.Output.Contains("closed: the client read nothing of the responses for more than 1 s", StringComparison.Ordinal),
            "the server logged the stall", timeout: s_timeout, diagnostics: () => server.Output);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(server.Output, "the client read nothing of the responses")); // logged once

        // The raw client finds what was in the ring, then the channel's end.
        var ended = await Task.Run(() =>
        {
            var buffer = new byte[4 << 20];
            try
            {
                while (raw.TryReceive(buffer, out _, s_timeout))
                {
                }
                return "still open";
            }
            catch (IicException e)
            {
                return e.GetType().Name;
            }
        }).WaitAsync(s_timeout + s_timeout);
        Assert.Equal(nameof(IicChannelClosedException), ended);

        // Another client's calls go on: the same server, a large response and a stream.
        var reply = await observer.UnaryAsync(new Request { Text = "after", Payload = Payloads.Of(2 * MessageBytes) }, deadline: Deadline);
        Assert.Equal(("after", 2 * MessageBytes), (reply.Text, reply.Payload.Length));
        using var stream = observer.ServerStream(new Request { Count = 32, Payload = Payloads.Of(MessageBytes) }, deadline: Deadline);
        var count = 0;
        while (await stream.ResponseStream.MoveNext(CancellationToken.None))
        {
            Assert.Equal(count++, stream.ResponseStream.Current.Index);
        }
        Assert.Equal(32, count);
    }

    [Fact]
    public async Task A_client_that_reads_slowly_but_keeps_reading_is_not_closed()
    {
        using var server = StartServer("stall-slow", stallMilliseconds: 1000);
        using var raw = ConnectRaw(fixture, "stall-slow");
        // 4 MiB of responses, four times the ring: the server's sender waits for room most of the time the client reads.
        const int Messages = 64;
        raw.Send(RawClient.CallStart(1, "ServerStream", new Request { Count = Messages, Payload = Payloads.Of(MessageBytes) }));
        var (messages, status, waited) = await Task.Run(() =>
        {
            var buffer = new byte[4 << 20];
            var messages = 0;
            var started = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                if (!raw.TryReceive(buffer, out var length, s_timeout))
                {
                    return (messages, -1, started.Elapsed);
                }
                Assert.True(length >= Frame.HeaderLength);
                var type = (FrameType)buffer[0];
                var flags = (FrameFlags)buffer[1];
                Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(2)));
                if (type == FrameType.Trailers)
                {
                    return (messages, BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(Frame.HeaderLength)), started.Elapsed);
                }
                if (type == FrameType.Message && (flags & FrameFlags.Last) != 0)
                {
                    messages++;
                }
                // The slow reader: a pause after each record, far shorter than the limit, so the client always makes progress
                // within it while the whole read takes longer than it (pacing, not synchronisation).
                Thread.Sleep(25);
            }
        }).WaitAsync(s_timeout + s_timeout);
        Assert.Equal((Messages, (int)StatusCode.OK), (messages, status));
        Assert.True(waited > TimeSpan.FromSeconds(1), $"the read took {waited.TotalSeconds:0.00} s, not more than the limit: the test showed nothing");
        Assert.DoesNotContain("the client read nothing", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_stall_option_is_30_s_by_default_takes_null_for_never_and_refuses_zero_or_less_when_set()
    {
        var options = new IIC.Grpc.Server.IicGrpcServerOptions();
        Assert.Equal(TimeSpan.FromSeconds(30), options.ResponseStallTimeout);
        options.ResponseStallTimeout = null;
        Assert.Null(options.ResponseStallTimeout);
        options.ResponseStallTimeout = TimeSpan.FromSeconds(5);
        foreach (var bad in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(-1), TimeSpan.FromDays(30) })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => options.ResponseStallTimeout = bad);
            Assert.Contains("null for never", e.Message, StringComparison.Ordinal);
        }
        Assert.Equal(TimeSpan.FromSeconds(5), options.ResponseStallTimeout); // unchanged
    }

    private static int Written(Tester.TesterClient observer, string key)
        => observer.Unary(new Request { Mode = "written?", Key = key }, deadline: Deadline).Index;

    private static string Cancelled(Tester.TesterClient observer, string key)
        => observer.Unary(new Request { Mode = "cancelled?", Key = key }, deadline: Deadline).Text;
}
