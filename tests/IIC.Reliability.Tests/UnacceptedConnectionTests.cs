using IIC.Hardware;
using IIC.Tests;
using IIC.TestHost;

namespace IIC.Reliability.Tests;

/// <summary>
/// A connection granted and not accepted yet, as TCP's connections in a listen backlog: the connector (told first,
/// control-protocol.md §3) may already have sent. A listener that dies or stops listening without accepting it must
/// show the connector the peer's death or the end of the stream, as TCP's ECONNRESET, never a window nobody reads.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class UnacceptedConnectionTests
{
    [Fact]
    public void A_listener_killed_before_accepting_shows_the_connector_its_death()
    {
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var child = ChildProcess.Start("cp-idle-listener", host.Name, host.SocketDirectory, "unaccepting", service);
        Assert.Equal("listening", child.ReadLine(PartitionHost.Timeout));
        using var channel = IicChannel.Connect(host.Partition, service, new ChannelOptions { RingCapacity = 4096 }, PartitionHost.Timeout);
        channel.Send([1, 2, 3, 4]); // in the ring: nobody accepted the connection to read it
        ProcSelf.Signal(child.Id, "KILL");
        var buffer = new byte[64];
        Assert.Throws<PeerDeadException>(() => channel.TryReceive(buffer, out _, PartitionHost.Timeout));
    }

    [Fact]
    public void A_listener_disposed_before_accepting_shows_the_connector_the_end_of_the_stream()
    {
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listening = Partition.Attach(host.Name, "unaccepting", host.SocketDirectory);
        var listener = IicListener.Listen(listening, service);
        using var channel = IicChannel.Connect(host.Partition, service, new ChannelOptions { RingCapacity = 4096 }, PartitionHost.Timeout);
        channel.Send([1, 2, 3, 4]);
        listener.Dispose(); // the connection granted to it, queued or still on its way, is closed unaccepted
        var buffer = new byte[64];
        Assert.Throws<IicChannelClosedException>(() => channel.TryReceive(buffer, out _, PartitionHost.Timeout));
    }
}
