using System.Buffers.Binary;
using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// The server's side of the client's header limit (round 22, docs/grpc-call-protocol.md 2.8): its Settings frame says it
/// reads a ClientSettings frame, and it takes one only as a client's first frame, on stream 0, with a limit of at least
/// 1024 bytes; anything else is a broken client, whose connection it closes (and logs) while other clients go on. A client
/// that sends none (of an earlier round: the raw clients of the other tests) is served as before. The server is the test
/// server process; the client a raw channel that writes the frames byte by byte.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ClientSettingsTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    private ServerProcess StartServer(string service)
        => ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", [fixture.HypervisorName, fixture.SocketDirectory, service]);

    private static byte[] ClientSettings(uint maxHeaderBlock, uint streamId = 0)
    {
        var frame = new byte[Frame.HeaderLength + Frame.ClientSettingsBodyLength];
        Frame.WriteHeader(frame, FrameType.ClientSettings, FrameFlags.None, streamId);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(Frame.HeaderLength), maxHeaderBlock);
        return frame;
    }

    /// <summary>Fails before round 22: the Settings frame was 14 bytes, without the options.</summary>
    [Fact]
    public void The_servers_Settings_frame_says_it_reads_ClientSettings()
    {
        using var server = StartServer("client-settings-offered");
        using var raw = RawClient.Connect(fixture, "client-settings-offered", s_timeout, out var settings);
        Assert.Equal(Convert.FromHexString("070000000000" + "64000000" + "00004000" + "01000000"), settings); // 100 calls, 4 MiB, reads ClientSettings
    }

    /// <summary>
    /// A limit below the least, a second ClientSettings, or one after a CallStart: the server closes that connection as a
    /// protocol error and logs why; a client that then connects properly is served. Fails before round 22 differently: the
    /// server took any ClientSettings frame as an unknown type ("which only servers send or nobody does").
    /// </summary>
    [Theory]
    [InlineData("below", "A client announced a limit of 512 bytes for one header block")]
    [InlineData("twice", "a second one")]
    [InlineData("after-call", "after a CallStart")]
    public async Task A_broken_ClientSettings_frame_closes_that_connection_and_others_go_on(string how, string logged)
    {
        var service = "client-settings-" + how;
        using var server = StartServer(service);
        using var raw = RawClient.Connect(fixture, service, s_timeout, out _);
        switch (how)
        {
            case "below":
                raw.Send(ClientSettings(512));
                break;
            case "twice":
                raw.Send(ClientSettings(4096));
                raw.Send(ClientSettings(4096));
                break;
            default:
                raw.Send(RawClient.CallStart(1, "Unary", new Request { Text = "first" }));
                raw.Send(ClientSettings(4096));
                break;
        }
        WaitFor.Condition(() => server.Output.Contains(logged, StringComparison.Ordinal), "the server logged the broken frame", timeout: s_timeout, diagnostics: () => server.Output);
        using var channel = fixture.Open(server, "native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }
}
