using IIC.Hardware;
using IIC.Transport;

namespace IIC.Transport.Tests;

public class HypervisorSmokeTests
{
    [Fact]
    public async Task Two_partitions_connect_through_an_embedded_hypervisor_and_exchange_messages()
    {
        var name = "smoke-" + Guid.NewGuid().ToString("N")[..8];
        using var hypervisor = Hypervisor.Start(name);
        using var server = Partition.Attach(name, "server");
        using var client = Partition.Attach(name, "client");
        using var listener = IicListener.Listen(server, "echo");
        var accept = listener.AcceptAsync().AsTask();
        using var channel = IicChannel.Connect(client, "echo", new ChannelOptions { RingCapacity = 64 * 1024 });
        using var serverChannel = await accept.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, hypervisor.GrantCount);
        Assert.Equal(2, hypervisor.PartitionCount);
        channel.Send("hello"u8);
        var buffer = new byte[16];
        Assert.Equal(5, serverChannel.Receive(buffer));
        Assert.Equal("hello"u8.ToArray(), buffer[..5]);
        var ex = Assert.Throws<HypervisorException>(() => IicChannel.Connect(client, "nobody", timeout: TimeSpan.Zero));
        Assert.Equal(ControlError.UnknownService, ex.Error);
    }
}
