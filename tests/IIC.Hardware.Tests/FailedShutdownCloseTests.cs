using System.Diagnostics;
using System.Globalization;
using IIC.Tests;
using static IIC.Hardware.Tests.StoppedHypervisor;

namespace IIC.Hardware.Tests;

/// <summary>
/// Closing the control socket out of descriptors, and when its shutdown fails all the same: docs/control-protocol.md §9,
/// "Closing the control socket". Out of descriptors the shutdown works since round 25 (it loads no code: before, its
/// System.Net.Primitives could not be loaded); a real child process at its descriptor limit shows it. When the
/// shutdown fails anyway (the tests make it fail on the disposing thread) the partition still ends its background
/// reader, with a real hypervisor in a child process; before round 24 Dispose waited 5 s for a reader that nothing
/// woke, and returned with it still waiting.
/// </summary>
public sealed class FailedShutdownCloseTests
{
    private const int Ring = DescriptorRing.MinCapacity;

    [Fact]
    public void Out_of_descriptors_Dispose_shuts_the_socket_down_and_the_reader_ends_even_without_an_epoll()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        // Without a reader epoll nothing but the shutdown ends the reader's poll, so the child shows whether it worked.
        using var child = ChildProcess.Start("cp-close-out-of-fds", scope.Name, scope.Directory, "client");
        Assert.Equal("attached", child.ReadLine(Watchdog));
        Assert.Equal(1, hypervisor.PartitionCount);
        LimitDescriptors(child.Id, Directory.GetFiles($"/proc/{child.Id}/fd").Length + 16);
        child.WriteLine("go");

        var line = child.ReadLine(Watchdog);
        var fields = line.Split(' ');
        Assert.True(fields.Length == 8 && fields[0] == "held", line);
        Assert.True(int.Parse(fields[1], CultureInfo.InvariantCulture) > 0, $"the child took no descriptor before its limit: {line}");
        Assert.True(fields[3] == "False", $"System.Net.Primitives was loaded before Dispose, so this run does not show a shutdown out of descriptors: {line}");
        // The reader had ended when Dispose returned (it waited for it): the shutdown woke its poll. Before round 25 the
        // shutdown failed to load its code, and the reader still waited (for the hypervisor's next message or hang-up).
        Assert.True(fields[5] == "False", $"Dispose returned with the reader still waiting: the shutdown failed out of descriptors: {line}");
        Assert.True(fields[7] == "False", line);
        // The socket was shut down and closed: the hypervisor detached the partition.
        WaitFor.Condition(() => hypervisor.PartitionCount == 0, "the hypervisor detaches the child's partition", Watchdog,
            diagnostics: () => $"{hypervisor.PartitionCount} partitions");
    }

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

        // The hypervisor's hang-up ends the poll; the reader then finds the end Dispose marked and ends.
        host.Dispose();
        WaitFor.Condition(() => !client.ReaderRunning, "the reader ends once the hypervisor hangs up", Watchdog);
        Assert.False(client.IsHypervisorConnected);
    }

    [Fact]
    public async Task Without_a_reader_epoll_and_with_a_failed_shutdown_Dispose_waits_for_a_dispatch_under_way_and_nothing_is_dispatched_after_it()
    {
        using var scope = new HypervisorScope();
        var host = StartHost(scope); // disposed below: its hang-up ends the reader
        using var server = scope.Attach("server");
        using var listener = server.Listen("open");
        Partition? client = null;
        Partition.t_attachWithoutReadingKicks = true; // its reader is not joined by a Dispose whose shutdown failed
        try
        {
            client = scope.Attach("client");
        }
        finally
        {
            Partition.t_attachWithoutReadingKicks = false;
        }
        using var dispatching = new ManualResetEventSlim();
        using var proceed = new ManualResetEventSlim();
        var disposeReturned = 0;
        var disposeReturnedBeforeTheDispatch = -1;
        var dispatchedAfter = 0;
        Partition.s_beforeDispatch = partition =>
        {
            if (partition != client)
            {
                return;
            }
            if (dispatching.IsSet)
            {
                Interlocked.Increment(ref dispatchedAfter);
                return;
            }
            dispatching.Set(); // the connect's grant, received by the reader: its dispatch holds here until the test lets it go
            proceed.Wait(Watchdog);
            disposeReturnedBeforeTheDispatch = Volatile.Read(ref disposeReturned);
        };
        try
        {
            var connect = client.ConnectAsync("open", Ring);
            Assert.True(dispatching.Wait(Watchdog), "the grant did not reach the client's reader");
            var disposer = new Thread(() =>
            {
                DisposeWithFailingShutdown(client);
                Volatile.Write(ref disposeReturned, 1);
            });
            disposer.Start();
            // Before round 25 Dispose went on to drop the group pages under the dispatch, and returned; now it waits
            // for the read lock the dispatch holds. Either way the disposer ends up returned or waiting.
            WaitFor.Condition(() => !disposer.IsAlive || (disposer.ThreadState & System.Threading.ThreadState.WaitSleepJoin) != 0, "Dispose returns or waits", Watchdog);
            proceed.Set();
            Assert.True(disposer.Join(Watchdog), "Dispose did not return once the dispatch ended");

            Assert.Equal(0, disposeReturnedBeforeTheDispatch); // the dispatch ran to its end before Dispose dropped what it uses
            await Assert.ThrowsAsync<ObjectDisposedException>(() => connect); // Dispose failed it; the grant was released
            Assert.False(client.IsHypervisorConnected);
            // The reader ends with the hypervisor's hang-up, taking nothing more from the socket.
            host.Dispose();
            WaitFor.Condition(() => !client.ReaderRunning, "the reader ends once the hypervisor hangs up", Watchdog);
            Assert.Equal(0, Volatile.Read(ref dispatchedAfter));
        }
        finally
        {
            Partition.s_beforeDispatch = null;
            proceed.Set();
        }
    }

    /// <summary>Lowers a process's descriptor limit (soft and hard) with prlimit(1).</summary>
    private static void LimitDescriptors(int pid, int descriptors)
    {
        var value = descriptors.ToString(CultureInfo.InvariantCulture);
        using var prlimit = Process.Start(new ProcessStartInfo("prlimit", ["--pid", pid.ToString(CultureInfo.InvariantCulture), $"--nofile={value}:{value}"]) { UseShellExecute = false })!;
        Assert.True(prlimit.WaitForExit(Watchdog), "prlimit did not finish");
        Assert.Equal(0, prlimit.ExitCode);
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
