using IIC.Tests;
using static IIC.Hardware.Tests.StoppedHypervisor;

namespace IIC.Hardware.Tests;

/// <summary>
/// A partition whose control socket cannot be shut down at Dispose (out of descriptors, the code the shutdown needs
/// cannot even be loaded; the tests make it fail on the disposing thread) still ends its background reader, with a real
/// hypervisor in a child process: docs/control-protocol.md §9, "Closing the control socket". Before round 24 Dispose
/// waited 5 s for a reader that nothing woke, and returned with it still waiting.
/// </summary>
public sealed class FailedShutdownCloseTests
{
    private const int Ring = DescriptorRing.MinCapacity;

    [Fact]
    public void Dispose_wakes_the_reader_through_its_epoll_when_the_shutdown_fails_and_the_reader_ends()
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        using var server = scope.Attach("server");
        using var listener = server.Listen("open");
        var client = scope.Attach("client");
        Assert.True(client.ReaderRunning);

        DisposeWithFailingShutdown(client);

        // The reader ended before Dispose returned (it waits for it), as on the hang-up: the partition counts itself detached.
        Assert.False(client.ReaderRunning, "Dispose returned with the background reader still waiting in its epoll");
        Assert.False(client.IsHypervisorConnected);
        // The reader's own hang-up reached the hypervisor: it detached the client, and serves on.
        using var again = scope.Attach("client");
        using var connection = again.Connect("open", Ring, Watchdog);
        using var accepted = listener.Accept(Watchdog);
        Assert.Equal(connection.Id, accepted.Id);
    }

    [Fact]
    public void Without_a_reader_epoll_Dispose_leaves_the_socket_to_the_readers_poll_which_ends_with_the_hypervisors_hang_up()
    {
        using var scope = new HypervisorScope();
        var host = StartHost(scope);
        Partition client;
        Partition.t_attachWithoutReadingKicks = true; // as if out of descriptors at attach: the reader waits in poll on the socket alone
        try
        {
            client = scope.Attach("client");
        }
        finally
        {
            Partition.t_attachWithoutReadingKicks = false;
        }

        // Nothing can wake a poll on the socket but the socket: Dispose does not wait for the reader (before, 5 s), and
        // the socket's descriptor stays open under the reader's poll (its reference defers the close).
        DisposeWithFailingShutdown(client);
        Assert.True(client.ReaderRunning, "the reader ended although nothing could wake it");

        // The hypervisor's hang-up ends the poll; the reader then finds the socket closed and ends.
        host.Dispose();
        WaitFor.Condition(() => !client.ReaderRunning, "the reader ends once the hypervisor hangs up", Watchdog);
        Assert.False(client.IsHypervisorConnected);
    }

    private static void DisposeWithFailingShutdown(Partition partition)
    {
        Partition.t_shutdownFails = true;
        try
        {
            partition.Dispose();
        }
        finally
        {
            Partition.t_shutdownFails = false;
        }
    }
}
