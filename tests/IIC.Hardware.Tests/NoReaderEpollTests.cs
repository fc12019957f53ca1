using IIC.Tests;
using static IIC.Hardware.Tests.StoppedHypervisor;

namespace IIC.Hardware.Tests;

/// <summary>
/// A partition attached without its background reader's epoll (out of descriptors at attach: the eventfd or the epoll
/// could not be made; the tests attach as if so) keeps every promise while its hypervisor is silent (here: a real one
/// in a child process, SIGSTOPped): docs/control-protocol.md §9, "Without a reader epoll the reader waits in poll". Its
/// reader waits for the socket in poll(2) without the read lock, so a caller that reads finds the lock free; before
/// round 21 it waited in a blocking recvmsg holding the lock, and that caller waited until the hypervisor spoke (here:
/// on the watchdog). Timeouts, tokens and Dispose never depended on that lock and hold either way.
/// </summary>
public sealed class NoReaderEpollTests
{
    private static readonly TimeSpan s_timeout = Watchdog;
    private const int Ring = DescriptorRing.MinCapacity;

    [Fact]
    public async Task A_caller_finds_the_read_lock_free_while_the_reader_waits_for_a_stopped_hypervisor_and_every_call_keeps_its_word()
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        using var server = scope.Attach("server");
        using var listener = server.Listen("open");
        using var client = AttachWithoutReaderEpoll(scope, "client");
        using var clientListener = client.Listen("back");
        Task<GrantedConnection> late;
        Signal(host.Id, "STOP");
        try
        {
            // The read lock is free: a caller reading the socket finds nothing and returns (before, it waited behind the
            // background reader's recvmsg until the hypervisor spoke).
            Assert.False(await OffThread(client.ReadWaitingMessage), "a message came from a stopped hypervisor");

            // A synchronous connect ends with its timeout (the socket took the request; nobody answered it).
            var sync = await Assert.ThrowsAsync<HypervisorException>(() => OffThread(() => client.Connect("never", Ring, TimeSpan.FromSeconds(1))));
            Assert.Contains("did not answer the Connect request in time", sync.Message, StringComparison.Ordinal);

            // An asynchronous one returns a pending task, which its token ends.
            using var cancel = new CancellationTokenSource();
            var cancelled = await OffThread(() => client.ConnectAsync("never", Ring, TimeSpan.FromSeconds(60), cancellationToken: cancel.Token));
            Assert.False(cancelled.IsCompleted, $"the connect ended {cancelled.Status} before the hypervisor could read it");
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(s_timeout));

            late = await OffThread(() => client.ConnectAsync("open", Ring, s_timeout));
            Assert.False(late.IsCompleted, $"the connect ended {late.Status} before the hypervisor could read it");
        }
        finally
        {
            Signal(host.Id, "CONT");
        }
        // Once the hypervisor speaks the reader dispatches what it says: the late connect's grant, then an incoming connection.
        using var connection = await late.WaitAsync(s_timeout);
        using var accepted = listener.Accept(s_timeout);
        Assert.Equal(connection.Id, accepted.Id);
        using var back = server.Connect("back", Ring, s_timeout);
        using var incoming = clientListener.Accept(s_timeout);
        Assert.Equal(back.Id, incoming.Id);
        Assert.True(client.IsHypervisorConnected);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dispose_returns_while_the_reader_waits_for_a_stopped_hypervisor_and_the_reader_ends_with_the_socket(bool grantOpen)
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        using var server = scope.Attach("server");
        using var listener = server.Listen("open");
        var client = AttachWithoutReaderEpoll(scope, "client");
        // A grant still open keeps the control socket open after Dispose (the reader waits on); its release closes it.
        var open = grantOpen ? client.Connect("open", Ring, s_timeout) : null;
        using var accepted = grantOpen ? listener.Accept(s_timeout) : null;
        Signal(host.Id, "STOP");
        try
        {
            var waiting = await OffThread(() => client.ConnectAsync("never", Ring, TimeSpan.FromSeconds(60)));
            await OffThread(() =>
            {
                client.Dispose();
                return true;
            });
            var disposed = await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(s_timeout));
            Assert.Contains("was disposed while its request", disposed.Message, StringComparison.Ordinal);
            // Dispose closed the socket and waited for the reader, which read the hang-up ("this partition detached");
            // with a grant open the socket, and the reader's wait, stay.
            Assert.Equal(grantOpen, client.IsHypervisorConnected);
            if (grantOpen)
            {
                await OffThread(() =>
                {
                    open!.Dispose(); // the last grant: its Release, then the control socket closes and the reader ends
                    return true;
                });
                Assert.False(client.IsHypervisorConnected);
            }
        }
        finally
        {
            Signal(host.Id, "CONT");
            open?.Dispose();
        }
    }

    [Fact]
    public void The_sender_thread_runs_from_attach_so_no_send_creates_a_thread_and_it_ends_with_the_socket()
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        var client = AttachWithoutReaderEpoll(scope, "client");
        // Started at attach (round 25; before, by the first send whose message had to wait, which then could fail with
        // OutOfMemoryException when no thread could be created), and asleep while nothing waits.
        Assert.True(client.SenderRunning, "no sender thread after attach");
        using (var listener = client.Listen("svc"))
        {
            Assert.True(client.SenderRunning);
        }
        client.Dispose();
        WaitFor.Condition(() => !client.SenderRunning, "the sender ends once the control socket closes", s_timeout);
    }

    [Fact]
    public void An_attach_that_cannot_start_its_sender_thread_fails_with_ResourceExhausted_naming_the_cause_and_closes_what_it_opened()
    {
        using var scope = new HypervisorScope();
        using var host = StartHost(scope);
        var before = OpenDescriptors();
        Partition.t_senderStartFails = true; // as Thread.Start does when the process is out of memory or threads
        HypervisorException refused;
        try
        {
            refused = Assert.Throws<HypervisorException>(() => AttachWithoutReaderEpoll(scope, "client"));
        }
        finally
        {
            Partition.t_senderStartFails = false;
        }
        Assert.Equal(ControlError.ResourceExhausted, refused.Error);
        Assert.Contains("could not start its sender thread", refused.Message, StringComparison.Ordinal);
        Assert.Contains("ulimit -u", refused.Message, StringComparison.Ordinal);
        // The control socket (and whatever else attach opened) is closed, and nothing was started.
        Assert.Equal(before, OpenDescriptors());
        // The hypervisor serves on: the same name attaches once threads can be had.
        using var again = AttachWithoutReaderEpoll(scope, "client");
        Assert.True(again.SenderRunning);
    }

    private static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>Attaches <paramref name="partition"/> as if out of descriptors for the reader's epoll and the caller's kick.</summary>
    private static Partition AttachWithoutReaderEpoll(HypervisorScope scope, string partition)
    {
        Partition.t_attachWithoutReadingKicks = true;
        try
        {
            return scope.Attach(partition);
        }
        finally
        {
            Partition.t_attachWithoutReadingKicks = false;
        }
    }
}
