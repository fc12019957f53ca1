using System.Buffers.Binary;
using System.Globalization;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// The transport's receive limit on native gRPC connections (docs/grpc-call-protocol.md 2.9, "Frames the transport
/// reassembles"): every frame of this protocol fits one ring record, and a whole frame from a peer of before round 18 is
/// at most a header block of MaxMetadataSize with a message chunk. A longer transport-fragmented message is refused by the
/// transport at its first fragment, never buffered, and closes the connection as a protocol error.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class FragmentedFrameLimitTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    private static DateTime Deadline => DateTime.UtcNow + s_timeout;

    private ServerProcess StartServer(string service)
        => ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", [fixture.HypervisorName, fixture.SocketDirectory, service]);

    [Fact]
    public async Task A_64_MiB_transport_fragmented_frame_closes_its_connection_as_a_protocol_error_unbuffered_and_another_client_is_served()
    {
        using var server = StartServer("frames-fragmented");
        using var observerChannel = fixture.Open(server, "native");
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        Assert.Equal("before", (await observer.UnaryAsync(new Request { Text = "before" }, deadline: Deadline)).Text);
        var peakBefore = PeakResidentBytes(server.Id);

        using var raw = RawClient.Connect(fixture, "frames-fragmented", s_timeout, out _);
        // One transport message of 64 MiB that starts as a CallStart frame: the transport fragments it (a record is 256 KiB).
        var frame = new byte[64 << 20];
        Frame.WriteHeader(frame, FrameType.CallStart, FrameFlags.None, 1);
        var failure = await Task.Run(() =>
        {
            try
            {
                raw.Send(frame);
                return null;
            }
            catch (IicException e)
            {
                return e;
            }
        }).WaitAsync(s_timeout);
        // The server refused it at its first fragment and closed the connection: the send could not finish.
        Assert.IsType<IicChannelClosedException>(failure);
        WaitFor.Condition(() => server.Output.Contains("transport-fragmented frame of 67108864 bytes", StringComparison.Ordinal),
            "the server logged the refused frame as a protocol error", timeout: s_timeout, diagnostics: () => server.Output);
        // Before, the server's transport reassembled all 64 MiB (rented and filled) before its reader refused the frame.
        var grown = PeakResidentBytes(server.Id) - peakBefore;
        Assert.True(grown < 32L << 20, $"the server's peak resident memory grew by {grown} bytes");

        Assert.Equal("after", (await observer.UnaryAsync(new Request { Text = "after" }, deadline: Deadline)).Text);
    }

    /// <summary>Pins behaviour (passes before too): a whole frame longer than a record, as a peer of before round 18 sent header blocks, is still accepted within MaxMetadataSize.</summary>
    [Fact]
    public async Task A_whole_call_start_longer_than_a_record_from_an_earlier_peer_is_still_served()
    {
        using var server = StartServer("frames-whole");
        using var raw = RawClient.Connect(fixture, "frames-whole", s_timeout, out _);
        var callStart = HeaderBlocks.CallStartWithHeaders(1, "Unary", new Request { Mode = "echo-metadata" }, HeaderBlocks.BigHeaders(600 * 1024, 100 * 1024));
        Assert.True(callStart.Length > raw.MaxClaimLength);
        await Task.Run(() => raw.Send(callStart)).WaitAsync(s_timeout); // whole: the transport fragments it
        var buffer = new byte[1 << 20];
        while (true)
        {
            Assert.True(raw.TryReceive(buffer, out var length, s_timeout), "the server sent no Trailers");
            if ((FrameType)buffer[0] == FrameType.Trailers && BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(2)) == 1)
            {
                break;
            }
            Assert.True(length >= Frame.HeaderLength);
        }
        Assert.DoesNotContain("protocol", server.Output, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The process's peak resident set (VmHWM in /proc/PID/status), in bytes.</summary>
    private static long PeakResidentBytes(int processId)
    {
        foreach (var line in File.ReadLines($"/proc/{processId}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"no VmHWM in /proc/{processId}/status");
    }
}
