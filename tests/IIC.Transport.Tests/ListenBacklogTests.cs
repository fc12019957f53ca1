using IIC.Hardware;
using IIC.Transport;

namespace IIC.Transport.Tests;

/// <summary>ChannelOptions.ListenBacklog reaches the hypervisor: it grants at most that many connections beyond those accepted.</summary>
public class ListenBacklogTests
{
    [Fact]
    public async Task A_listener_is_granted_its_backlog_then_connectors_wait_until_it_accepts()
    {
        var name = "backlog-" + Guid.NewGuid().ToString("N")[..8];
        using var hypervisor = Hypervisor.Start(name);
        using var server = Partition.Attach(name, "server");
        using var client = Partition.Attach(name, "client");
        var small = new ChannelOptions { RingCapacity = 64 * 1024 };

        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => IicListener.Listen(server, "echo", small with { ListenBacklog = 0 }));
        Assert.Contains("ListenBacklog", bad.Message, StringComparison.Ordinal);

        using var listener = IicListener.Listen(server, "echo", small with { ListenBacklog = 2 }); // the refused call offered nothing
        using var first = IicChannel.Connect(client, "echo", small, TimeSpan.FromSeconds(30));
        using var second = IicChannel.Connect(client, "echo", small, TimeSpan.FromSeconds(30));
        var busy = Assert.Throws<HypervisorException>(() => IicChannel.Connect(client, "echo", small, TimeSpan.Zero));
        Assert.Equal(ControlError.NotAccepting, busy.Error);

        var waiting = Task.Run(() => IicChannel.Connect(client, "echo", small, TimeSpan.FromSeconds(60)));
        using var accepted = listener.Accept(TimeSpan.FromSeconds(30)); // frees one place in the backlog
        using var third = await waiting.WaitAsync(TimeSpan.FromSeconds(60));
        third.Send("hi"u8);
        using var a2 = listener.Accept(TimeSpan.FromSeconds(30));
        using var a3 = listener.Accept(TimeSpan.FromSeconds(30));
        var buffer = new byte[8];
        Assert.True(a3.TryReceive(buffer, out var length, TimeSpan.FromSeconds(30)));
        Assert.Equal("hi"u8.ToArray(), buffer[..length]);
    }
}
