using System.Reflection;
using IIC.Hardware;
using IIC.Native;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>Users catch <see cref="IicException"/> once: every exception IICFast defines derives from it (and so from IOException).</summary>
public class ExceptionHierarchyTests
{
    [Fact]
    public void Every_public_exception_of_Hardware_and_Transport_is_an_IicException()
    {
        var exceptions = new[] { typeof(IicException).Assembly, typeof(IicChannel).Assembly }
            .SelectMany(assembly => assembly.GetExportedTypes())
            .Where(type => typeof(Exception).IsAssignableFrom(type))
            .ToList();
        Assert.Contains(typeof(HypervisorException), exceptions);
        Assert.Contains(typeof(RingFaultException), exceptions);
        Assert.Contains(typeof(PeerDeadException), exceptions);
        Assert.All(exceptions, type => Assert.True(typeof(IicException).IsAssignableFrom(type), $"{type} does not derive from IicException"));
        Assert.True(typeof(IOException).IsAssignableFrom(typeof(IicException)));
        Assert.True(typeof(IOException).IsAssignableFrom(typeof(NativeException)));
    }

    [Fact]
    public async Task One_catch_of_IicException_handles_a_refused_connect_and_a_closed_peer()
    {
        using var host = PartitionHost.Start();
        var refused = Assert.IsType<HypervisorException>(CatchIic(() => IicChannel.Connect(host.Partition, "nobody-offers-this", timeout: TimeSpan.Zero)));
        Assert.Equal(ControlError.UnknownService, refused.Error);

        var service = "hierarchy-" + Guid.NewGuid().ToString("N")[..8];
        using var listener = IicListener.Listen(host.Partition, service);
        var accept = listener.AcceptAsync().AsTask();
        using var client = IicChannel.Connect(host.Partition, service, new ChannelOptions { RingCapacity = 64 * 1024 });
        var server = await accept.WaitAsync(PartitionHost.Timeout);
        server.Dispose();
        var closed = CatchIic(() => client.Receive(new byte[16]));
        Assert.IsType<IicChannelClosedException>(closed);
    }

    /// <summary>Runs <paramref name="action"/> and returns what a single <c>catch (IicException)</c> caught; fails if nothing was thrown.</summary>
    private static IicException CatchIic(Action action)
    {
        try
        {
            action();
        }
        catch (IicException e)
        {
            return e;
        }
        Assert.Fail("nothing was thrown");
        return null!;
    }
}
