using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// The header-block tests' steps (ContinuationTests, HeaderBlockLimitTests; BigHeaders and CallStartWithHeaders also
/// elsewhere): a test server and a channel to it with small rings, metadata of many records, and a CallStart built by hand.
/// </summary>
internal static class HeaderBlocks
{
    /// <summary>A watchdog, not synchronisation: past it something hung.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>64 KiB rings: one record holds 16 KiB, so a few KiB of metadata already takes several.</summary>
    public const int SmallRing = 64 * 1024;

    /// <summary>A call deadline as far off as the watchdog.</summary>
    public static DateTime Deadline => DateTime.UtcNow + Timeout;

    /// <summary>A channel to <paramref name="server"/> with rings of <paramref name="ringCapacity"/>, and this side's header limit when <paramref name="maxMetadata"/> is given.</summary>
    public static GrpcServiceChannel Connect(TesterFixture fixture, ServerProcess server, int ringCapacity = SmallRing, bool inlineCompletions = false, int? maxMetadata = null)
    {
        var options = new GrpcServiceChannelOptions
        {
            Native =
            {
                Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory },
                ChannelOptions = new ChannelOptions { RingCapacity = ringCapacity },
                InlineCompletions = inlineCompletions,
            },
            MaxReceiveMessageSize = 16 * 1024 * 1024,
        };
        if (maxMetadata is { } max)
        {
            options.Native.MaxMetadataSize = max;
        }
        return GrpcServiceChannel.ForAddress(server.Address("iic://"), options);
    }

    /// <summary>The test server process, serving <paramref name="service"/> with <paramref name="arguments"/>.</summary>
    public static ServerProcess StartServer(TesterFixture fixture, string service, params string[] arguments)
        => ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", [fixture.HypervisorName, fixture.SocketDirectory, service, .. arguments]);

    /// <summary>Text and binary "big-*" entries of <paramref name="entryBytes"/> each, <paramref name="totalBytes"/> in all (about).</summary>
    public static Metadata BigHeaders(int totalBytes, int entryBytes)
    {
        var headers = new Metadata();
        for (var i = 0; i * entryBytes < totalBytes; i++)
        {
            if (i % 2 == 0)
            {
                headers.Add($"big-{i}", new string((char)('a' + (i % 26)), entryBytes));
            }
            else
            {
                headers.Add($"big-{i}-bin", Enumerable.Range(0, entryBytes).Select(b => (byte)(b * 13 + i)).ToArray());
            }
        }
        return headers;
    }

    /// <summary>Asserts that <paramref name="actual"/> holds <paramref name="expected"/>'s entries, in order and byte for byte.</summary>
    public static void AssertSameBigEntries(Metadata expected, Metadata actual)
    {
        var got = actual.Where(e => e.Key.StartsWith("big-", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected.Count, got.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Key, got[i].Key);
            if (expected[i].IsBinary)
            {
                Assert.Equal(expected[i].ValueBytes, got[i].ValueBytes);
            }
            else
            {
                Assert.Equal(expected[i].Value, got[i].Value);
            }
        }
    }

    /// <summary>A CallStart carrying its one request (WithMessage, EndStream) and <paramref name="headers"/>, built by hand (2.1, 2.7).</summary>
    public static byte[] CallStartWithHeaders(uint streamId, string method, Request request, Metadata headers)
    {
        var message = Google.Protobuf.MessageExtensions.ToByteArray(request);
        using var body = new MemoryStream();
        var writer = new BinaryWriter(body);
        writer.Write(new byte[Frame.HeaderLength]);
        writer.Write((uint)message.Length);
        writer.Write(message);
        writer.Write(-1L); // no deadline
        var name = System.Text.Encoding.UTF8.GetBytes($"/iic.testing.Tester/{method}");
        writer.Write((ushort)name.Length);
        writer.Write(name);
        writer.Write((ushort)headers.Count);
        foreach (var entry in headers)
        {
            writer.Write(entry.IsBinary ? (byte)1 : (byte)0);
            var key = System.Text.Encoding.ASCII.GetBytes(entry.Key);
            writer.Write((ushort)key.Length);
            writer.Write(key);
            var value = entry.IsBinary ? entry.ValueBytes : System.Text.Encoding.UTF8.GetBytes(entry.Value);
            writer.Write((uint)value.Length);
            writer.Write(value);
        }
        writer.Flush();
        var frame = body.ToArray();
        Frame.WriteHeader(frame, FrameType.CallStart, FrameFlags.WithMessage | FrameFlags.EndStream, streamId);
        return frame;
    }
}
