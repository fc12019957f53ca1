using System.Buffers.Binary;
using System.Text;
using IIC.Native;
using IIC.Tests;

using static IIC.Hardware.Tests.HypervisorProtocolTests;

namespace IIC.Hardware.Tests;

/// <summary>
/// The grant order (control-protocol.md §3, "Connect"): the connector hears its <c>Connected</c> before the listener
/// its <c>Incoming</c>, as TCP's connect() completes while the connection waits in the listen backlog. What that must
/// not change: a listener that cannot take the grant it was committed is treated as dead, so the connector, already
/// holding its connection, sees the peer's death (as a TCP connector sees ECONNRESET), never a silently dead window.
/// </summary>
public class ConnectedFirstTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_listener_that_cannot_take_its_Incoming_is_seen_dead_by_the_connector_it_was_committed_to()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var raw = SeqPacketSocket.Create();
        raw.Connect(scope.SocketPath);
        raw.Send(Message(ControlMessageType.Attach, 1, Str("listener")));
        ExpectReply(raw, ControlMessageType.Attached);
        raw.Send(Message(ControlMessageType.Listen, 2, Str("cf")));
        ExpectReply(raw, ControlMessageType.Listening);
        // The listener stops reading: the hypervisor's send of its Incoming fails with EPIPE (no hang-up is seen first).
        raw.Shutdown(System.Net.Sockets.SocketShutdown.Receive);

        using var connector = scope.Attach("connector");
        var died = new TaskCompletionSource<PeerDiedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        connector.PeerDied += (_, death) => died.TrySetResult(death);
        if (!Hypervisor.ConnectedFirst)
        {
            // IIC_CONNECTED_FIRST=0, the listener-first order (main before round 10): the listener is gone before
            // the connector hears, and the connect is refused.
            Assert.Equal(ControlError.UnknownService, Assert.Throws<HypervisorException>(() => connector.Connect("cf", 4096, TimeSpan.Zero)).Error);
            return;
        }
        // Connector-first, the connector holds its connection and sees the death.
        using var connection = connector.Connect("cf", 4096, TimeSpan.Zero);
        var death = await died.Task.WaitAsync(s_timeout);
        Assert.Equal(connection.Id, death.ConnectionId);
        Assert.Equal(SideState.Dead, connection.Window.ReadSideState(0));
        Assert.Equal(1, hypervisor.PartitionCount); // the listener was detached, the connector not
        Assert.True(connector.IsHypervisorConnected);
    }

    private static void ExpectReply(SeqPacketSocket socket, ControlMessageType type)
    {
        var buffer = new byte[1024];
        Assert.True(socket.TryReceive(buffer, null, s_timeout, out var received) && received > 0, $"no {type} reply");
        Assert.Equal(type, (ControlMessageType)BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(6)));
    }
}
