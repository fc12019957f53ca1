using System.Globalization;
using IIC.Tests;
using IIC.TestHost;
using Xunit.Abstractions;
using static IIC.Hardware.Tests.StoppedHypervisor;

namespace IIC.Hardware.Tests;

/// <summary>
/// A hypervisor that stops reading its control socket (here: a real one in a child process, SIGSTOPped) holds no
/// partition caller past its word (docs/control-protocol.md §9, "A partition never blocks in sendmsg"): the requests
/// fill the socket's send buffer, then wait in the partition's send queue, where the caller's timeout and token end
/// them (withdrawn, never sent) and Dispose does not wait for them; the background reader sends them, in order, once
/// the hypervisor reads again. Before round 20 the send that found the buffer full blocked in sendmsg, holding the send
/// lock, until the hypervisor read: each test here then fails on its own watchdog (<see cref="StoppedHypervisor.OffThread{T}"/>).
/// </summary>
public sealed class StuckHypervisorSendTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = Watchdog;
    private const int Ring = DescriptorRing.MinCapacity;

    [Fact]
    public async Task Requests_to_a_hypervisor_that_does_not_read_end_with_their_timeout_or_token_and_go_out_once_it_reads()
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        using var server = scope.Attach("server");
        using var listener = server.Listen("open");
        using var client = scope.Attach("client");
        using var flood = new CancellationTokenSource();
        Signal(host.Id, "STOP");
        try
        {
            var waiting = await OffThread(() => FloodUntilQueued(client, flood.Token));
            output.WriteLine($"{waiting.Count} connects filled the control socket's send buffer");
            var queued = client.QueuedControlMessages;

            // A synchronous connect with a timeout ends with it, saying why; its message is withdrawn, never sent.
            var sync = await Assert.ThrowsAsync<HypervisorException>(() => OffThread(() => client.Connect("open", Ring, TimeSpan.FromSeconds(1))));
            Assert.Contains("is not reading its control socket", sync.Message, StringComparison.Ordinal);
            Assert.Contains("the request was never sent", sync.Message, StringComparison.Ordinal);

            // An asynchronous one returns a task at once (the calling thread is not held), which its token ends...
            using var cancel = new CancellationTokenSource();
            var cancelled = await OffThread(() => client.ConnectAsync("open", Ring, TimeSpan.FromSeconds(60), cancellationToken: cancel.Token));
            Assert.False(cancelled.IsCompleted, $"the connect ended {cancelled.Status} before the hypervisor could read it");
            cancel.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(s_timeout));
            Assert.True(cancelled.IsCanceled, $"the cancelled connect ended {cancelled.Status}");

            // ... or its timeout, saying why.
            var timing = await OffThread(() => client.ConnectAsync("open", Ring, TimeSpan.FromSeconds(1)));
            Assert.False(timing.IsCompleted, $"the connect ended {timing.Status} before the hypervisor could read it");
            var timedOut = await Assert.ThrowsAsync<HypervisorException>(() => timing.WaitAsync(s_timeout));
            Assert.Contains("is not reading its control socket", timedOut.Message, StringComparison.Ordinal);

            // The flood's messages still wait, none lost; the partition is still attached.
            Assert.Equal(queued, client.QueuedControlMessages);
            Assert.True(client.IsHypervisorConnected);
            Assert.All(waiting, task => Assert.False(task.IsCompleted));

            // A connect queued behind them goes out, in order, once the hypervisor reads again (the reader sends as the socket drains).
            await LateConnectGoesOutOnceItReads(client, listener, host.Id, queued, waiting.Count);
        }
        finally
        {
            Signal(host.Id, "CONT");
        }
        await FloodEnds(flood);
        Assert.True(client.IsHypervisorConnected);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dispose_returns_while_the_hypervisor_does_not_read_and_fails_the_waiting_requests(bool grantOpen)
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        using var server = scope.Attach("server");
        using var listener = server.Listen("open");
        var client = scope.Attach("client");
        // A grant still open keeps the control socket open after Dispose: then what Dispose sends waits in the queue.
        var open = grantOpen ? client.Connect("open", Ring, s_timeout) : null;
        using var accepted = grantOpen ? listener.Accept(s_timeout) : null;
        using var clientListener = client.Listen("client-service"); // Dispose unlistens it
        Signal(host.Id, "STOP");
        try
        {
            var waiting = await OffThread(() => FloodUntilQueued(client, CancellationToken.None));
            await OffThread(() =>
            {
                client.Dispose();
                return true;
            });
            foreach (var task in waiting)
            {
                var disposed = await Assert.ThrowsAsync<ObjectDisposedException>(() => task.WaitAsync(s_timeout));
                Assert.Contains("was disposed while its request", disposed.Message, StringComparison.Ordinal);
            }
            // Without a grant the control socket closed at once (the hypervisor's detach of the partition says it all);
            // with one, Dispose's notices (Cancel for each connect sent, Unlisten) wait for the hypervisor.
            Assert.Equal(grantOpen, client.QueuedControlMessages > 0);
            if (grantOpen)
            {
                Signal(host.Id, "CONT");
                WaitFor.Condition(() => client.QueuedControlMessages == 0, "the reader sends what Dispose queued once the hypervisor reads", s_timeout);
                await OffThread(() =>
                {
                    open!.Dispose(); // the last grant: its Release, then the control socket closes
                    return true;
                });
            }
        }
        finally
        {
            Signal(host.Id, "CONT");
            open?.Dispose();
        }
        // The hypervisor serves on: a new partition connects.
        using var again = scope.Attach("again");
        using var connection = await again.ConnectAsync("open", Ring, s_timeout);
        using var acceptedAgain = listener.Accept(s_timeout);
        Assert.Equal(connection.Id, acceptedAgain.Id);
    }

    [Fact]
    public async Task Notices_beyond_the_send_queue_limit_declare_the_hypervisor_lost_instead_of_blocking()
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        using var client = scope.Attach("client");
        using var listener = client.Listen("credit");
        Signal(host.Id, "STOP");
        int notices;
        try
        {
            // Accepted is a notice nobody waits for, as Release, Cancel and Unlisten are: each is queued while the socket
            // is full, and the one beyond the limit hangs up (dropping it silently could leave a grant held for good).
            notices = await OffThread(() =>
            {
                var sent = 0;
                while (client.IsHypervisorConnected)
                {
                    Assert.True(sent < 1_000_000, "a million notices and the partition still counts its hypervisor as reading");
                    client.ReportAccepted("credit", 1);
                    sent++;
                }
                return sent;
            });
        }
        finally
        {
            Signal(host.Id, "CONT");
        }
        output.WriteLine($"{notices} notices until the hypervisor was declared lost");
        Assert.Equal(0, client.QueuedControlMessages);
        var gone = Assert.Throws<HypervisorException>(() => client.Connect("credit", Ring, s_timeout));
        Assert.Contains("is gone: it did not read its control socket while " + Partition.MaxQueuedControlMessages.ToString(CultureInfo.InvariantCulture) + " messages", gone.Message, StringComparison.Ordinal);
        Assert.Throws<HypervisorException>(() => listener.Accept(s_timeout)); // the listener failed with it
    }

    /// <summary>
    /// Without the reader's epoll a sender thread waits in poll for the socket's writability: no attempt to send while the
    /// hypervisor is stopped (the 10 ms timer before round 24 tried a hundred times a second: this failed), and what
    /// waits goes out, in order, once it reads.
    /// </summary>
    [Fact]
    public async Task Without_the_readers_epoll_a_sender_sends_what_waits_once_the_socket_drains_and_tries_nothing_while_it_is_full()
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        using var server = scope.Attach("server");
        using var listener = server.Listen("open");
        Partition.t_attachWithoutReadingKicks = true; // as if out of descriptors at attach: the reader waits in poll, for readability alone
        Partition client;
        try
        {
            client = scope.Attach("client");
        }
        finally
        {
            Partition.t_attachWithoutReadingKicks = false;
        }
        using var flood = new CancellationTokenSource();
        using (client)
        {
            Signal(host.Id, "STOP");
            try
            {
                var waiting = await OffThread(() => FloodUntilQueued(client, flood.Token));
                var queued = client.QueuedControlMessages;
                var sync = await Assert.ThrowsAsync<HypervisorException>(() => OffThread(() => client.Connect("open", Ring, TimeSpan.FromSeconds(1))));
                Assert.Contains("is not reading its control socket", sync.Message, StringComparison.Ordinal);
                // A second passed with messages waiting behind a full socket: nothing tried to send them.
                Assert.Equal(0, client.BackgroundFlushes);
                await LateConnectGoesOutOnceItReads(client, listener, host.Id, queued, waiting.Count);
                Assert.NotEqual(0, client.BackgroundFlushes); // the sender sent them
            }
            finally
            {
                Signal(host.Id, "CONT");
            }
            await FloodEnds(flood);
        }
    }

    /// <summary>
    /// With the hypervisor stopped and <paramref name="queued"/> messages waiting after the flood: a connect made now waits
    /// behind them, and once the hypervisor continues it goes out, in order, and is granted; the queue empties.
    /// </summary>
    private static async Task LateConnectGoesOutOnceItReads(Partition client, ServiceListener listener, int hostPid, int queued, int flooded)
    {
        var late = OffThread(() => client.Connect("open", Ring, s_timeout));
        WaitFor.Condition(() => client.QueuedControlMessages == queued + 1, "the late connect waits in the send queue", s_timeout,
            () => $"{client.QueuedControlMessages} messages wait ({queued} after the flood of {flooded}); the late connect is {late.Status}: {late.Exception}");
        Signal(hostPid, "CONT");
        using var connection = await late;
        using var accepted = listener.Accept(s_timeout);
        Assert.Equal(connection.Id, accepted.Id);
        Assert.Equal(0, client.QueuedControlMessages);
    }

    /// <summary>Cancels the flood: every flooded connect ends, cancelled (the hypervisor forgets it) or refused by its pending-connect quota.</summary>
    private async Task FloodEnds(CancellationTokenSource flood)
    {
        await flood.CancelAsync();
        foreach (var task in FloodTasks)
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => task.WaitAsync(s_timeout));
            Assert.True(error is OperationCanceledException || (error is HypervisorException refused && refused.Error == ControlError.LimitExceeded), error.ToString());
        }
    }

    private List<Task<GrantedConnection>> FloodTasks { get; } = [];

    /// <summary>Connects to a service nobody offers until one waits in the partition's send queue (the socket's buffer is full).</summary>
    private List<Task<GrantedConnection>> FloodUntilQueued(Partition client, CancellationToken token)
    {
        while (client.QueuedControlMessages == 0)
        {
            Assert.True(FloodTasks.Count < 100_000, "100000 connects and the control socket still takes them");
            FloodTasks.Add(client.ConnectAsync("never", Ring, TimeSpan.FromSeconds(120), cancellationToken: token));
        }
        return FloodTasks;
    }
}
