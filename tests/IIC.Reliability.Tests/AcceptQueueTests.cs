using System.Globalization;
using IIC.Hardware;
using IIC.Tests;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// A listener's accept queue (HypervisorOptions.MaxQueuedGrantsPerPartition, docs/control-protocol.md §5): connects
/// beyond it wait for a busy listener and are granted as it reads; only a listener that reads nothing for
/// AcceptStallTimeout fails them, naming it; waiting connects that die, time out or lose their listener are answered
/// and forgotten. Real connector processes against a real hypervisor.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class AcceptQueueTests(ITestOutputHelper output)
{
    private const string Service = "aq-svc";
    private static readonly TimeSpan s_long = TimeSpan.FromSeconds(60);

    [Fact]
    public void A_burst_far_beyond_the_accept_queue_against_a_busy_listener_all_connect_with_default_options()
    {
        const int Children = 4, Threads = 64, PerThread = 2; // 256 connects at once, 512 in all, against an accept queue of 64
        const int Total = Children * Threads * PerThread;
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start(); // the defaults: the bound of 64, AcceptStallTimeout 5 s
        using var listener = RawControlClient.Connect(scope.Name, scope.Directory);
        listener.Attach("busy");
        // A raw listener sends no Accepted credit: its listen backlog (flags 0, then the backlog) takes the whole burst,
        // so that what is tested here is the socket's accept queue (BacklogTests covers the backlog).
        listener.Socket.Send(RawControlClient.Message(ControlMessageType.Listen, 2, Service, 0u, (uint)Total));
        Assert.Equal(ControlMessageType.Listening, listener.Receive(s_long)?.Type);
        var children = new List<ChildProcess>();
        try
        {
            // The listener thread reads nothing until connects wait behind its full queue, then reads as fast as it can.
            var incoming = 0;
            var peakWaiting = 0;
            var reader = new Thread(() =>
            {
                if (!WaitFor.TryCondition(() => hypervisor.PendingConnectCount > 0, s_long))
                {
                    return;
                }
                peakWaiting = hypervisor.PendingConnectCount;
                while (incoming < Total && listener.Receive(s_long) is { Type: ControlMessageType.Incoming })
                {
                    incoming++;
                }
            });
            reader.Start();
            for (var i = 0; i < Children; i++)
            {
                children.Add(ChildProcess.Start("aq-connect", scope.Name, scope.Directory, "connector-" + i, Service,
                    Threads.ToString(CultureInfo.InvariantCulture), PerThread.ToString(CultureInfo.InvariantCulture), "120"));
            }
            foreach (var child in children)
            {
                Assert.Equal("attached", child.ReadLine(s_long));
            }
            foreach (var child in children)
            {
                var done = child.ReadLine(TimeSpan.FromSeconds(120));
                Assert.True(done == $"done {Threads * PerThread} 0", $"{done}: {child.ReadLine(s_long)}{Environment.NewLine}{child}");
            }
            Assert.True(reader.Join(s_long), "the listener did not read every grant");
            output.WriteLine($"{incoming} grants read; {peakWaiting} connects waited when the listener began to read");
            Assert.Equal(Total, incoming);
            Assert.InRange(peakWaiting, 1, Total);
            Assert.Equal(0, hypervisor.PendingConnectCount);
        }
        finally
        {
            children.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public void Connects_waiting_for_a_stopped_listener_fail_naming_it_after_the_accept_stall_timeout_and_are_forgotten()
    {
        const int Connects = 128;
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start(new HypervisorOptions { AcceptStallTimeout = TimeSpan.FromSeconds(2), OutboundStallTimeout = TimeSpan.FromSeconds(120) });
        using var honest = new ControlPlaneTests.HonestPair(scope);
        using var frozen = StoppedListener(scope);
        try
        {
            using var connectors = ChildProcess.Start("aq-connect", scope.Name, scope.Directory, "connector", Service,
                Connects.ToString(CultureInfo.InvariantCulture), "1", "60");
            Assert.Equal("attached", connectors.ReadLine(s_long));
            // Their own timeout is 60 s: an answer well before it is the hypervisor's verdict on the listener.
            var done = connectors.ReadLine(TimeSpan.FromSeconds(40)).Split(' ');
            var error = connectors.ReadLine(s_long);
            output.WriteLine($"{string.Join(' ', done)}; {error}");
            var granted = int.Parse(done[1], CultureInfo.InvariantCulture);
            Assert.Equal(Connects, granted + int.Parse(done[2], CultureInfo.InvariantCulture));
            // The accept queue of 64 plus what the kernel buffers (8 KiB of SO_SNDBUF: about 11 grants).
            Assert.InRange(granted, 64, 64 + 16);
            Assert.StartsWith("error NotAccepting ", error, StringComparison.Ordinal);
            Assert.Contains("'frozen'", error, StringComparison.Ordinal);
            Assert.Contains("stopped or hung", error, StringComparison.Ordinal);
            Assert.Equal("end", connectors.ReadLine(s_long));
            Assert.Equal(0, hypervisor.PendingConnectCount);

            // A new connect, however patient, is refused at once: it is not parked behind a stopped listener.
            using var late = scope.Attach("late");
            var refused = Assert.Throws<HypervisorException>(() => late.Connect(Service, DescriptorRing.MinCapacity, s_long));
            Assert.Equal(ControlError.NotAccepting, refused.Error);
            Assert.Contains("stopped or hung", refused.Message, StringComparison.Ordinal);
            Assert.Equal(0, hypervisor.PendingConnectCount);
            honest.AssertServed(5, output);
        }
        finally
        {
            ProcSelf.Signal(frozen.Id, "CONT");
        }
    }

    [Fact]
    public void Connects_waiting_for_a_stopped_listener_that_is_detached_first_fail_naming_it_not_at_their_own_timeout()
    {
        // OutboundStallTimeout shorter than AcceptStallTimeout: the stalled listener is detached before it is declared
        // not accepting. Its waiting connects must still hear NotAccepting naming it, at the detach, not UnknownService
        // at their own 60 s timeout.
        const int Connects = 128;
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start(new HypervisorOptions { AcceptStallTimeout = TimeSpan.FromSeconds(120), OutboundStallTimeout = TimeSpan.FromSeconds(2) });
        using var frozen = StoppedListener(scope);
        try
        {
            using var connectors = ChildProcess.Start("aq-connect", scope.Name, scope.Directory, "connector", Service,
                Connects.ToString(CultureInfo.InvariantCulture), "1", "60");
            Assert.Equal("attached", connectors.ReadLine(s_long));
            var done = connectors.ReadLine(TimeSpan.FromSeconds(40)).Split(' ');
            var errors = new List<string>();
            for (var line = connectors.ReadLine(s_long); line != "end"; line = connectors.ReadLine(s_long))
            {
                errors.Add(line);
            }
            output.WriteLine($"{string.Join(' ', done)}; {string.Join(" | ", errors)}");
            Assert.Equal(Connects, int.Parse(done[1], CultureInfo.InvariantCulture) + int.Parse(done[2], CultureInfo.InvariantCulture));
            Assert.True(int.Parse(done[2], CultureInfo.InvariantCulture) > 0, "the accept queue of 64 took every connect: nothing waited");
            // A thread slow to start on a loaded box may connect after the detach and hear UnknownService (correct
            // then); the ones that waited hear NotAccepting, naming the listener and why it went.
            var notAccepting = Assert.Single(errors, e => e.StartsWith("error NotAccepting ", StringComparison.Ordinal));
            Assert.Contains("'frozen'", notAccepting, StringComparison.Ordinal);
            Assert.Contains("was detached", notAccepting, StringComparison.Ordinal);
            Assert.Contains("OutboundStallTimeout", notAccepting, StringComparison.Ordinal);
            Assert.All(errors, e => Assert.Matches("^error (NotAccepting|UnknownService) ", e));
            Assert.Equal(0, hypervisor.PendingConnectCount);
        }
        finally
        {
            ProcSelf.Signal(frozen.Id, "CONT");
        }
    }

    [Fact]
    public void Waiting_connects_are_forgotten_when_their_connector_dies_times_out_or_cancels_and_outlive_a_listener_that_dies()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start(new HypervisorOptions { AcceptStallTimeout = TimeSpan.FromSeconds(120), OutboundStallTimeout = TimeSpan.FromSeconds(120) });
        using var frozen = StoppedListener(scope);
        using var filler = scope.Attach("filler");
        var granted = new List<GrantedConnection>();
        try
        {
            // Fill its accept queue; a connect without a timeout is then refused at once ("busy"), never parked.
            HypervisorException? busy = null;
            while (busy is null && granted.Count < 1000)
            {
                try
                {
                    granted.Add(filler.Connect(Service, DescriptorRing.MinCapacity, TimeSpan.Zero));
                }
                catch (HypervisorException e)
                {
                    busy = e;
                }
            }
            Assert.NotNull(busy);
            Assert.Equal(ControlError.NotAccepting, busy.Error);
            Assert.Contains("is busy", busy.Message, StringComparison.Ordinal);
            Assert.InRange(granted.Count, 64, 64 + 16);

            // (1) A connector killed while its connects wait: they are forgotten.
            using (var doomed = ChildProcess.Start("aq-connect", scope.Name, scope.Directory, "doomed", Service, "8", "1", "60"))
            {
                Assert.Equal("attached", doomed.ReadLine(s_long));
                WaitFor.Condition(() => hypervisor.PendingConnectCount == 8, "8 connects to wait for the stopped listener", s_long, doomed.ToString);
                doomed.Kill();
            }
            WaitFor.Condition(() => hypervisor.PendingConnectCount == 0, "the dead connector's waiting connects to be forgotten", s_long);

            // (2) A connect whose own timeout passes: the hypervisor answers before it, saying why, and forgets it.
            var late = Assert.Throws<HypervisorException>(() => filler.Connect(Service, DescriptorRing.MinCapacity, TimeSpan.FromSeconds(3)));
            Assert.Equal(ControlError.NotAccepting, late.Error);
            Assert.Contains("within the connect timeout", late.Message, StringComparison.Ordinal);
            Assert.Equal(0, hypervisor.PendingConnectCount);

            // (3) A connect cancelled by its token while it waits: it ends cancelled, and the hypervisor forgets it.
            using (var cancel = new CancellationTokenSource())
            {
                var waiting = filler.ConnectAsync(Service, DescriptorRing.MinCapacity, s_long, cancellationToken: cancel.Token);
                WaitFor.Condition(() => hypervisor.PendingConnectCount == 1, "the connect to wait for the stopped listener", s_long);
                cancel.Cancel();
                Assert.True(((IAsyncResult)waiting).AsyncWaitHandle.WaitOne(s_long), "the cancelled connect did not end");
                Assert.True(waiting.IsCanceled, $"the cancelled connect ended {waiting.Status}: {waiting.Exception}");
                WaitFor.Condition(() => hypervisor.PendingConnectCount == 0, "the cancelled connect to be forgotten", s_long);
            }

            // (4) The listener dies while connects wait: they wait on for the service, and its successor takes them.
            using var patient = ChildProcess.Start("aq-connect", scope.Name, scope.Directory, "patient", Service, "8", "1", "60");
            Assert.Equal("attached", patient.ReadLine(s_long));
            WaitFor.Condition(() => hypervisor.PendingConnectCount == 8, "8 connects to wait for the stopped listener", s_long, patient.ToString);
            var partitions = hypervisor.PartitionCount;
            frozen.Kill();
            WaitFor.Condition(() => hypervisor.PartitionCount == partitions - 1, "the dead listener to be detached", s_long);
            Assert.Equal(8, hypervisor.PendingConnectCount);
            using var successor = scope.Attach("successor");
            using (var listener = successor.Listen(Service))
            {
                for (var i = 0; i < 8; i++)
                {
                    listener.Accept(s_long).Dispose();
                }
            }
            Assert.Equal("done 8 0", patient.ReadLine(s_long));
            Assert.Equal(0, hypervisor.PendingConnectCount);
        }
        finally
        {
            if (!frozen.Process.HasExited)
            {
                ProcSelf.Signal(frozen.Id, "CONT");
            }
            granted.ForEach(g => g.Dispose());
        }
    }

    /// <summary>A child partition named "frozen" that listens on <see cref="Service"/>, then is stopped (SIGSTOP): it never reads again.</summary>
    private static ChildProcess StoppedListener(HypervisorScope scope)
    {
        var child = ChildProcess.Start("cp-idle-listener", scope.Name, scope.Directory, "frozen", Service);
        Assert.Equal("listening", child.ReadLine(s_long));
        ProcSelf.Signal(child.Id, "STOP");
        WaitFor.Condition(() => ProcSelf.State(child.Id) == 'T', "the listener to be stopped");
        return child;
    }
}
