using System.Globalization;
using IIC.Tests;
using IIC.TestHost;
using IIC.Transport;
using Xunit.Abstractions;

namespace IIC.Hardware.Tests;

/// <summary>
/// <see cref="Partition.ConnectAsync"/> holds no thread while the hypervisor waits for the service (docs/control-protocol.md
/// §9, "An asynchronous connect holds no thread"), and keeps every promise of <see cref="Partition.Connect"/>: its
/// timeout, its token (the hypervisor forgets the connect), the hypervisor's death, the partition's Dispose, and no grant
/// leaked when the answer crosses the cancellation.
/// </summary>
public sealed class AsyncConnectTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private const int Ring = DescriptorRing.MinCapacity;

    [Fact]
    public void Many_waiting_async_connects_leave_a_bounded_pool_free_and_all_connect_once_the_service_is_offered()
    {
        const int Connects = 64;
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var connector = ChildProcess.Start("ac-bounded-pool-connects", scope.Name, scope.Directory, "connector", "late", Connects.ToString(CultureInfo.InvariantCulture), "60");
        Assert.Equal("attached", connector.ReadLine(s_timeout));
        // The child's pool has 4 threads: before, 4 connects held them all, waiting for the answer, and the probe queued
        // after the 64 connects could not run until they ended (they end only once the service is offered, below).
        Assert.Equal("probe ran 0", connector.ReadLine(TimeSpan.FromSeconds(60)));
        WaitFor.Condition(() => hypervisor.PendingConnectCount == Connects, "the 64 connects wait for the service", s_timeout, connector.ToString);

        using var server = scope.Attach("server");
        using var listener = IicListener.Listen(server, "late");
        var channels = new List<IicChannel>();
        try
        {
            for (var i = 0; i < Connects; i++)
            {
                channels.Add(listener.Accept(s_timeout));
            }
            var buffer = new byte[8];
            foreach (var channel in channels)
            {
                Assert.True(channel.TryReceive(buffer, out var length, s_timeout), "a connector's channel sent nothing");
                channel.Send(buffer.AsSpan(0, length));
            }
            Assert.Equal($"echoed {Connects}", connector.ReadLine(s_timeout));
        }
        finally
        {
            channels.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public void Async_attaches_to_a_hypervisor_that_does_not_answer_yet_leave_a_bounded_pool_free()
    {
        const int Attaches = 8;
        using var scope = new HypervisorScope();
        using var host = ChildProcess.Start("hv-host", scope.Name, scope.Directory);
        Assert.StartsWith("ready ", host.ReadLine(s_timeout));
        using var attacher = ChildProcess.Start("ac-bounded-pool-attaches", scope.Name, scope.Directory, Attaches.ToString(CultureInfo.InvariantCulture));
        Assert.Equal("ready", attacher.ReadLine(s_timeout));
        StoppedHypervisor.Signal(host.Id, "STOP"); // its socket still takes connections (the kernel queues them); nobody answers an Attach
        try
        {
            attacher.WriteLine("go");
            // Before round 19 each AttachAsync held one of the child's 4 pool threads until its answer (or its 10 s timeout).
            Assert.Equal("probe ran 0", attacher.ReadLine(s_timeout));
        }
        finally
        {
            StoppedHypervisor.Signal(host.Id, "CONT");
        }
        Assert.Equal($"attached {Attaches}", attacher.ReadLine(s_timeout));
        attacher.AssertExit(0, s_timeout);
    }

    [Fact]
    public async Task A_cancelled_async_connect_ends_cancelled_and_the_hypervisor_forgets_it()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var client = scope.Attach("client");
        using var cancel = new CancellationTokenSource();
        var waiting = client.ConnectAsync("later", Ring, TimeSpan.FromSeconds(60), cancellationToken: cancel.Token);
        WaitFor.Condition(() => hypervisor.PendingConnectCount == 1, "the connect waits for the service", s_timeout);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(s_timeout));
        Assert.True(waiting.IsCanceled, $"the cancelled connect ended {waiting.Status}");
        WaitFor.Condition(() => hypervisor.PendingConnectCount == 0, "the hypervisor forgets the cancelled connect", s_timeout);

        // The service appears: its first connection is the next connect's, not a ghost of the cancelled one (the
        // hypervisor grants waiting connects as the Listen arrives, before any later Connect).
        using var server = scope.Attach("server");
        using var listener = server.Listen("later");
        using var connection = await client.ConnectAsync("later", Ring, s_timeout);
        using var accepted = listener.Accept(s_timeout);
        Assert.Equal(connection.Id, accepted.Id);
        Assert.Equal(1, hypervisor.GrantCount);

        // A token cancelled before the call: cancelled, nothing sent.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ConnectAsync("later", Ring, s_timeout, cancellationToken: cancel.Token));
        Assert.Equal(1, hypervisor.GrantCount);
    }

    [Fact]
    public async Task An_async_connect_to_a_service_never_offered_fails_within_its_timeout_and_one_to_a_stopped_hypervisor_too()
    {
        using var scope = new HypervisorScope();
        using var host = ChildProcess.Start("hv-host", scope.Name, scope.Directory);
        Assert.StartsWith("ready ", host.ReadLine(s_timeout));
        using var client = scope.Attach("client");

        // The hypervisor answers before the caller's deadline, saying why.
        var never = await Assert.ThrowsAsync<HypervisorException>(() => client.ConnectAsync("never", Ring, TimeSpan.FromSeconds(1)).WaitAsync(s_timeout));
        Assert.Equal(ControlError.UnknownService, never.Error);
        Assert.Contains("within the connect timeout", never.Message, StringComparison.Ordinal);

        // A hypervisor that does not answer at all (stopped): the caller's own deadline ends the wait.
        StoppedHypervisor.Signal(host.Id, "STOP");
        try
        {
            var silent = await Assert.ThrowsAsync<HypervisorException>(() => client.ConnectAsync("never", Ring, TimeSpan.FromSeconds(1)).WaitAsync(s_timeout));
            Assert.Null(silent.Error);
            Assert.Contains("did not answer the Connect request in time", silent.Message, StringComparison.Ordinal);
        }
        finally
        {
            StoppedHypervisor.Signal(host.Id, "CONT");
        }
        // Its late answer found no request waiting; the partition goes on with the next one.
        var next = await Assert.ThrowsAsync<HypervisorException>(() => client.ConnectAsync("never", Ring, TimeSpan.Zero).WaitAsync(s_timeout));
        Assert.Equal(ControlError.UnknownService, next.Error);
        Assert.True(client.IsHypervisorConnected);
    }

    [Fact]
    public async Task An_async_connect_fails_when_the_hypervisor_dies_while_it_waits()
    {
        using var scope = new HypervisorScope();
        using var host = ChildProcess.Start("hv-host", scope.Name, scope.Directory);
        Assert.StartsWith("ready ", host.ReadLine(s_timeout));
        using var client = scope.Attach("client");
        var waiting = client.ConnectAsync("nobody", Ring, TimeSpan.FromSeconds(60));
        Assert.False(waiting.IsCompleted); // sent (before ConnectAsync returned), waiting for the service
        host.Process.Kill();
        var gone = await Assert.ThrowsAsync<HypervisorException>(() => waiting.WaitAsync(s_timeout));
        Assert.Contains("is gone", gone.Message, StringComparison.Ordinal); // "hung up", or the socket's reset (a kill with our Connect unread)
        Assert.Null(gone.Error);
        Assert.False(client.IsHypervisorConnected);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Dispose_fails_a_waiting_connect_with_ObjectDisposedException_and_the_hypervisor_forgets_it(bool grantOpen, bool synchronous)
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var server = scope.Attach("server");
        using var listener = server.Listen("open");
        var client = scope.Attach("client");
        // A grant still open keeps the control socket open after Dispose (its channel works on): before, a connect
        // waiting then went on waiting, and could be granted to the disposed partition.
        using var open = grantOpen ? client.Connect("open", Ring, s_timeout) : null;
        using var accepted = grantOpen ? listener.Accept(s_timeout) : null;
        var waiting = synchronous
            ? Task.Factory.StartNew(() => client.Connect("later", Ring, TimeSpan.FromSeconds(60)), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            : client.ConnectAsync("later", Ring, TimeSpan.FromSeconds(60));
        WaitFor.Condition(() => hypervisor.PendingConnectCount == 1, "the connect waits for the service", s_timeout);
        client.Dispose();
        var disposed = await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(s_timeout));
        Assert.Contains("was disposed while its request", disposed.Message, StringComparison.Ordinal);
        WaitFor.Condition(() => hypervisor.PendingConnectCount == 0, "the hypervisor forgets the connect", s_timeout);
        Assert.Equal(grantOpen ? 1 : 0, hypervisor.GrantCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.ConnectAsync("later", Ring, s_timeout));
    }

    [Fact]
    public async Task Grants_that_cross_their_connects_cancellation_are_all_released()
    {
        // Not deterministic: each round cancels its connect soon after sending it, and the hypervisor's grant arrives
        // before the request is failed (the caller gets it), after it (nobody waits: the reader releases it), or just as
        // it is failed, as the scheduler decides. Every grant must end up released.
        const int Rounds = 300;
        const string Service = "race";
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var server = scope.Attach("server");
        using var client = scope.Attach("client");
        var listener = server.Listen(Service, backlog: 1024);
        var acceptor = Task.Run(async () =>
        {
            var accepted = 0;
            try
            {
                while (true)
                {
                    (await listener.AcceptAsync()).Dispose();
                    accepted++;
                }
            }
            catch (ObjectDisposedException)
            {
                return accepted;
            }
        });
        int connected = 0, cancelled = 0;
        for (var i = 0; i < Rounds; i++)
        {
            using var cancel = new CancellationTokenSource();
            var connect = client.ConnectAsync(Service, Ring, s_timeout, cancellationToken: cancel.Token);
            // Vary where the cancellation falls: at once, or up to ~500 µs later (a grant takes about 100 µs).
            var spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency * (i % 11) * 50 / 1_000_000;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < spinUntil && !connect.IsCompleted)
            {
                Thread.SpinWait(10);
            }
            cancel.Cancel();
            try
            {
                (await connect.WaitAsync(s_timeout)).Dispose();
                connected++;
            }
            catch (OperationCanceledException)
            {
                cancelled++;
            }
        }
        WaitFor.Condition(() => hypervisor.GrantCount == 0 && HypervisorTestSupport.WindowDescriptors(Service).Count == 0,
            "every grant released and every window closed", s_timeout,
            () => $"{hypervisor.GrantCount} grants, {HypervisorTestSupport.WindowDescriptors(Service).Count} windows open; {connected} connected, {cancelled} cancelled");
        listener.Dispose();
        var acceptedCount = await acceptor.WaitAsync(s_timeout);
        output.WriteLine($"{connected} connected, {cancelled} cancelled, {acceptedCount} accepted by the listener");
        Assert.Equal(Rounds, connected + cancelled);
        Assert.True(acceptedCount >= connected, $"{acceptedCount} accepted, {connected} connected");
        Assert.Equal(0, hypervisor.PendingConnectCount);
    }
}
